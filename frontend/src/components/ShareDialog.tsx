import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { Share } from '../api/types';
import { COPIED_MS, copyText } from '../lib/clipboard';
import { useModal } from '../lib/modal';
import { CopyIcon } from './icons';
import { useAction } from '../lib/action';

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Links to read-only snapshots of one conversation: make one and copy it, or revoke one. Only
 * the token's hash is stored, so a link can be copied only when it is made. */
export function ShareDialog({ conversationId, onClose }: { conversationId: string; onClose: () => void }) {
  const ref = useModal();
  const [shares, setShares] = useState<Share[] | null>(null);
  const [link, setLink] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const { busy, error, setError, run } = useAction();

  const reload = async () => setShares(await api.listShares(conversationId));

  useEffect(() => {
    api.listShares(conversationId).then(setShares, (e) => setError(readableError(e)));
  }, [conversationId]);
  useEffect(() => {
    if (!copied) return;
    const t = setTimeout(() => setCopied(false), COPIED_MS);
    return () => clearTimeout(t);
  }, [copied]);

  const create = () =>
    run(async () => {
      const created = await api.createShare(conversationId);
      setLink(new URL(created.url_path, location.origin).href);
      setCopied(false);
      await reload();
    });
  const copy = async () => {
    if (!link) return;
    await copyText(link);
    setCopied(true);
  };
  const revoke = (id: string) =>
    run(async () => {
      await api.revokeShare(id);
      await reload();
    });

  return (
    <dialog ref={ref} className="dialog share-dialog" aria-labelledby="share-title" onCancel={(e) => (e.preventDefault(), onClose())}>
      <h2 id="share-title">Share this conversation</h2>
      <p className="muted small">
        Anyone with a link can read the conversation as it is now, without an account; later messages are not shown. Revoke a link to stop it working.
      </p>
      {link ? (
        <div className="share-link">
          <label htmlFor="share-link-url" className="small">Your new link (copy it now: it is shown only once)</label>
          <div className="key-form">
            <input id="share-link-url" readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
            <button type="button" className="btn btn-sm" onClick={() => void copy()}>
              <CopyIcon width={14} height={14} /> {copied ? 'Copied' : 'Copy link'}
            </button>
          </div>
          <span className="visually-hidden" role="status">{copied ? 'Link copied to the clipboard' : ''}</span>
        </div>
      ) : null}
      <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void create()}>
        {busy ? 'Working…' : 'Create link'}
      </button>
      {error && <p className="form-error small" role="alert">{error}</p>}
      <h3 className="card-subtitle">Links</h3>
      {shares === null ? (
        <p className="muted small">Loading…</p>
      ) : shares.length === 0 ? (
        <p className="muted small">No links yet.</p>
      ) : (
        <ul className="share-list" aria-label="Links">
          {shares.map((s) => (
            <li key={s.id}>
              <span className="small">
                {when(s.created_at)} · {s.message_count} {s.message_count === 1 ? 'message' : 'messages'}
              </span>
              <button type="button" className="btn btn-sm btn-danger" disabled={busy} aria-label={`Revoke the link of ${when(s.created_at)}`} onClick={() => void revoke(s.id)}>
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="dialog-actions">
        <button type="button" className="btn btn-secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}
