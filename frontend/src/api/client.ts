// The backend's endpoints, each called by its path in the generated OpenAPI types (schema.d.ts)
// through `api` (http.ts), which also keeps the session; the refresh token's storage is in
// tokens.ts, uploads (XHR, for progress) in upload.ts.
import { HttpClient } from './http';
import { DEFAULT_RETRY, newIdempotencyKey, type RetryPolicy, withIdempotencyKey } from './idempotent';
import type {
  AliceDocument,
  ApiKey,
  BranchMessage,
  ChatSettings,
  Conversation,
  ConversationArchive,
  ConversationChanges,
  ExportFormat,
  FeedbackRating,
  ImportResult,
  Message,
  Preset,
  PresetChanges,
  SearchHit,
  ServedModel,
  Share,
  User,
  UserSettingsChanges,
} from './types';
import { uploadDocument } from './upload';

export class ApiClient extends HttpClient {
  async register(email: string, password: string, displayName?: string): Promise<User> {
    const body = { email, password, ...(displayName ? { display_name: displayName } : {}) };
    return this.adopt(await this.data(this.api.POST('/api/auth/register', { body, ...this.via({ auth: false }) })));
  }

  async login(email: string, password: string): Promise<User> {
    return this.adopt(await this.data(this.api.POST('/api/auth/login', { body: { email, password }, ...this.via({ auth: false }) })));
  }

  /** How one may sign in here (passwords, single sign-on); public. */
  authConfig = () => this.data(this.api.GET('/api/auth/config', this.via({ auth: false })));

  /** After single sign-on the refresh cookie is set: the session starts from it. */
  async adoptCookieSession(): Promise<boolean> {
    this.markSession();
    return this.refresh();
  }

  async logout(): Promise<void> {
    const stored = this.storedRefreshToken;
    try {
      await this.api.POST('/api/auth/logout', { body: stored ? { refresh_token: stored } : {}, ...this.via({ retry: false }) });
    } catch {
      // the local session ends regardless
    } finally {
      this.clearSession();
    }
  }

  me = () => this.data(this.api.GET('/api/me', this.via()));
  /** Theme, default model and default preset (null clears one), kept with the account. */
  updateSettings = (settings: UserSettingsChanges) =>
    this.data(this.api.PATCH('/api/me', { body: { settings }, ...this.via() }));

  /** Deletes the account and everything of it; the session ends here too. Answers the notice
   * to show (the rest of the data is erased by the services moments later). */
  deleteAccount = async (password: string): Promise<string> => {
    const deleted = await this.data(this.api.DELETE('/api/me', { body: { password }, ...this.via() }));
    this.clearSession();
    return deleted.message;
  };

  /** The conversations, pinned first; `archived`: only the archived ones (otherwise none of them). */
  listConversations = async (archived = false): Promise<Conversation[]> => {
    const params = { query: archived ? { archived } : {} };
    return (await this.data(this.api.GET('/api/conversations', { params, ...this.via() }))).items;
  };
  /** Created with the preset's settings, else the user's default preset or model. */
  createConversation = (title?: string, presetId?: string) =>
    this.data(
      this.api.POST('/api/conversations', {
        body: { ...(title ? { title } : {}), ...(presetId ? { preset_id: presetId } : {}) },
        ...this.via(),
      }),
    );
  getConversation = (id: string) =>
    this.data(this.api.GET('/api/conversations/{conversation_id}', { params: { path: { conversation_id: id } }, ...this.via() }));
  updateConversation = (id: string, changes: ConversationChanges) =>
    this.data(this.api.PATCH('/api/conversations/{conversation_id}', { params: { path: { conversation_id: id } }, body: changes, ...this.via() }));
  deleteConversation = async (id: string): Promise<void> => {
    await this.api.DELETE('/api/conversations/{conversation_id}', { params: { path: { conversation_id: id } }, ...this.via() });
  };

  /** One conversation as a file to save (Alice's JSON archive, or Markdown). */
  exportConversation = (id: string, format: ExportFormat) =>
    downloaded(
      this.api.GET('/api/conversations/{conversation_id}/export', {
        params: { path: { conversation_id: id }, query: { format } },
        parseAs: 'blob',
        ...this.via(),
      }),
    );
  /** Every conversation of the user, archived ones too, as one file. */
  exportAll = (format: ExportFormat) =>
    downloaded(this.api.GET('/api/conversations/export', { params: { query: { format } }, parseAs: 'blob', ...this.via() }));
  /** An archive the JSON export wrote: new conversations, all of them or (on an error) none; the ones
   * imported before from the same export are already present and not added again. */
  importConversations = (archive: ConversationArchive): Promise<ImportResult> =>
    this.data(this.api.POST('/api/conversations/import', { body: archive, ...this.via() }));

  /** A link to a read-only snapshot of the conversation as it is now; its token is in this answer only. */
  createShare = (conversationId: string) =>
    this.data(this.api.POST('/api/conversations/{conversation_id}/shares', { params: { path: { conversation_id: conversationId } }, ...this.via() }));
  listShares = async (conversationId: string): Promise<Share[]> =>
    (await this.data(this.api.GET('/api/conversations/{conversation_id}/shares', { params: { path: { conversation_id: conversationId } }, ...this.via() }))).items;
  revokeShare = async (shareId: string): Promise<void> => {
    await this.api.DELETE('/api/shares/{share_id}', { params: { path: { share_id: shareId } }, ...this.via() });
  };
  /** The snapshot behind a link: no account needed, so no session is sent. */
  readShared = (token: string) =>
    this.data(this.api.GET('/api/shared/{token}', { params: { path: { token } }, ...this.via({ auth: false }) }));

  /** Messages oldest first, whatever order the server pages them in. */
  listMessages = async (id: string, limit = 100): Promise<Message[]> => {
    const params = { path: { conversation_id: id }, query: { limit } };
    const page = await this.data(this.api.GET('/api/conversations/{conversation_id}/messages', { params, ...this.via() }));
    return [...page.items].sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
  };
  /** The branch shown now, oldest first, each message the parent of the next (the server remembers
   * the version last chosen; after a send or regenerate it ends at the newest reply). */
  getBranch = async (conversationId: string, limit = 100): Promise<BranchMessage[]> => {
    const params = { path: { conversation_id: conversationId }, query: { limit } };
    return (await this.data(this.api.GET('/api/conversations/{conversation_id}/branch', { params, ...this.via() }))).items;
  };
  /** Shows another version: the branch through `messageId`, continued by its newest messages; remembered. */
  chooseBranch = async (conversationId: string, messageId: string, limit = 100): Promise<BranchMessage[]> => {
    const params = { path: { conversation_id: conversationId }, query: { limit } };
    const body = { message_id: messageId };
    return (await this.data(this.api.PUT('/api/conversations/{conversation_id}/branch', { params, body, ...this.via() }))).items;
  };
  /** Rates a reply of one's own conversation; replaces an earlier rating. */
  giveFeedback = (conversationId: string, replyId: string, rating: FeedbackRating, comment?: string) => {
    const params = { path: { conversation_id: conversationId, reply_id: replyId } };
    const body = { rating, ...(comment ? { comment } : {}) };
    return this.data(this.api.PUT('/api/conversations/{conversation_id}/messages/{reply_id}/feedback', { params, body, ...this.via() }));
  };
  clearFeedback = async (conversationId: string, replyId: string): Promise<void> => {
    const params = { path: { conversation_id: conversationId, reply_id: replyId } };
    await this.api.DELETE('/api/conversations/{conversation_id}/messages/{reply_id}/feedback', { params, ...this.via() });
  };
  /** How sends, regenerates and continues retry (tests shorten the waits). */
  retryPolicy: RetryPolicy = DEFAULT_RETRY;

  /** Sends one composed message: `key` identifies it, so retries never send it twice. `place`: after
   * which message (`parentId`, the end of the branch shown), or as a new version of a user message
   * (`editOf`); neither: the end of the conversation's current branch. */
  sendMessage = (id: string, content: string, key: string = newIdempotencyKey(), attachments: string[] = [], place: MessagePlace = {}) =>
    withIdempotencyKey(
      (headers) =>
        this.data(
          this.api.POST('/api/conversations/{conversation_id}/messages', {
            params: { path: { conversation_id: id } },
            body: {
              content,
              ...(attachments.length ? { attachments } : {}),
              ...(place.parentId ? { parent_id: place.parentId } : {}),
              ...(place.editOf ? { edit_of: place.editOf } : {}),
            },
            ...this.via({ headers }),
          }),
        ),
      key,
      this.retryPolicy,
    );
  stopReply = (replyId: string) =>
    this.data(this.api.POST('/api/replies/{reply_id}/stop', { params: { path: { reply_id: replyId } }, ...this.via() }));
  regenerate = (replyId: string, key: string = newIdempotencyKey()) =>
    withIdempotencyKey(
      (headers) =>
        this.data(this.api.POST('/api/replies/{reply_id}/regenerate', { params: { path: { reply_id: replyId } }, ...this.via({ headers }) })),
      key,
      this.retryPolicy,
    );
  /** Continues a reply that stopped at its length limit: the answer names the continuation's stream. */
  continueReply = (replyId: string, key: string = newIdempotencyKey()) =>
    withIdempotencyKey(
      (headers) =>
        this.data(this.api.POST('/api/replies/{reply_id}/continue', { params: { path: { reply_id: replyId } }, ...this.via({ headers }) })),
      key,
      this.retryPolicy,
    );

  /** The served models, the default first; `available: false` when its endpoint is down. */
  listModels = async (): Promise<ServedModel[]> => (await this.data(this.api.GET('/api/models', this.via()))).items;

  /** The user's presets, then those admins published (`mine: false`, read-only). */
  listPresets = async (): Promise<Preset[]> => (await this.data(this.api.GET('/api/presets', this.via()))).items;
  createPreset = (name: string, settings: ChatSettings, published = false) =>
    this.data(this.api.POST('/api/presets', { body: { name, settings, published }, ...this.via() }));
  updatePreset = (id: string, changes: PresetChanges) =>
    this.data(this.api.PATCH('/api/presets/{preset_id}', { params: { path: { preset_id: id } }, body: changes, ...this.via() }));
  deletePreset = async (id: string): Promise<void> => {
    await this.api.DELETE('/api/presets/{preset_id}', { params: { path: { preset_id: id } }, ...this.via() });
  };

  listApiKeys = async (): Promise<ApiKey[]> => (await this.data(this.api.GET('/api/keys', this.via()))).items;
  createApiKey = (name: string) => this.data(this.api.POST('/api/keys', { body: { name }, ...this.via() }));
  revokeApiKey = async (id: string): Promise<void> => {
    await this.api.DELETE('/api/keys/{key_id}', { params: { path: { key_id: id } }, ...this.via() });
  };

  listDocuments = async (): Promise<AliceDocument[]> => (await this.data(this.api.GET('/api/documents', this.via()))).items;
  deleteDocument = async (id: string): Promise<void> => {
    await this.api.DELETE('/api/documents/{document_id}', { params: { path: { document_id: id } }, ...this.via() });
  };
  /** Multipart upload with progress; answers the stored document (status `queued`). */
  uploadDocument = async (file: File, onProgress: (fraction: number) => void, conversationId?: string): Promise<AliceDocument> =>
    (await uploadDocument(this, file, onProgress, conversationId)).document;
  /** The files attached in a conversation's composer (not in the library). */
  listAttachments = async (conversationId: string): Promise<AliceDocument[]> =>
    (await this.data(this.api.GET('/api/documents', { params: { query: { conversation_id: conversationId } }, ...this.via() }))).items;
  addToLibrary = (id: string): Promise<AliceDocument> =>
    this.data(this.api.POST('/api/documents/{document_id}/library', { params: { path: { document_id: id } }, ...this.via() }));

  search = async (q: string, limit = 10): Promise<SearchHit[]> =>
    (await this.data(this.api.GET('/api/search', { params: { query: { q, limit } }, ...this.via() }))).items;

  // The admin views: kafkaflow's flow graph and dead letters, the dataflow's daily stats.
  adminFlows = () => this.data(this.api.GET('/api/admin/flows', this.via()));
  adminStats = () => this.data(this.api.GET('/api/admin/stats', this.via()));
  adminFeedback = () => this.data(this.api.GET('/api/admin/feedback', this.via()));
  adminDlqTopics = () => this.data(this.api.GET('/api/admin/flows/dlq', this.via()));
  adminDlqRecords = (topic: string) =>
    this.data(this.api.GET('/api/admin/flows/dlq/{topic}', { params: { path: { topic }, query: { limit: 50 } }, ...this.via() }));
  /** Replays one dead letter onto its source topic, or all of them when `record` is omitted. */
  replayDlq = (topic: string, record?: { partition: number; offset: number }) =>
    this.data(this.api.POST('/api/admin/flows/dlq/{topic}/replay', { params: { path: { topic } }, body: record ? { ...record, all: false } : { all: true }, ...this.via() }));
}

/** Where a sent message goes in the conversation's tree: after a message, or as a new version of one (never both). */
export type MessagePlace = { parentId?: string; editOf?: never } | { editOf: string; parentId?: never };

export interface DownloadedFile {
  blob: Blob;
  filename: string;
}

/** The file of a download answer, named as `Content-Disposition` names it. */
async function downloaded(call: Promise<{ data?: unknown; response: Response }>): Promise<DownloadedFile> {
  const { data, response } = await call;
  const named = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '');
  return { blob: data as Blob, filename: named?.[1] ?? 'alice-export' };
}

export { ApiError } from './errors';
export { memoryTokenStore, type TokenStore } from './tokens';
export const api = new ApiClient();
