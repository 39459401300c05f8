import { useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { api } from '../api/client';
import { ApiError } from '../api/errors';
import type { AliceDocument } from '../api/types';
import { documentStatusLabel } from '../pages/DocumentsPage';

const TERMINAL = new Set(['indexed', 'failed']);
const POLL_MS = 1000;

/** A file still on its way to the server: what its chip shows until the document exists. */
interface Upload {
  key: string;
  filename: string;
  fraction: number;
  error?: string;
  /** Unknown until a new chat's conversation exists. */
  conversationId?: string;
}

// Uploads in flight outlive the chat page that started them: attaching in a new chat creates the
// conversation and navigates to it, which mounts a new page while the file is still uploading.
let inFlight: Upload[] = [];
const listeners = new Set<() => void>();
const uploads = {
  subscribe(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  snapshot: () => inFlight,
  update(change: (u: Upload[]) => Upload[]) {
    inFlight = change(inFlight);
    listeners.forEach((l) => l());
  },
  patch(key: string, fields: Partial<Upload>) {
    uploads.update((u) => u.map((x) => (x.key === key ? { ...x, ...fields } : x)));
  },
};

export interface AttachmentsState {
  uploads: Upload[];
  docs: AliceDocument[];
  attach: (files: File[]) => void;
  remove: (doc: AliceDocument) => void;
  addToLibrary: (doc: AliceDocument) => void;
  dismiss: (key: string) => void;
  error: string | null;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The files attached in a conversation's composer: uploaded with its id, polled until indexed.
 * `ensureConversation` creates the conversation when the first file is attached to a new chat. */
export function useAttachments(conversationId: string | undefined, ensureConversation: () => Promise<string>): AttachmentsState {
  const all = useSyncExternalStore(uploads.subscribe, uploads.snapshot);
  const mine = all.filter((u) => u.conversationId === undefined || u.conversationId === conversationId);
  const [docs, setDocs] = useState<AliceDocument[]>([]);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    if (!conversationId) return;
    try {
      setDocs(await api.listAttachments(conversationId));
    } catch (e) {
      // A conversation that is not there (deleted, or not this user's): the chat says so already.
      if (!(e instanceof ApiError && e.status === 404)) setError(message(e));
    }
  }, [conversationId]);

  const busy = docs.some((d) => !TERMINAL.has(d.status));
  useEffect(() => {
    if (!busy) return;
    const t = setInterval(() => void refresh(), POLL_MS);
    return () => clearInterval(t);
  }, [busy, refresh]);

  const attachOne = async (file: File) => {
    const key = `${file.name}:${Date.now()}:${Math.random()}`;
    uploads.update((u) => [...u, { key, filename: file.name, fraction: 0, conversationId }]);
    try {
      const id = await ensureConversation();
      uploads.patch(key, { conversationId: id });
      await api.uploadDocument(file, (fraction) => uploads.patch(key, { fraction }), id);
      uploads.update((u) => u.filter((x) => x.key !== key));
    } catch (e) {
      uploads.patch(key, { error: message(e) });
    }
  };

  // Asked on mount, and again when an upload finishes (its document is then in the listing).
  const pendingCount = mine.filter((u) => !u.error).length;
  useEffect(() => {
    void refresh();
  }, [pendingCount, refresh]);

  return {
    uploads: mine,
    docs,
    error,
    attach: (files) => files.forEach((f) => void attachOne(f)),
    remove: (doc) => {
      api.deleteDocument(doc.id).then(
        () => setDocs((d) => d.filter((x) => x.id !== doc.id)),
        (e: unknown) => setError(message(e)),
      );
    },
    addToLibrary: (doc) => {
      api.addToLibrary(doc.id).then(
        () => setDocs((d) => d.filter((x) => x.id !== doc.id)),
        (e: unknown) => setError(message(e)),
      );
    },
    dismiss: (key) => uploads.update((u) => u.filter((x) => x.key !== key)),
  };
}

/** An indexed attachment is "ready": the next answer in this conversation can cite it. */
export function attachmentLabel(doc: Pick<AliceDocument, 'status' | 'position'>): string {
  return doc.status === 'indexed' ? 'ready' : documentStatusLabel(doc);
}

export function AttachmentChips({ state }: { state: AttachmentsState }) {
  const { uploads, docs, error } = state;
  if (!uploads.length && !docs.length && !error) return null;
  return (
    <>
      {(uploads.length > 0 || docs.length > 0) && (
        <ul className="attachments" aria-label="Attachments">
          {uploads.map((u) => (
            <li key={u.key} className="attachment" aria-label={u.filename}>
              <span className="attachment-name">{u.filename}</span>
              {u.error ? (
                <>
                  <span className="form-error small" role="alert">{u.error}</span>
                  <button type="button" className="btn btn-sm btn-ghost" aria-label={`Dismiss ${u.filename}`} onClick={() => state.dismiss(u.key)}>
                    <span aria-hidden="true">×</span>
                  </button>
                </>
              ) : (
                <span className="status status-queued" role="status">uploading {Math.round(u.fraction * 100)}%</span>
              )}
            </li>
          ))}
          {docs.map((doc) => {
            const progress = doc.status === 'indexed' ? 100 : Math.max(0, Math.min(100, doc.progress ?? 0));
            return (
              <li key={doc.id} className="attachment" aria-label={doc.filename} data-document-id={doc.id}>
                <span className="attachment-name">{doc.filename}</span>
                <span className={`status status-${doc.status}`} role="status">{attachmentLabel(doc)}</span>
                {!TERMINAL.has(doc.status) && (
                  <span className="bar" role="progressbar" aria-label={`Indexing ${doc.filename}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={progress}>
                    <span className="bar-fill" style={{ width: `${Math.max(progress, 3)}%` }} />
                  </span>
                )}
                {doc.status === 'failed' && <span className="form-error small">{doc.error || 'Indexing failed.'}</span>}
                {doc.status === 'indexed' && (
                  <button type="button" className="btn btn-sm btn-ghost" aria-label={`Add to library: ${doc.filename}`} onClick={() => state.addToLibrary(doc)}>
                    Add to library
                  </button>
                )}
                <button type="button" className="btn btn-sm btn-ghost" aria-label={`Remove ${doc.filename}`} title="Remove" onClick={() => state.remove(doc)}>
                  <span aria-hidden="true">×</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {error && (
        <p className="form-error small attachments-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}
