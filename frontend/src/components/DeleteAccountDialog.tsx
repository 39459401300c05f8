import { useState, type FormEvent } from 'react';
import { readableError } from '../api/errors';
import { useModal } from '../lib/modal';

/** Asks for the password before the account and everything of it is deleted for good. */
export function DeleteAccountDialog({
  onDelete,
  onCancel,
}: {
  /** Deletes the account; a thrown error (a wrong password) is shown in the dialog. */
  onDelete: (password: string) => Promise<void>;
  onCancel: () => void;
}) {
  const ref = useModal();
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onDelete(password);
    } catch (err) {
      setError(readableError(err));
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="delete-account-title" onCancel={(e) => (e.preventDefault(), onCancel())}>
      <form onSubmit={submit}>
        <h2 id="delete-account-title">Delete your account and all your data?</h2>
        <p>
          This deletes your conversations and replies, your feedback, your documents, what Alice remembers of your
          conversations, your API keys and your usage statistics. You are signed out everywhere at once.
        </p>
        <p><strong>This cannot be undone.</strong></p>
        <label className="field">
          Your password
          <input type="password" autoComplete="current-password" required autoFocus value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="form-error" role="alert">{error}</p>}
        <div className="dialog-actions">
          <button type="button" className="btn btn-secondary" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="btn btn-danger" disabled={busy || !password}>
            {busy ? 'Deleting…' : 'Delete everything'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
