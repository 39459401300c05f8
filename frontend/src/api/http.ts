import { errorFromResponse } from './errors';
import { browserSessionFlag, browserTokenStore, SESSION_KEY, type SessionFlag, type TokenStore } from './tokens';
import type { AuthResponse, User } from './types';

type Fetch = typeof fetch;

export interface RequestOptions {
  auth?: boolean;
  retry?: boolean;
  signal?: AbortSignal;
  /** Extra request headers (e.g. `Idempotency-Key`); kept on the retry after a 401. */
  headers?: Record<string, string>;
}

/**
 * JSON over HTTP with the session's bearer token: the access token lives in memory only; a 401
 * renews it once (one shared `POST /api/auth/refresh` for concurrent callers) and retries.
 */
export class HttpClient {
  private accessToken: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  /** Called once when the session cannot be renewed (revoked or expired refresh token). */
  onSessionEnded: (() => void) | null = null;

  constructor(
    private readonly fetchFn: Fetch = (...args) => fetch(...args),
    private readonly store: TokenStore = browserTokenStore,
    private readonly sessionFlag: SessionFlag | null = browserSessionFlag,
  ) {}

  /** The fetch this client uses (the reply stream goes through it too). */
  get fetcher(): Fetch {
    return this.fetchFn;
  }

  get token(): string | null {
    return this.accessToken;
  }

  /** The current access token, renewing it first when `force` is set (after a 401). */
  async getToken(force = false): Promise<string | null> {
    if (force || !this.accessToken) await this.refresh();
    return this.accessToken;
  }

  hasStoredSession(): boolean {
    return Boolean(this.store.getRefresh() || this.sessionFlag?.getItem(SESSION_KEY));
  }

  protected get storedRefreshToken(): string | null {
    return this.store.getRefresh();
  }

  protected adopt(auth: AuthResponse): User {
    this.accessToken = auth.access_token;
    if (auth.refresh_token) this.store.setRefresh(auth.refresh_token);
    this.sessionFlag?.setItem(SESSION_KEY, '1');
    return auth.user;
  }

  protected clearSession(): void {
    this.accessToken = null;
    this.store.setRefresh(null);
    this.sessionFlag?.removeItem(SESSION_KEY);
  }

  /** Renews the access token; concurrent callers share one request. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const stored = this.store.getRefresh();
    const res = await this.fetchFn('/api/auth/refresh', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(stored ? { refresh_token: stored } : {}),
    });
    if (res.ok) {
      this.adopt((await res.json()) as AuthResponse);
      return true;
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      const hadSession = this.hasStoredSession() || this.accessToken !== null;
      this.clearSession();
      if (hadSession) this.onSessionEnded?.();
      return false;
    }
    throw await errorFromResponse(res);
  }

  /**
   * Authenticated JSON request; on a 401 renews the access token once and retries. `T` is the
   * documented success body (see types.ts); an empty body (204) answers `undefined`.
   */
  async request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    const { auth = true, retry = true, signal } = opts;
    const send = async () => {
      const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (auth && this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`;
      return this.fetchFn(path, {
        method,
        headers,
        credentials: 'same-origin',
        signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    };
    let res = await send();
    if (res.status === 401 && auth && retry && (await this.refresh())) res = await send();
    if (!res.ok) throw await errorFromResponse(res);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
