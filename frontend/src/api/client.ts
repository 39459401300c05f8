import { ApiError, errorFromResponse } from './errors';
import type {
  AliceDocument,
  ApiKey,
  AuthResponse,
  Conversation,
  CreatedApiKey,
  Message,
  SearchHit,
  SendResult,
  User,
} from './types';

/**
 * Where the refresh token lives between page loads. The backend returns it in the JSON body and
 * may also set it as an httpOnly cookie; we keep the body copy in localStorage (the cookie, when
 * present, travels by itself) and send whichever we have to `POST /api/auth/refresh`.
 */
export interface TokenStore {
  getRefresh(): string | null;
  setRefresh(token: string | null): void;
}

const REFRESH_KEY = 'alice.refresh_token';
const SESSION_KEY = 'alice.session';

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

type Fetch = typeof fetch;

/** Accepts a bare array or any `{items|<key>: [...]}` wrapper. */
export function listOf<T>(body: unknown, ...keys: string[]): T[] {
  if (Array.isArray(body)) return body as T[];
  const obj = (body ?? {}) as Record<string, unknown>;
  for (const key of ['items', ...keys]) if (Array.isArray(obj[key])) return obj[key] as T[];
  return [];
}

function unwrap<T>(body: unknown, key: string): T {
  const obj = body as Record<string, unknown>;
  return (obj && typeof obj === 'object' && key in obj ? obj[key] : body) as T;
}

export class ApiClient {
  private accessToken: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  /** Called once when the session cannot be renewed (revoked or expired refresh token). */
  onSessionEnded: (() => void) | null = null;

  constructor(
    private readonly fetchFn: Fetch = (...args) => fetch(...args),
    private readonly store: TokenStore = browserTokenStore,
    private readonly sessionFlag: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null = typeof localStorage !== 'undefined' ? localStorage : null,
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

  private adopt(auth: AuthResponse): User {
    this.accessToken = auth.access_token;
    if (auth.refresh_token) this.store.setRefresh(auth.refresh_token);
    this.sessionFlag?.setItem(SESSION_KEY, '1');
    return auth.user;
  }

  private clearSession(): void {
    this.accessToken = null;
    this.store.setRefresh(null);
    this.sessionFlag?.removeItem(SESSION_KEY);
  }

  async register(email: string, password: string, displayName?: string): Promise<User> {
    const body: Record<string, string> = { email, password };
    if (displayName) body.display_name = displayName;
    return this.adopt(await this.request<AuthResponse>('POST', '/api/auth/register', body, { auth: false }));
  }

  async login(email: string, password: string): Promise<User> {
    return this.adopt(await this.request<AuthResponse>('POST', '/api/auth/login', { email, password }, { auth: false }));
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

  async logout(): Promise<void> {
    const stored = this.store.getRefresh();
    try {
      await this.request('POST', '/api/auth/logout', stored ? { refresh_token: stored } : {}, { retry: false });
    } catch {
      // the local session ends regardless
    } finally {
      this.clearSession();
    }
  }

  /** Authenticated JSON request; on a 401 renews the access token once and retries. */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { auth?: boolean; retry?: boolean; signal?: AbortSignal } = {},
  ): Promise<T> {
    const { auth = true, retry = true, signal } = opts;
    const send = async () => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (body !== undefined && !(body instanceof FormData)) headers['Content-Type'] = 'application/json';
      if (auth && this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`;
      return this.fetchFn(path, {
        method,
        headers,
        credentials: 'same-origin',
        signal,
        body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
      });
    };
    let res = await send();
    if (res.status === 401 && auth && retry && (await this.refresh())) res = await send();
    if (!res.ok) throw await errorFromResponse(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  me = async () => unwrap<User>(await this.request('GET', '/api/me'), 'user');

  listConversations = async () =>
    listOf<Conversation>(await this.request('GET', '/api/conversations'), 'conversations');
  createConversation = async (title?: string) =>
    unwrap<Conversation>(await this.request('POST', '/api/conversations', title ? { title } : {}), 'conversation');
  getConversation = async (id: string) =>
    unwrap<Conversation>(await this.request('GET', `/api/conversations/${id}`), 'conversation');
  renameConversation = async (id: string, title: string) =>
    unwrap<Conversation>(await this.request('PATCH', `/api/conversations/${id}`, { title }), 'conversation');
  deleteConversation = (id: string) => this.request<void>('DELETE', `/api/conversations/${id}`);

  /** Messages oldest first, whatever order the server pages them in. */
  listMessages = async (id: string, limit = 100) => {
    const items = listOf<Message>(await this.request('GET', `/api/conversations/${id}/messages?limit=${limit}`), 'messages');
    return [...items].sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
  };
  sendMessage = (id: string, content: string) =>
    this.request<SendResult>('POST', `/api/conversations/${id}/messages`, { content });
  stopReply = (replyId: string) => this.request('POST', `/api/replies/${replyId}/stop`);
  regenerate = (replyId: string) => this.request<SendResult>('POST', `/api/replies/${replyId}/regenerate`);

  listApiKeys = async () => listOf<ApiKey>(await this.request('GET', '/api/keys'), 'keys');
  createApiKey = (name: string) => this.request<CreatedApiKey>('POST', '/api/keys', { name });
  revokeApiKey = (id: string) => this.request<void>('DELETE', `/api/keys/${id}`);

  listDocuments = async () => listOf<AliceDocument>(await this.request('GET', '/api/documents'), 'documents');
  deleteDocument = (id: string) => this.request<void>('DELETE', `/api/documents/${id}`);

  search = async (q: string, limit = 10) =>
    listOf<SearchHit>(await this.request('GET', `/api/search?q=${encodeURIComponent(q)}&limit=${limit}`), 'hits', 'results');

  adminFlows = () => this.request<unknown>('GET', '/api/admin/flows');
  adminStats = () => this.request<unknown>('GET', '/api/admin/stats');
  adminDlqTopics = () => this.request<unknown>('GET', '/api/admin/flows/dlq');
  adminDlqRecords = (topic: string) => this.request<unknown>('GET', `/api/admin/flows/dlq/${encodeURIComponent(topic)}?limit=50`);
  /** Replays one dead letter onto its source topic, or all of them when `record` is omitted. */
  replayDlq = (topic: string, record?: { partition: number; offset: number }) =>
    this.request('POST', `/api/admin/flows/dlq/${encodeURIComponent(topic)}/replay`, record ?? { all: true });

  /** Multipart upload with progress (fetch cannot report upload progress; XHR can). */
  uploadDocument(file: File, onProgress: (fraction: number) => void): Promise<AliceDocument> {
    const attempt = (token: string | null) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', '/api/documents');
        if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
        xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
        xhr.onerror = () => reject(new TypeError('network error'));
        const form = new FormData();
        form.append('file', file, file.name);
        xhr.send(form);
      });
    return (async () => {
      let res = await attempt(this.accessToken);
      if (res.status === 401 && (await this.refresh())) res = await attempt(this.accessToken);
      if (res.status < 200 || res.status >= 300) {
        throw await errorFromResponse(new Response(res.body, { status: res.status }));
      }
      return unwrap<AliceDocument>(JSON.parse(res.body), 'document');
    })();
  }
}

export { ApiError };
export const api = new ApiClient();
