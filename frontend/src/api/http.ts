import createClient, { type Client } from 'openapi-fetch';
import { errorFromResponse } from './errors';
import type { paths } from './schema';
import { browserSessionFlag, browserTokenStore, SESSION_KEY, type SessionFlag, type TokenStore } from './tokens';
import type { AuthResponse, User } from './types';

type Fetch = typeof fetch;

/**
 * The request openapi-fetch builds, kept as it was built: a relative path (a standard `Request`
 * would need an absolute URL), the method and the serialised JSON body, for `HttpClient.send`.
 */
class PathRequest {
  readonly method: string;
  readonly body: string | undefined;

  constructor(
    readonly url: string,
    init: RequestInit = {},
  ) {
    this.method = init.method ?? 'GET';
    this.body = typeof init.body === 'string' ? init.body : undefined;
  }
}

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
 *
 * Endpoints are called through `api`, keyed by path from the generated OpenAPI types
 * (schema.d.ts): the path picks the method, the parameters, the body and the answer, so they
 * cannot disagree. `via(options)` sends a call through this session; an error answer throws
 * `ApiError`, so `data` of a call is its documented success body.
 */
export class HttpClient {
  protected readonly api: Client<paths> = createClient<paths>({ Request: PathRequest as unknown as typeof Request });

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

  protected markSession(): void {
    this.sessionFlag?.setItem(SESSION_KEY, '1');
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

  /** openapi-fetch options that send a call through this session, with `opts`. */
  protected via(opts: RequestOptions = {}): { fetch: (request: Request) => Promise<Response> } {
    return {
      fetch: (request) => {
        const { method, url, body } = request as unknown as PathRequest;
        return this.send(method, url, body, opts);
      },
    };
  }

  /** The success body of a call made with `via` (which throws on an error answer). */
  protected async data<D>(call: Promise<{ data?: D }>): Promise<D> {
    return (await call).data as D;
  }

  /**
   * Authenticated request with a JSON body; on a 401 renews the access token once and retries.
   * Answers the response when it is a success, throws `ApiError` otherwise.
   */
  private async send(method: string, path: string, body: string | undefined, opts: RequestOptions): Promise<Response> {
    const { auth = true, retry = true, signal } = opts;
    const attempt = async () => {
      const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (auth && this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`;
      return this.fetchFn(path, { method, headers, credentials: 'same-origin', signal, body });
    };
    let res = await attempt();
    if (res.status === 401 && auth && retry && (await this.refresh())) res = await attempt();
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}
