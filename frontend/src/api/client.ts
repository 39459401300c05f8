// The backend's endpoints, typed by the generated OpenAPI shapes (types.ts). The HTTP and session
// handling is in http.ts, the refresh token's storage in tokens.ts, uploads in upload.ts.
import { HttpClient } from './http';
import { DEFAULT_RETRY, newIdempotencyKey, type RetryPolicy, withIdempotencyKey } from './idempotent';
import type {
  AliceDocument,
  ApiKey,
  AuthResponse,
  Conversation,
  ConversationPage,
  CreatedApiKey,
  Message,
  MessagePage,
  ReplyAccepted,
  RequestOf,
  ResponseOf,
  SearchHit,
  SendResult,
  StopResult,
  User,
} from './types';
import { uploadDocument } from './upload';

const path = encodeURIComponent;

export class ApiClient extends HttpClient {
  async register(email: string, password: string, displayName?: string): Promise<User> {
    const body: RequestOf<'/api/auth/register', 'post'> = { email, password };
    if (displayName) body.display_name = displayName;
    return this.adopt(await this.request<AuthResponse>('POST', '/api/auth/register', body, { auth: false }));
  }

  async login(email: string, password: string): Promise<User> {
    const body: RequestOf<'/api/auth/login', 'post'> = { email, password };
    return this.adopt(await this.request<AuthResponse>('POST', '/api/auth/login', body, { auth: false }));
  }

  async logout(): Promise<void> {
    const stored = this.storedRefreshToken;
    const body: RequestOf<'/api/auth/logout', 'post'> = stored ? { refresh_token: stored } : {};
    try {
      await this.request<void>('POST', '/api/auth/logout', body, { retry: false });
    } catch {
      // the local session ends regardless
    } finally {
      this.clearSession();
    }
  }

  me = () => this.request<User>('GET', '/api/me');

  listConversations = async (): Promise<Conversation[]> =>
    (await this.request<ConversationPage>('GET', '/api/conversations')).items;
  createConversation = (title?: string) =>
    this.request<Conversation>('POST', '/api/conversations', (title ? { title } : {}) satisfies RequestOf<'/api/conversations', 'post'>);
  getConversation = (id: string) => this.request<Conversation>('GET', `/api/conversations/${path(id)}`);
  renameConversation = (id: string, title: string) =>
    this.request<Conversation>('PATCH', `/api/conversations/${path(id)}`, { title } satisfies RequestOf<'/api/conversations/{conversation_id}', 'patch'>);
  deleteConversation = (id: string) => this.request<void>('DELETE', `/api/conversations/${path(id)}`);

  /** Messages oldest first, whatever order the server pages them in. */
  listMessages = async (id: string, limit = 100): Promise<Message[]> => {
    const page = await this.request<MessagePage>('GET', `/api/conversations/${path(id)}/messages?limit=${limit}`);
    return [...page.items].sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
  };
  /** How sends and regenerates retry (tests shorten the waits). */
  retryPolicy: RetryPolicy = DEFAULT_RETRY;

  /** Sends one composed message: `key` identifies it, so retries never send it twice. */
  sendMessage = (id: string, content: string, key: string = newIdempotencyKey()) =>
    withIdempotencyKey(
      (headers) =>
        this.request<SendResult>('POST', `/api/conversations/${path(id)}/messages`, { content } satisfies RequestOf<'/api/conversations/{conversation_id}/messages', 'post'>, { headers }),
      key,
      this.retryPolicy,
    );
  stopReply = (replyId: string) => this.request<StopResult>('POST', `/api/replies/${path(replyId)}/stop`);
  regenerate = (replyId: string, key: string = newIdempotencyKey()) =>
    withIdempotencyKey(
      (headers) => this.request<ReplyAccepted>('POST', `/api/replies/${path(replyId)}/regenerate`, undefined, { headers }),
      key,
      this.retryPolicy,
    );

  listApiKeys = async (): Promise<ApiKey[]> => (await this.request<ResponseOf<'/api/keys', 'get'>>('GET', '/api/keys')).items;
  createApiKey = (name: string) =>
    this.request<CreatedApiKey>('POST', '/api/keys', { name } satisfies RequestOf<'/api/keys', 'post'>);
  revokeApiKey = (id: string) => this.request<void>('DELETE', `/api/keys/${path(id)}`);

  listDocuments = async (): Promise<AliceDocument[]> =>
    (await this.request<ResponseOf<'/api/documents', 'get'>>('GET', '/api/documents')).items;
  deleteDocument = (id: string) => this.request<void>('DELETE', `/api/documents/${path(id)}`);
  /** Multipart upload with progress; answers the stored document (status `queued`). */
  uploadDocument = async (file: File, onProgress: (fraction: number) => void): Promise<AliceDocument> =>
    (await uploadDocument(this, file, onProgress)).document;

  search = async (q: string, limit = 10): Promise<SearchHit[]> =>
    (await this.request<ResponseOf<'/api/search', 'get'>>('GET', `/api/search?q=${path(q)}&limit=${limit}`)).items;

  // The admin views relay kafkaflow's and dataflow's documents, which the backend's OpenAPI leaves
  // free-form; src/lib/flows.ts checks what it draws.
  adminFlows = () => this.request<unknown>('GET', '/api/admin/flows');
  adminStats = () => this.request<unknown>('GET', '/api/admin/stats');
  adminDlqTopics = () => this.request<unknown>('GET', '/api/admin/flows/dlq');
  adminDlqRecords = (topic: string) => this.request<unknown>('GET', `/api/admin/flows/dlq/${path(topic)}?limit=50`);
  /** Replays one dead letter onto its source topic, or all of them when `record` is omitted. */
  replayDlq = (topic: string, record?: { partition: number; offset: number }) =>
    this.request<unknown>('POST', `/api/admin/flows/dlq/${path(topic)}/replay`, record ?? { all: true });
}

export { ApiError } from './errors';
export { memoryTokenStore, type TokenStore } from './tokens';
export const api = new ApiClient();
