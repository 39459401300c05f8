import { useState, type ChangeEvent } from 'react';
import { api } from '../api/client';
import { ApiError, readableError } from '../api/errors';
import type { Conversation, ImportResult } from '../api/types';
import { ExportMenu } from '../components/ExportMenu';
import { UploadIcon } from '../components/icons';
import { readJsonFile } from '../lib/files';
import { Link } from '../lib/router';
import { chatStore } from '../state/chatStore';

/** Export every conversation (Markdown to read, JSON to keep), and import a JSON export back. */
export function TransferPage() {
  const [importing, setImporting] = useState(false);
  const [imported, setImported] = useState<ImportResult | null>(null);
  const [error, setError] = useState<string | null>(null);

  const importFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = ''; // choosing the same file again is allowed: the server adds nothing twice
    if (!file) return;
    setImporting(true);
    setImported(null);
    setError(null);
    try {
      setImported(await api.importConversations(await readJsonFile(file)));
      await Promise.all([chatStore.loadConversations(), chatStore.loadArchived()]);
    } catch (err) {
      // A refusal stores nothing; a failure upstream may come after some conversations were stored.
      const unfinished = err instanceof ApiError && err.status >= 500;
      setError(
        unfinished
          ? `The import did not finish: ${readableError(err)} Import the same file again: nothing is added twice.`
          : `Nothing was imported: ${readableError(err)}`,
      );
    } finally {
      setImporting(false);
    }
  };

  return (
    <section className="page" aria-labelledby="transfer-title">
      <header className="page-head">
        <h1 id="transfer-title" className="page-title">Export and import</h1>
      </header>
      <div className="page-body">
        <h2 className="section-title">Export all conversations</h2>
        <p className="muted">Every conversation, archived ones too: Markdown to read or share, JSON to import into Alice again.</p>
        <ExportMenu what="all conversations" download={api.exportAll} />

        <h2 className="section-title">Import conversations</h2>
        <p className="muted">A JSON file from Alice's export. Each conversation in it is added as a new one of yours, once: importing the same file again adds nothing twice. If anything in the file is wrong, nothing is added.</p>
        <label className={`btn btn-primary file-button ${importing ? 'disabled' : ''}`}>
          <UploadIcon width={16} height={16} /> {importing ? 'Importing…' : 'Import a JSON file'}
          <input type="file" accept="application/json,.json" className="visually-hidden" disabled={importing} onChange={(e) => void importFile(e)} />
        </label>
        {error && <p className="form-error" role="alert">{error}</p>}
        {imported && (
          <div className="card" role="status" aria-label="Import result">
            <p className="card-title">Imported {conversations(imported.conversations.length)}.</p>
            <ConversationLinks items={imported.conversations} />
            {!!imported.already_present?.length && (
              <>
                <p>Already imported before, so not added again: {conversations(imported.already_present.length)}.</p>
                <ConversationLinks items={imported.already_present} />
              </>
            )}
          </div>
        )}
      </div>
    </section>
  );
}

const conversations = (n: number) => `${n} ${n === 1 ? 'conversation' : 'conversations'}`;

function ConversationLinks({ items }: { items: Conversation[] }) {
  if (!items.length) return null;
  return (
    <ul className="imported-list">
      {items.map((c) => (
        <li key={c.id}>
          <Link to={`/c/${c.id}`}>{c.title || 'Untitled'}</Link>
        </li>
      ))}
    </ul>
  );
}
