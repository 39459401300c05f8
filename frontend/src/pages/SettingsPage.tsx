import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { ApiKey, CreatedApiKey } from '../api/types';
import { useAuth } from '../auth';
import { ChatDefaults } from '../components/ChatDefaults';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DeleteAccountDialog } from '../components/DeleteAccountDialog';
import { KeyIcon, TrashIcon } from '../components/icons';

function formatDate(iso?: string | null) {
  return iso ? new Date(iso).toLocaleString() : 'never';
}

/** Theme and chat defaults; personal API keys for the OpenAI-compatible API: create (shown once),
 * list by prefix, revoke; and deleting the account with all its data. */
export function SettingsPage() {
  const { state, deleteAccount, updateSettings } = useAuth();
  const [deleting, setDeleting] = useState(false);
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.listApiKeys().then(setKeys, (e) => setError(readableError(e)));
  }, []);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const result = await api.createApiKey(name.trim());
      setCreated(result);
      setKeys((k) => [...(k ?? []), result.key]);
      setName('');
    } catch (err) {
      setError(readableError(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (key: ApiKey) => {
    setRevoking(null);
    try {
      await api.revokeApiKey(key.id);
      setKeys((k) => (k ?? []).filter((x) => x.id !== key.id));
      if (created?.key.id === key.id) setCreated(null);
    } catch (err) {
      setError(readableError(err));
    }
  };

  return (
    <section className="page" aria-labelledby="settings-title">
      <header className="page-head">
        <h1 id="settings-title" className="page-title">Settings</h1>
      </header>
      <div className="page-body">
        {state.status === 'signed-in' && (
          <>
            <h2 className="section-title">Appearance and chat defaults</h2>
            <ChatDefaults user={state.user} onChange={updateSettings} />
          </>
        )}
        <h2 className="section-title">API keys</h2>
        <p className="muted">
          Personal keys let the OpenAI SDKs and OpenAI-compatible chat apps use Alice at <code>{`${window.location.origin}/v1`}</code>.
          A key acts as you, with your limits; revoke it when you no longer need it.
        </p>
        <form className="key-form" onSubmit={create}>
          <input aria-label="Key name" placeholder="Name, e.g. laptop" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          <button type="submit" className="btn btn-primary" disabled={busy || !name.trim()}>
            Create key
          </button>
        </form>
        {error && <p className="form-error" role="alert">{error}</p>}
        {created && (
          <div className="card" role="status" aria-label="New API key">
            <p className="card-title">Copy your new key now: it will not be shown again.</p>
            <code className="key-secret" data-testid="new-key">{created.secret}</code>
            <div className="key-actions">
              <button type="button" className="btn btn-sm" onClick={() => void navigator.clipboard?.writeText(created.secret)}>
                Copy
              </button>
              <button type="button" className="btn btn-ghost btn-sm" onClick={() => setCreated(null)}>
                Done
              </button>
            </div>
          </div>
        )}
        {keys === null && !error && <p className="muted">Loading keys…</p>}
        {keys && keys.length === 0 && <p className="muted center">No API keys yet.</p>}
        {keys && keys.length > 0 && (
          <ul className="doc-list" aria-label="Your API keys">
            {keys.map((key) => (
              <li key={key.id} className="doc" aria-label={key.name} data-key-id={key.id}>
                <div className="doc-icon" aria-hidden="true"><KeyIcon /></div>
                <div className="doc-main">
                  <div className="doc-name">{key.name}</div>
                  <div className="doc-meta">
                    <code>{key.prefix}…</code>
                    <span>created {formatDate(key.created_at)}</span>
                    <span>last used {formatDate(key.last_used_at)}</span>
                  </div>
                </div>
                <button type="button" className="btn btn-icon btn-ghost" aria-label={`Revoke ${key.name}`} title="Revoke" onClick={() => setRevoking(key)}>
                  <TrashIcon />
                </button>
              </li>
            ))}
          </ul>
        )}
        <h2 className="section-title danger-zone">Delete my data</h2>
        <p className="muted">
          Deletes your account with everything of it: conversations, feedback, documents, memory, API keys and usage
          statistics. This cannot be undone.
        </p>
        <div>
          <button type="button" className="btn btn-danger" onClick={() => setDeleting(true)}>
            Delete my account…
          </button>
        </div>
      </div>
      {revoking && (
        <ConfirmDialog
          title="Revoke this key?"
          body={`Programs using “${revoking.name}” will stop working within seconds. This cannot be undone.`}
          confirmLabel="Revoke"
          onConfirm={() => void revoke(revoking)}
          onCancel={() => setRevoking(null)}
        />
      )}
      {deleting && <DeleteAccountDialog onDelete={deleteAccount} onCancel={() => setDeleting(false)} />}
    </section>
  );
}
