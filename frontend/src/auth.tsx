import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api } from './api/client';
import type { User, UserSettingsChanges } from './api/types';
import { chatStore } from './state/chatStore';

export type AuthState =
  | { status: 'loading' }
  | { status: 'signed-out'; notice?: string }
  | { status: 'signed-in'; user: User };

interface AuthApi {
  state: AuthState;
  signIn(email: string, password: string): Promise<void>;
  signUp(email: string, password: string, displayName?: string): Promise<void>;
  signOut(): Promise<void>;
  /** Deletes the account (its password confirms it) and lands on the sign-in page with a notice. */
  deleteAccount(password: string): Promise<void>;
  /** Changes the per-user settings (theme, default model and preset) kept with the account. */
  updateSettings(changes: UserSettingsChanges): Promise<void>;
}

const AuthContext = createContext<AuthApi | null>(null);

/** Remembers a session that came from single sign-on, so signing out ends it at the provider too. */
const SSO_KEY = 'alice.sso';

const SSO_ERRORS: Record<string, string> = {
  email_unverified: 'Your provider has not verified your e-mail address, so it cannot sign you in here.',
  signup_closed: 'There is no account with your e-mail address, and sign-up is closed.',
  cancelled: 'Single sign-on was cancelled.',
  invalid_state: 'That sign-in expired or was already used. Please try again.',
  account_deleted: 'This account has been deleted.',
};

/** What the backend's single sign-on callback said in the address (`?signed_in=sso` or
 * `?sso_error=CODE`), taken out of the address so a reload does not repeat it. */
function ssoOutcome(): { signedIn: boolean; error: string | null } {
  const params = new URLSearchParams(window.location.search);
  const signedIn = params.get('signed_in') === 'sso';
  const error = params.get('sso_error');
  if (signedIn || error) {
    params.delete('signed_in');
    params.delete('sso_error');
    const query = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (query ? `?${query}` : '') + window.location.hash);
  }
  return { signedIn, error };
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: 'loading' });

  useEffect(() => {
    api.onSessionEnded = () => {
      chatStore.reset();
      setState({ status: 'signed-out', notice: 'Your session has ended. Please sign in again.' });
    };
    let cancelled = false;
    (async () => {
      const sso = ssoOutcome();
      if (sso.error) {
        const notice = SSO_ERRORS[sso.error] ?? 'Single sign-on did not succeed. Please try again.';
        return setState({ status: 'signed-out', notice });
      }
      // The access token lives in memory only: a reload renews it from the refresh token.
      if (!sso.signedIn && !api.hasStoredSession()) return setState({ status: 'signed-out' });
      try {
        if (sso.signedIn) localStorage.setItem(SSO_KEY, '1');
        if (!(await (sso.signedIn ? api.adoptCookieSession() : api.refresh()))) return;
        const user = await api.me();
        if (!cancelled) setState({ status: 'signed-in', user });
      } catch {
        if (!cancelled) setState({ status: 'signed-out', notice: 'Could not restore your session. Please sign in.' });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  const signIn = useCallback(async (email: string, password: string) => {
    const user = await api.login(email, password);
    setState({ status: 'signed-in', user: await api.me().catch(() => user) });
  }, []);
  const signUp = useCallback(async (email: string, password: string, displayName?: string) => {
    const user = await api.register(email, password, displayName);
    setState({ status: 'signed-in', user: await api.me().catch(() => user) });
  }, []);
  const signOut = useCallback(async () => {
    await api.logout();
    chatStore.reset();
    setState({ status: 'signed-out' });
    if (localStorage.getItem(SSO_KEY)) {
      localStorage.removeItem(SSO_KEY);
      // Signs out at the provider too, when it offers that; it sends the browser back here.
      window.location.assign('/api/auth/oidc/logout');
    }
  }, []);

  const deleteAccount = useCallback(async (password: string) => {
    const notice = await api.deleteAccount(password);
    chatStore.reset();
    setState({ status: 'signed-out', notice });
  }, []);

  const updateSettings = useCallback(async (changes: UserSettingsChanges) => {
    const user = await api.updateSettings(changes);
    setState((current) => (current.status === 'signed-in' ? { status: 'signed-in', user } : current));
  }, []);

  const value = useMemo(
    () => ({ state, signIn, signUp, signOut, deleteAccount, updateSettings }),
    [state, signIn, signUp, signOut, deleteAccount, updateSettings],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthApi {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth outside AuthProvider');
  return value;
}

export function isAdmin(user: User): boolean {
  return user.is_admin;
}
