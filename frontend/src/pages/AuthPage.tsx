import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { AuthConfig } from '../api/types';
import { useAuth } from '../auth';

export function AuthPage({ notice }: { notice?: string }) {
  const { signIn, signUp } = useAuth();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [busy, setBusy] = useState<'in' | 'up' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [config, setConfig] = useState<AuthConfig | null>(null);

  useEffect(() => {
    let cancelled = false;
    api
      .authConfig()
      .then((c) => !cancelled && setConfig(c))
      .catch(() => undefined); // the password form still works
    return () => {
      cancelled = true;
    };
  }, []);
  const passwordLogin = config?.password_login ?? true;
  const passwordSignup = config?.password_signup ?? true;

  // Both buttons submit the same form; which one was pressed decides the action.
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const submitter = (e.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const mode = submitter?.value === 'up' || !passwordLogin ? 'up' : 'in';
    setBusy(mode);
    setError(null);
    try {
      if (mode === 'up') await signUp(email.trim(), password, displayName.trim() || undefined);
      else await signIn(email.trim(), password);
    } catch (err) {
      setError(readableError(err));
      setBusy(null);
    }
  };

  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div className="brand brand-lg">
          <span className="brand-mark" aria-hidden="true">A</span>
          <span>Alice</span>
        </div>
        <h1 id="auth-title">Welcome</h1>
        <p className="muted">Your self-hosted assistant. Sign in, or create an account in seconds.</p>
        {notice && !error && <p className="notice" role="status">{notice}</p>}
        {error && <p className="form-error" role="alert">{error}</p>}
        {config?.sso && (
          <a className="btn btn-primary sso-button" href="/api/auth/oidc/login">
            Sign in with {config.sso.name}
          </a>
        )}
        {(passwordLogin || passwordSignup) && (
        <>
        <label className="field">
          <span>Email</span>
          <input type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="field">
          <span>Password</span>
          <input type="password" name="password" autoComplete="current-password" required minLength={1} value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label className="field">
          <span>Display name</span>
          <input type="text" name="display_name" autoComplete="nickname" aria-describedby="display-name-hint" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        </label>
        <small id="display-name-hint" className="muted hint">Optional, used when you sign up.</small>
        <div className="auth-actions">
          {passwordLogin && (
            <button type="submit" value="in" className="btn btn-primary" disabled={busy !== null}>
              {busy === 'in' ? 'Signing in…' : 'Sign in'}
            </button>
          )}
          {passwordSignup && (
            <button type="submit" value="up" className="btn btn-secondary" disabled={busy !== null}>
              {busy === 'up' ? 'Creating account…' : 'Sign up'}
            </button>
          )}
        </div>
        </>
        )}
      </form>
    </main>
  );
}
