/**
 * Where the refresh token lives between page loads. The backend returns it in the JSON body and
 * may also set it as an httpOnly cookie; we keep the body copy in localStorage (the cookie, when
 * present, travels by itself) and send whichever we have to `POST /api/auth/refresh`.
 */
export interface TokenStore {
  getRefresh(): string | null;
  setRefresh(token: string | null): void;
}

/** Remembers that a session exists even when its refresh token is a cookie script cannot read. */
export type SessionFlag = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const REFRESH_KEY = 'alice.refresh_token';
export const SESSION_KEY = 'alice.session';

export const browserTokenStore: TokenStore = {
  getRefresh: () => localStorage.getItem(REFRESH_KEY),
  setRefresh: (token) => {
    if (token) localStorage.setItem(REFRESH_KEY, token);
    else localStorage.removeItem(REFRESH_KEY);
  },
};

export function memoryTokenStore(initial: string | null = null): TokenStore {
  let value = initial;
  return { getRefresh: () => value, setRefresh: (t) => void (value = t) };
}

export const browserSessionFlag: SessionFlag | null = typeof localStorage !== 'undefined' ? localStorage : null;
