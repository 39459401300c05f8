// The shapes the backend answers with, taken from the generated OpenAPI types (schema.d.ts,
// `npm run gen:api`). Each is named by the endpoint that returns it, so renaming a schema in the
// backend changes nothing here; changing a field changes it everywhere it is used.
import type { components, paths } from './schema';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type JsonContent<R> = R extends { content: { 'application/json': infer Body } } ? Body : never;

/** The JSON body `method path` answers with on success (2xx). */
export type ResponseOf<P extends keyof paths, M extends Method & keyof paths[P]> = paths[P][M] extends {
  responses: infer R;
}
  ? JsonContent<R[Extract<keyof R, 200 | 201 | 202>]>
  : never;

/** The JSON body `method path` accepts. */
export type RequestOf<P extends keyof paths, M extends Method & keyof paths[P]> = paths[P][M] extends {
  requestBody?: infer B;
}
  ? JsonContent<NonNullable<B>>
  : never;

export type AuthResponse = ResponseOf<'/api/auth/login', 'post'>;
export type User = ResponseOf<'/api/me', 'get'>;
export type AuthConfig = ResponseOf<'/api/auth/config', 'get'>;
/** Theme, default model and preset, memory: what `PATCH /api/me` takes as `settings`. */
export type UserSettingsChanges = NonNullable<RequestOf<'/api/me', 'patch'>['settings']>;
export type Theme = User['settings']['theme'];

export type ConversationPage = ResponseOf<'/api/conversations', 'get'>;
export type Conversation = ResponseOf<'/api/conversations/{conversation_id}', 'get'>;
/** Rename, pin, archive or change its chat settings: any of `title`, `pinned`, `archived`, `settings`. */
export type ConversationChanges = RequestOf<'/api/conversations/{conversation_id}', 'patch'>;
/** Model, system prompt, temperature, max tokens of a conversation or preset (null: the default). */
export type ChatSettings = NonNullable<Conversation['settings']>;

export type ServedModel = ResponseOf<'/api/models', 'get'>['items'][number];
export type Preset = ResponseOf<'/api/presets', 'post'>;
export type PresetChanges = RequestOf<'/api/presets/{preset_id}', 'patch'>;

/** Alice's export file: what the JSON export writes and an import takes back. */
export type ConversationArchive = RequestOf<'/api/conversations/import', 'post'>;
export type ImportResult = ResponseOf<'/api/conversations/import', 'post'>;
export type ExportFormat = NonNullable<NonNullable<paths['/api/conversations/export']['get']['parameters']['query']>['format']>;

/** A link to a read-only snapshot of a conversation, as its owner lists it (never the token). */
export type Share = ResponseOf<'/api/conversations/{conversation_id}/shares', 'get'>['items'][number];
export type CreatedShare = ResponseOf<'/api/conversations/{conversation_id}/shares', 'post'>;
/** What anyone with the link reads. */
export type SharedConversation = ResponseOf<'/api/shared/{token}', 'get'>;

export type MessagePage = ResponseOf<'/api/conversations/{conversation_id}/messages', 'get'>;
export type Message = MessagePage['items'][number];
export type Source = NonNullable<Message['sources']>[number];
/** The branch of a conversation's tree shown now: a path of messages, each with its versions (`siblings`). */
export type BranchPage = ResponseOf<'/api/conversations/{conversation_id}/branch', 'get'>;
export type BranchMessage = BranchPage['items'][number];
export type Feedback = ResponseOf<'/api/conversations/{conversation_id}/messages/{reply_id}/feedback', 'put'>;
export type FeedbackRating = Feedback['rating'];
export type SendResult = ResponseOf<'/api/conversations/{conversation_id}/messages', 'post'>;
export type ReplyAccepted = ResponseOf<'/api/replies/{reply_id}/regenerate', 'post'>;
export type StopResult = ResponseOf<'/api/replies/{reply_id}/stop', 'post'>;

export type AliceDocument = ResponseOf<'/api/documents/{document_id}', 'get'>;
export type UploadResult = ResponseOf<'/api/documents', 'post'>;
export type SearchHit = ResponseOf<'/api/search', 'get'>['items'][number];

export type ApiKey = ResponseOf<'/api/keys', 'get'>['items'][number];
export type CreatedApiKey = ResponseOf<'/api/keys', 'post'>;

/** The data of the reply stream's `status` event (not a response body, so named by its schema). */
export type ReplyStatus = components['schemas']['ReplyStatus'];
export type AttachedFile = components['schemas']['AttachedFile'];

// The admin views (kafkaflow's flow graph and dead letters, the dataflow's daily stats).
export type FlowView = ResponseOf<'/api/admin/flows', 'get'>;
export type DlqTopicList = ResponseOf<'/api/admin/flows/dlq', 'get'>;
export type DlqRecordPage = ResponseOf<'/api/admin/flows/dlq/{topic}', 'get'>;
export type DailyStats = ResponseOf<'/api/admin/stats', 'get'>;
export type FeedbackStats = ResponseOf<'/api/admin/feedback', 'get'>;
export type ReplayResult = ResponseOf<'/api/admin/flows/dlq/{topic}/replay', 'post'>;
