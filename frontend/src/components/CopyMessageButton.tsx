import { useEffect, useState } from 'react';
import { COPIED_MS, copyText } from '../lib/clipboard';
import { CopyIcon } from './icons';

/** Copies a whole message as its raw Markdown; says "Copied" for a moment, also to screen readers.
 * Its name is its text, so what a voice-control user reads on it is what they can say. */
export function CopyMessageButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const t = setTimeout(() => setCopied(false), COPIED_MS);
    return () => clearTimeout(t);
  }, [copied]);
  const copy = async () => {
    await copyText(text);
    setCopied(true);
  };
  return (
    <>
      <button type="button" className="btn btn-ghost btn-sm" onClick={() => void copy()}>
        <CopyIcon width={14} height={14} /> {copied ? 'Copied' : 'Copy text'}
      </button>
      <span className="visually-hidden" role="status">{copied ? 'Copied to the clipboard' : ''}</span>
    </>
  );
}
