import { useCallback, useEffect, useRef, useState, type DragEvent } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { AliceDocument } from '../api/types';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DocIcon, TrashIcon, UploadIcon } from '../components/icons';

interface Upload {
  key: string;
  name: string;
  fraction: number;
  error?: string;
}

const TERMINAL = new Set(['indexed', 'failed']);

function formatSize(bytes?: number | null) {
  if (bytes == null) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The status as shown: a queued document says its place in line once it has one. */
export function documentStatusLabel(doc: Pick<AliceDocument, 'status' | 'position'>): string {
  if (doc.status === 'queued' && doc.position) return doc.position === 1 ? 'queued — next in line' : `queued — ${doc.position} in line`;
  return doc.status;
}

export function DocumentRow({ doc, focused, onDelete }: { doc: AliceDocument; focused: boolean; onDelete: () => void }) {
  const progress = doc.status === 'indexed' ? 100 : Math.max(0, Math.min(100, doc.progress ?? 0));
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (focused) ref.current?.scrollIntoView({ block: 'center' });
  }, [focused]);
  return (
    <li ref={ref} className={`doc ${focused ? 'focused' : ''}`} data-document-id={doc.id} aria-label={doc.filename}>
      <div className="doc-icon" aria-hidden="true"><DocIcon /></div>
      <div className="doc-main">
        <div className="doc-name">{doc.filename}</div>
        <div className="doc-meta">
          <span className={`status status-${doc.status}`} role="status">{documentStatusLabel(doc)}</span>
          {formatSize(doc.size) && <span>{formatSize(doc.size)}</span>}
          {doc.chunks != null && doc.status === 'indexed' && <span>{doc.chunks} {doc.chunks === 1 ? 'chunk' : 'chunks'}</span>}
        </div>
        {!TERMINAL.has(doc.status) && (
          <div className="bar" role="progressbar" aria-label={`Indexing ${doc.filename}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={progress}>
            <div className="bar-fill" style={{ width: `${Math.max(progress, 3)}%` }} />
          </div>
        )}
        {doc.status === 'failed' && <p className="form-error small">{doc.error || 'Indexing failed.'}</p>}
      </div>
      <button type="button" className="btn btn-icon btn-ghost" aria-label={`Delete ${doc.filename}`} title="Delete" onClick={onDelete}>
        <TrashIcon />
      </button>
    </li>
  );
}

export function DocumentsPage({ focus }: { focus?: string }) {
  const [docs, setDocs] = useState<AliceDocument[] | null>(null);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [deleting, setDeleting] = useState<AliceDocument | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const refresh = useCallback(async () => {
    try {
      setDocs(await api.listDocuments());
      setError(null);
    } catch (err) {
      setError(readableError(err));
    }
  }, []);

  useEffect(() => void refresh(), [refresh]);

  // Poll while anything is still being indexed.
  const busy = (docs ?? []).some((d) => !TERMINAL.has(d.status));
  useEffect(() => {
    if (!busy) return;
    const t = setInterval(() => void refresh(), 1000);
    return () => clearInterval(t);
  }, [busy, refresh]);

  const upload = async (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      const key = `${file.name}-${Date.now()}-${Math.random()}`;
      setUploads((u) => [...u, { key, name: file.name, fraction: 0 }]);
      try {
        const doc = await api.uploadDocument(file, (fraction) =>
          setUploads((u) => u.map((x) => (x.key === key ? { ...x, fraction } : x))),
        );
        setUploads((u) => u.filter((x) => x.key !== key));
        setDocs((d) => [{ ...doc, filename: doc.filename ?? file.name, status: doc.status ?? 'queued' }, ...(d ?? []).filter((x) => x.id !== doc.id)]);
        void refresh();
      } catch (err) {
        setUploads((u) => u.map((x) => (x.key === key ? { ...x, error: readableError(err) } : x)));
      }
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    if (e.dataTransfer.files.length) void upload(e.dataTransfer.files);
  };

  const remove = async (doc: AliceDocument) => {
    setDeleting(null);
    try {
      await api.deleteDocument(doc.id);
      setDocs((d) => (d ?? []).filter((x) => x.id !== doc.id));
    } catch (err) {
      setError(readableError(err));
    }
  };

  return (
    <section className="page" aria-labelledby="docs-title">
      <header className="page-head">
        <h1 id="docs-title" className="page-title">Documents</h1>
      </header>
      <div className="page-body">
        <p className="muted">Alice reads the documents you upload and cites them in her answers. Only you can see them.</p>
        <div
          className={`dropzone ${dragging ? 'dragging' : ''}`}
          onDragOver={(e) => (e.preventDefault(), setDragging(true))}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <UploadIcon width={28} height={28} />
          <p>
            <strong>Drop files here</strong> or{' '}
            <button type="button" className="link-button" onClick={() => input.current?.click()}>
              choose files
            </button>
          </p>
          <p className="muted small">Text, Markdown, HTML or PDF</p>
          <input
            ref={input}
            className="visually-hidden"
            type="file"
            multiple
            aria-label="Upload document"
            accept=".txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf"
            onChange={(e) => {
              if (e.target.files?.length) void upload(e.target.files);
              e.target.value = '';
            }}
          />
        </div>
        {error && <p className="form-error" role="alert">{error}</p>}
        {uploads.length > 0 && (
          <ul className="doc-list" aria-label="Uploads">
            {uploads.map((u) => (
              <li key={u.key} className="doc">
                <div className="doc-icon" aria-hidden="true"><UploadIcon /></div>
                <div className="doc-main">
                  <div className="doc-name">{u.name}</div>
                  {u.error ? (
                    <p className="form-error small" role="alert">{u.error}</p>
                  ) : (
                    <div className="bar" role="progressbar" aria-label={`Uploading ${u.name}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(u.fraction * 100)}>
                      <div className="bar-fill" style={{ width: `${Math.max(u.fraction * 100, 3)}%` }} />
                    </div>
                  )}
                </div>
                {u.error && (
                  <button type="button" className="btn btn-ghost btn-sm" onClick={() => setUploads((x) => x.filter((y) => y.key !== u.key))}>
                    Dismiss
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
        {docs === null && !error && <p className="muted">Loading documents…</p>}
        {docs && docs.length === 0 && <p className="muted center">No documents yet.</p>}
        {docs && docs.length > 0 && (
          <ul className="doc-list" aria-label="Your documents">
            {docs.map((doc) => (
              <DocumentRow key={doc.id} doc={doc} focused={doc.id === focus} onDelete={() => setDeleting(doc)} />
            ))}
          </ul>
        )}
      </div>
      {deleting && (
        <ConfirmDialog
          title="Delete this document?"
          body={`“${deleting.filename}” will be removed and Alice will no longer cite it.`}
          confirmLabel="Delete"
          onConfirm={() => void remove(deleting)}
          onCancel={() => setDeleting(null)}
        />
      )}
    </section>
  );
}
