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

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: 'loading' });

  useEffect(() => {
    api.onSessionEnded = () => {
      chatStore.reset();
      setState({ status: 'signed-out', notice: 'Your session has ended. Please sign in again.' });
    };
    let cancelled = false;
    (async () => {
      // The access token lives in memory only: a reload renews it from the refresh token.
      if (!api.hasStoredSession()) return setState({ status: 'signed-out' });
      try {
        if (!(await api.refresh())) return;
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
