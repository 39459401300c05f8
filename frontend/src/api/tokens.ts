/**
 * Where the refresh token lives between page loads. The backend returns it in the JSON body (for
 * programs) and sets it as an HttpOnly cookie. In the browser the cookie alone is kept: script
 * cannot read it, so an injected script cannot steal a session that lasts 30 days
 * (`browserTokenStore` keeps nothing). Programs without cookies may keep the body copy in a store.
 */
export interface TokenStore {
  getRefresh(): string | null;
  setRefresh(token: string | null): void;
}

/** Remembers that a session exists even when its refresh token is a cookie script cannot read. */
export type SessionFlag = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** Where earlier versions kept the body copy: removed on first use. */
export const LEGACY_REFRESH_KEY = 'alice.refresh_token';
export const SESSION_KEY = 'alice.session';

function forgetLegacyRefreshToken(): void {
  try {
    localStorage.removeItem(LEGACY_REFRESH_KEY);
  } catch {
    // storage unavailable: nothing was kept there either
  }
}

/** The browser's store: the HttpOnly cookie carries the refresh token; nothing is kept here. */
export const browserTokenStore: TokenStore = {
  getRefresh: () => {
    forgetLegacyRefreshToken();
    return null;
  },
  setRefresh: () => forgetLegacyRefreshToken(),
};

export function memoryTokenStore(initial: string | null = null): TokenStore {
  let value = initial;
  return { getRefresh: () => value, setRefresh: (t) => void (value = t) };
}

export const browserSessionFlag: SessionFlag | null = typeof localStorage !== 'undefined' ? localStorage : null;
