import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { keyLabel } from '../lib/shortcuts';
import { SendIcon, StopIcon } from './icons';

export function Composer({
  streaming,
  canSend,
  onSend,
  onStop,
  autoFocusKey,
  tools,
}: {
  /** A reply is streaming and has not been stopped: show Stop, block sending. */
  streaming: boolean;
  canSend: boolean;
  onSend: (text: string) => Promise<void>;
  onStop: () => void;
  autoFocusKey?: string;
  /** Controls shown above the message field (the model picker). */
  tools?: ReactNode;
}) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => area.current?.focus(), [autoFocusKey]);
  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 220)}px`;
  }, [text]);

  const disabled = streaming || sending || !canSend;
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
    <form className="composer" onSubmit={submit}>
      {tools && <div className="composer-tools">{tools}</div>}
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
