import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useAutosize } from '../lib/autosize';

/**
 * A user message being edited, in place of its text. Enter (or Submit edit) sends it as a new version,
 * Shift+Enter starts a new line, Escape (or Cancel) leaves the message as it was. `onSend` absent:
 * it cannot be sent now (a reply is in flight); the text stays until it can.
 */
export function MessageEditor({ initial, onSend, onCancel }: { initial: string; onSend?: (text: string) => Promise<void>; onCancel: () => void }) {
  const [text, setText] = useState(initial);
  const [sending, setSending] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    const el = area.current;
    el?.focus();
    el?.setSelectionRange(el.value.length, el.value.length);
  }, []);
  useAutosize(area, text, 320);

  const canSend = Boolean(onSend) && !sending && text.trim() !== '';
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!canSend || !onSend) return;
    setSending(true);
    try {
      await onSend(text.trim());
    } catch {
      // the conversation shows the error; the text stays so nothing is lost
    } finally {
      setSending(false);
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.nativeEvent.isComposing) return;
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      void submit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      onCancel();
    }
  };

  return (
    <form className="message-editor" onSubmit={submit}>
      <textarea
        ref={area}
        aria-label="Edited text"
        title="Enter sends, Shift+Enter starts a new line, Escape cancels"
        rows={2}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <div className="message-editor-actions">
        <button type="button" className="btn btn-ghost btn-sm" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary btn-sm" disabled={!canSend}>
          Submit edit
        </button>
      </div>
    </form>
  );
}
