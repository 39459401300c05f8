import { useEffect, useRef, useState, type ClipboardEvent, type DragEvent, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { useAutosize } from '../lib/autosize';
import { keyLabel } from '../lib/shortcuts';
import { SendIcon, StopIcon, UploadIcon } from './icons';

const ACCEPTED = '.txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf';

export function Composer({
  streaming,
  canSend,
  onSend,
  onStop,
  autoFocusKey,
  tools,
  attachments,
  onFiles,
}: {
  /** A reply is streaming and has not been stopped: show Stop, block sending. */
  streaming: boolean;
  canSend: boolean;
  onSend: (text: string) => Promise<void>;
  onStop: () => void;
  autoFocusKey?: string;
  /** Controls shown above the message field (the model picker). */
  tools?: ReactNode;
  /** The attachment chips, shown above the message field. */
  attachments?: ReactNode;
  /** Files attached with the button, dropped on the composer or pasted into the message field. */
  onFiles?: (files: File[]) => void;
}) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => area.current?.focus(), [autoFocusKey]);
  useAutosize(area, text, 220);

  const disabled = streaming || sending || !canSend;
  const onDrop = (e: DragEvent<HTMLFormElement>) => {
    if (!onFiles || !e.dataTransfer.files.length) return;
    e.preventDefault();
    onFiles([...e.dataTransfer.files]);
  };
  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    if (!onFiles || !e.clipboardData.files.length) return;
    e.preventDefault();
    onFiles([...e.clipboardData.files]);
  };
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    const content = text.trim();
    if (!content || disabled) return;
    setSending(true);
    try {
      await onSend(content);
      setText('');
    } catch {
      // the conversation shows the error; keep the text so nothing is lost
    } finally {
      setSending(false);
      area.current?.focus();
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  };

  return (
    <form className="composer" onSubmit={submit} onDragOver={(e) => onFiles && e.preventDefault()} onDrop={onDrop}>
      {tools && <div className="composer-tools">{tools}</div>}
      {attachments}
      {onFiles && (
        <label className="btn btn-icon btn-ghost attach-button" title="Attach a file (PDF, HTML, Markdown or text)">
          <UploadIcon />
          <input
            type="file"
            multiple
            accept={ACCEPTED}
            className="visually-hidden"
            aria-label="Attach a file"
            onChange={(e) => {
              const files = [...(e.target.files ?? [])];
              e.target.value = '';
              if (files.length) onFiles(files);
            }}
          />
        </label>
      )}
      <textarea
        ref={area}
        aria-label="Message"
        placeholder={streaming ? 'Alice is replying…' : 'Message Alice…'}
        title={`Enter sends, Shift+Enter starts a new line; ${keyLabel('Mod')}+/ lists the shortcuts`}
        rows={1}
        value={text}
        disabled={streaming}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        onPaste={onPaste}
      />
      {streaming ? (
        <button type="button" className="btn btn-icon btn-danger" onClick={onStop} aria-label="Stop" title="Stop">
          <StopIcon />
        </button>
      ) : (
        <button type="submit" className="btn btn-icon btn-primary" disabled={disabled || !text.trim()} aria-label="Send" title="Send">
          <SendIcon />
        </button>
      )}
    </form>
  );
}
