export interface User {
  id: string;
  email: string;
  display_name?: string | null;
  is_admin?: boolean;
  role?: string;
}

export interface AuthResponse {
  user: User;
  access_token: string;
  token_type?: string;
  expires_in?: number;
  refresh_token?: string;
}

export interface Conversation {
  id: string;
  title: string;
  created_at?: string;
  updated_at?: string;
}

export interface Source {
  document_id?: string;
  filename?: string;
  chunk_index?: number;
  chunk?: number;
  snippet?: string;
  text?: string;
  score?: number;
}

export type MessageStatus = 'completed' | 'stopped' | 'failed' | 'streaming' | string;

export interface Message {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  status?: MessageStatus;
  created_at?: string;
  sources?: Source[];
  reply_id?: string;
}

export interface SendResult {
  message: Message;
  reply_id: string;
  stream_url?: string;
}

export type DocumentStatus = 'queued' | 'processing' | 'indexed' | 'failed' | string;

export interface AliceDocument {
  id: string;
  filename: string;
  status: DocumentStatus;
  progress?: number;
  chunks?: number;
  error?: string | null;
  size?: number;
  created_at?: string;
}

export interface SearchHit {
  kind?: string;
  type?: string;
  text?: string;
  snippet?: string;
  score?: number;
  conversation_id?: string;
  message_id?: string;
  document_id?: string;
  filename?: string;
  title?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  /** The first characters of the key: enough to recognise it, never the whole key. */
  prefix: string;
  created_at: string;
  last_used_at?: string | null;
}

export interface CreatedApiKey {
  key: ApiKey;
  /** The whole key, returned only once. */
  secret: string;
}
