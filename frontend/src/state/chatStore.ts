import { useSyncExternalStore } from 'react';
import { api, type ApiClient } from '../api/client';
import { readableError } from '../api/errors';
import { newIdempotencyKey } from '../api/idempotent';
import { followReply, type ReplyOutcome } from '../api/replyStream';
import type { AttachedFile, BranchMessage, ChatSettings, Conversation, ConversationChanges, FeedbackRating, SendResult } from '../api/types';

/** A message of the branch shown: a stored one with its versions (`siblings`, ids oldest first), or
 * the user's own while its send is in flight. A message added here (a send, a finished reply) has
 * its versions once the branch is read again. */
export type ShownMessage = Omit<BranchMessage, 'status' | 'siblings'> & {
  status: BranchMessage['status'] | 'sending';
  siblings?: string[];
};

export interface PendingReply {
  replyId: string;
  text: string;
  state: 'queued' | 'generating' | 'reconnecting';
  /** While queued for a busy model: the reply's place in line (1 = next). */
  position?: number;
  /** Stop was asked for: the composer is usable again while the stream winds down. */
  stopping: boolean;
  /** A continuation: the reply it continues (shown as `text`, followed by what streams in). */
  continues?: ShownMessage;
}

export interface ConversationState {
  /** The branch shown, oldest first, each message the parent of the next. */
  messages: ShownMessage[];
  loaded: boolean;
  loadError?: string;
  pending?: PendingReply;
  /** A readable problem with the latest send or reply. */
  error?: string;
}

export interface ChatSnapshot {
  /** The conversations that are not archived, in `listOrder`. */
  conversations: Conversation[];
  conversationsLoaded: boolean;
  /** The archived ones, loaded when the user asks to see them. */
  archived: Conversation[];
  archivedLoaded: boolean;
  byId: Record<string, ConversationState>;
}

const INITIAL: ChatSnapshot = { conversations: [], conversationsLoaded: false, archived: [], archivedLoaded: false, byId: {} };

/** The sidebar's order, the server's too: pinned first, then the most recently updated. */
export function listOrder(conversations: Conversation[]): Conversation[] {
  const recency = (c: Conversation) => c.updated_at ?? c.created_at ?? '';
  return [...conversations].sort((a, b) => Number(Boolean(b.pinned)) - Number(Boolean(a.pinned)) || recency(b).localeCompare(recency(a)));
}

const EMPTY: ConversationState = { messages: [], loaded: false };
const pendingKey = (conversationId: string) => `alice.pending.${conversationId}`;

/** How long a send waits for the branch read after a reply (`ChatStore.branchRead`). */
const BRANCH_READ_WAIT_MS = 5_000;

/** The id of a message shown while its send is in flight. */
const LOCAL = 'local-';

/** A send or a reply is in flight: the branch shown is about to change, so no edit and no other version now. */
export function isBusy(c: ConversationState): boolean {
  return Boolean(c.pending) || c.messages.some((m) => m.status === 'sending');
}

/** The message a new one follows: the last stored message shown (none: the conversation is empty).
 * Not a failed reply: one that failed before it was stored (a model that is down) is not in the tree. */
function lastStoredId(messages: ShownMessage[]): string | undefined {
  return [...messages].reverse().find((m) => m.status !== 'sending' && m.status !== 'failed' && !m.id.startsWith(LOCAL))?.id;
}

/**
 * Conversations, their messages and in-flight replies, outside React so a reply keeps streaming
 * while the user switches conversations (and survives the route change of a first message).
 */
export class ChatStore {
  private snapshot: ChatSnapshot = INITIAL;
  private listeners = new Set<() => void>();
  private streams = new Map<string, AbortController>();
  /** Per conversation, the latest change of the messages shown: a branch read before it is stale. */
  private changes = new Map<string, number>();
  /** Branch reads after a reply, by conversation: a send waits for one (see `send`). */
  private reloads = new Map<string, Promise<void>>();

  constructor(private readonly client: ApiClient) {}

  subscribe = (fn: () => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };
  getSnapshot = () => this.snapshot;

  conversation(id: string): ConversationState {
    return this.snapshot.byId[id] ?? EMPTY;
  }

  private set(next: Partial<ChatSnapshot>) {
    this.snapshot = { ...this.snapshot, ...next };
    this.listeners.forEach((fn) => fn());
  }

  /** Marks a change of the conversation's messages shown; the answer: whether none came after it. */
  private change(id: string): () => boolean {
    const mine = (this.changes.get(id) ?? 0) + 1;
    this.changes.set(id, mine);
    return () => this.changes.get(id) === mine;
  }

  private patch(id: string, change: Partial<ConversationState> | ((c: ConversationState) => Partial<ConversationState>)) {
    const current = this.conversation(id);
    const delta = typeof change === 'function' ? change(current) : change;
    this.set({ byId: { ...this.snapshot.byId, [id]: { ...current, ...delta } } });
  }

  /** Forget everything (sign out). */
  reset() {
    this.streams.forEach((c) => c.abort());
    this.streams.clear();
    this.changes.clear();
    this.snapshot = INITIAL;
    this.listeners.forEach((fn) => fn());
  }

  async loadConversations() {
    const conversations = listOrder(await this.client.listConversations());
    this.set({ conversations, conversationsLoaded: true });
  }

  async loadArchived() {
    const archived = listOrder(await this.client.listConversations(true));
    this.set({ archived, archivedLoaded: true });
  }

  async createConversation(title?: string, presetId?: string): Promise<Conversation> {
    const conversation = await this.client.createConversation(title, presetId);
    this.set({ conversations: listOrder([conversation, ...this.snapshot.conversations.filter((c) => c.id !== conversation.id)]) });
    this.patch(conversation.id, { loaded: true, messages: [] });
    return conversation;
  }

  rename = (id: string, title: string) => this.update(id, { title });
  setPinned = (id: string, pinned: boolean) => this.update(id, { pinned });
  setArchived = (id: string, archived: boolean) => this.update(id, { archived });
  /** Replaces the conversation's chat settings (model, system prompt, temperature, max tokens). */
  setSettings = (id: string, settings: ChatSettings) => this.update(id, { settings });

  /** Changes a conversation and moves it to the list (archived or not) and place it now belongs in. */
  private async update(id: string, changes: ConversationChanges) {
    const updated = await this.client.updateConversation(id, changes);
    const others = (list: Conversation[]) => list.filter((c) => c.id !== id);
    const { conversations, archived } = this.snapshot;
    this.set({
      conversations: listOrder(updated.archived ? others(conversations) : [...others(conversations), updated]),
      archived: listOrder(updated.archived ? [...others(archived), updated] : others(archived)),
    });
  }

  async remove(id: string) {
    await this.client.deleteConversation(id);
    this.streams.get(id)?.abort();
    this.changes.delete(id);
    const byId = { ...this.snapshot.byId };
    delete byId[id];
    const others = (list: Conversation[]) => list.filter((c) => c.id !== id);
    this.set({ conversations: others(this.snapshot.conversations), archived: others(this.snapshot.archived), byId });
  }

  /** Rates a stored reply (`rating` null: clears the rating). */
  async rateReply(conversationId: string, replyId: string, rating: FeedbackRating | null, comment?: string) {
    const feedback = rating ? await this.client.giveFeedback(conversationId, replyId, rating, comment) : null;
    if (!rating) await this.client.clearFeedback(conversationId, replyId);
    this.patch(conversationId, (c) => ({
      messages: c.messages.map((m) => (m.role === 'assistant' && (m.reply_id ?? m.id) === replyId ? { ...m, feedback } : m)),
    }));
  }

  /** The branch shown (the one the server remembers). */
  async loadMessages(id: string) {
    const latest = this.change(id);
    try {
      const messages = await this.client.getBranch(id);
      // A send started meanwhile shows what it shows; the branch is read again after its reply.
      const shown = !this.conversation(id).pending && latest();
      this.patch(id, (c) => ({ messages: shown ? messages : c.messages, loaded: true, loadError: undefined }));
      if (shown) this.resumePending(id, messages);
    } catch (err) {
      this.patch(id, { loaded: true, loadError: readableError(err) });
    }
  }

  /** After a reply (or in `finish`): the branch as stored, with the versions of the new messages.
   * What is shown stays until then, and stays when something changed meanwhile or reading fails. */
  private reloadBranch(id: string): Promise<void> {
    const reading: Promise<void> = this.readBranch(id).finally(() => {
      if (this.reloads.get(id) === reading) this.reloads.delete(id);
    });
    this.reloads.set(id, reading);
    return reading;
  }

  /** The branch read after a reply that is still running, if any, for at most `BRANCH_READ_WAIT_MS`
   * (a stalled read must not block sending). None: nothing to wait for, so the caller goes on at once. */
  private branchRead(id: string): Promise<void> | undefined {
    const reading = this.reloads.get(id);
    return reading && Promise.race([reading, new Promise<void>((resolve) => setTimeout(resolve, BRANCH_READ_WAIT_MS))]);
  }

  private async readBranch(id: string) {
    const latest = this.change(id);
    try {
      const messages = await this.client.getBranch(id);
      if (latest() && !isBusy(this.conversation(id))) this.patch(id, { messages });
    } catch {
      // the messages as streamed stay; the next visit reads the branch
    }
  }

  /** Shows another version of a message: the branch through `messageId`, remembered by the server.
   * Not while a send or reply is in flight (the branch is about to change). */
  async showVersion(conversationId: string, messageId: string) {
    if (isBusy(this.conversation(conversationId))) return;
    this.patch(conversationId, { error: undefined });
    const latest = this.change(conversationId);
    try {
      const messages = await this.client.chooseBranch(conversationId, messageId);
      if (latest() && !isBusy(this.conversation(conversationId))) this.patch(conversationId, { messages });
    } catch (err) {
      this.patch(conversationId, { error: readableError(err) });
    }
  }

  /** After a reload: follow a reply that was still streaming when the page went away. */
  private resumePending(id: string, messages: ShownMessage[]) {
    const replyId = sessionStorage.getItem(pendingKey(id));
    if (!replyId || this.streams.has(id)) return;
    if (messages.some((m) => m.role === 'assistant' && (m.reply_id ?? m.id) === replyId)) {
      sessionStorage.removeItem(pendingKey(id));
      return;
    }
    // A regeneration: the branch still ends with the reply it replaces, hidden as when it was asked for.
    this.patch(id, (c) => ({ messages: c.messages.at(-1)?.role === 'assistant' ? c.messages.slice(0, -1) : c.messages }));
    this.follow(id, replyId);
  }

  /** Sends after the last message shown. `attachments`: the conversation's files sent with this
   * message, recorded on it. */
  async send(conversationId: string, content: string, attachments: AttachedFile[] = []) {
    // After a failed reply the question shown may not be stored (a model that was down): the
    // branch read after it says, and the new message must follow a stored one.
    const reading = this.branchRead(conversationId);
    if (reading) await reading;
    const { messages } = this.conversation(conversationId);
    const parentId = lastStoredId(messages);
    const ids = attachments.map((a) => a.document_id);
    await this.submit(conversationId, { content, attachments, parent_id: parentId ?? null }, messages.length, (key) =>
      this.client.sendMessage(conversationId, content, key, ids, { parentId }),
    );
  }

  /** Sends `content` as a new version of the user message `messageId` (the old one is kept, one
   * version back): shown at once in its place, without the messages that followed it. */
  async edit(conversationId: string, messageId: string, content: string) {
    // As in `send`: the branch as stored first.
    const reading = this.branchRead(conversationId);
    if (reading) await reading;
    const { messages } = this.conversation(conversationId);
    const at = messages.findIndex((m) => m.id === messageId);
    const edited = messages[at];
    if (!edited || edited.role !== 'user' || isBusy(this.conversation(conversationId))) return;
    const versions = edited.siblings ?? [edited.id];
    await this.submit(conversationId, { content, parent_id: edited.parent_id ?? null, siblings: versions }, at, (key) =>
      this.client.sendMessage(conversationId, content, key, [], { editOf: messageId }),
    );
  }

  /**
   * A new user message, shown at once after the first `keep` messages shown (status `sending`),
   * then as stored, then followed by its streaming reply. When it is refused, the messages shown
   * before come back and the error is shown (and thrown, so the composer keeps the text).
   */
  private async submit(
    conversationId: string,
    draft: Pick<ShownMessage, 'content' | 'parent_id' | 'attachments'> & { siblings?: string[] },
    keep: number,
    post: (idempotencyKey: string) => Promise<SendResult>,
  ) {
    this.patch(conversationId, { error: undefined });
    this.change(conversationId);
    const id = `${LOCAL}${Date.now()}`;
    const optimistic: ShownMessage = {
      ...draft,
      id,
      conversation_id: conversationId,
      role: 'user',
      status: 'sending',
      created_at: new Date().toISOString(),
      // A new version: counted among the versions of the one it replaces.
      siblings: draft.siblings && [...draft.siblings, id],
    };
    const gone = this.conversation(conversationId).messages.slice(keep);
    this.patch(conversationId, (c) => ({ messages: [...c.messages.slice(0, keep), optimistic] }));
    try {
      // One key for this composed message; the client reuses it on its own retries.
      const result = await post(newIdempotencyKey());
      const siblings = optimistic.siblings?.map((s) => (s === id ? result.message.id : s));
      const stored: ShownMessage = { ...optimistic, ...result.message, siblings };
      this.patch(conversationId, (c) => ({ messages: c.messages.map((m) => (m.id === id ? stored : m)) }));
      this.follow(conversationId, result.reply_id);
    } catch (err) {
      this.patch(conversationId, (c) => ({
        messages: c.messages.some((m) => m.id === id) ? [...c.messages.filter((m) => m.id !== id), ...gone] : c.messages,
        error: readableError(err),
      }));
      throw err;
    }
  }

  async stop(conversationId: string) {
    const pending = this.conversation(conversationId).pending;
    if (!pending) return;
    this.patch(conversationId, { pending: { ...pending, stopping: true } });
    try {
      await this.client.stopReply(pending.replyId);
    } catch (err) {
      this.patch(conversationId, (c) => ({ error: readableError(err), pending: c.pending && { ...c.pending, stopping: false } }));
    }
  }

  /** A new version of the reply streams in its place (the branch is read again once it is done). */
  async regenerate(conversationId: string, replyId: string) {
    this.patch(conversationId, { error: undefined });
    this.change(conversationId);
    try {
      const result = await this.client.regenerate(replyId, newIdempotencyKey());
      this.patch(conversationId, (c) => ({
        messages: c.messages.filter((m) => !(m.role === 'assistant' && (m.reply_id ?? m.id) === replyId)),
      }));
      this.follow(conversationId, result.reply_id);
    } catch (err) {
      this.patch(conversationId, { error: readableError(err) });
    }
  }

  /** The same reply grows: it is shown as the pending reply while its continuation streams in. */
  async continueReply(conversationId: string, replyId: string) {
    this.patch(conversationId, { error: undefined });
    const continues = this.conversation(conversationId).messages.find((m) => m.role === 'assistant' && (m.reply_id ?? m.id) === replyId);
    if (!continues) return;
    this.change(conversationId);
    try {
      const result = await this.client.continueReply(replyId, newIdempotencyKey());
      this.patch(conversationId, (c) => ({ messages: c.messages.filter((m) => m.id !== continues.id) }));
      this.follow(conversationId, result.reply_id, continues);
    } catch (err) {
      this.patch(conversationId, { error: readableError(err) });
    }
  }

  private follow(conversationId: string, replyId: string, continues?: ShownMessage) {
    this.streams.get(conversationId)?.abort();
    const controller = new AbortController();
    this.streams.set(conversationId, controller);
    // A continuation is not followed again after a reload: the reply reloads as stored.
    if (!continues) sessionStorage.setItem(pendingKey(conversationId), replyId);
    const before = continues?.content ?? '';
    const update = (change: Partial<PendingReply>) =>
      this.patch(conversationId, (c) => ({ pending: c.pending && c.pending.replyId === replyId ? { ...c.pending, ...change } : c.pending }));
    this.patch(conversationId, { pending: { replyId, text: before, state: 'queued', stopping: false, continues } });
    void followReply({
      url: `/api/replies/${replyId}/stream`,
      getToken: (force) => this.client.getToken(force),
      fetchFn: this.client.fetcher,
      signal: controller.signal,
      onStatus: (state, position) =>
        update(state === 'generating' ? { state: 'generating', position: undefined } : { state: 'queued', position }),
      onText: (text) => update({ text: before + text, state: 'generating', position: undefined }),
      onReconnect: () => update({ state: 'reconnecting' }),
      onConnected: () => update({ state: this.conversation(conversationId).pending?.text !== before ? 'generating' : 'queued' }),
    }).then((outcome) => this.finish(conversationId, replyId, outcome, controller, continues));
  }

  private finish(conversationId: string, replyId: string, outcome: ReplyOutcome, controller: AbortController, continues?: ShownMessage) {
    if (this.streams.get(conversationId) === controller) this.streams.delete(conversationId);
    if (outcome.kind === 'aborted') return;
    if (continues) {
      this.finishContinuation(conversationId, replyId, outcome, continues);
      return;
    }
    sessionStorage.removeItem(pendingKey(conversationId));
    const base = {
      conversation_id: conversationId,
      role: 'assistant' as const,
      reply_id: replyId,
      // The reply answers the last question shown.
      parent_id: [...this.conversation(conversationId).messages].reverse().find((m) => m.role === 'user')?.id ?? null,
      created_at: new Date().toISOString(),
    };
    const message: ShownMessage =
      outcome.kind === 'done'
        ? {
            ...base,
            id: outcome.message.id ?? replyId,
            content: outcome.text,
            status: outcome.message.status ?? 'completed',
            sources: outcome.message.sources ?? [],
            finish_reason: outcome.message.finish_reason,
          }
        : { ...base, id: replyId, content: outcome.text, status: 'failed' };
    this.patch(conversationId, (c) => ({
      pending: c.pending?.replyId === replyId ? undefined : c.pending,
      messages: [...c.messages.filter((m) => m.id !== message.id), message],
      error: outcome.kind === 'error' ? outcome.message : c.error,
    }));
    // The versions of what was sent and answered, as stored (the reply shown stays until then).
    void this.reloadBranch(conversationId);
    // The server may have titled the conversation or bumped its order.
    void this.loadConversations().catch(() => undefined);
  }

  /** The continued reply as stored now; after a failure, as it was (nothing was appended). */
  private finishContinuation(conversationId: string, replyId: string, outcome: ReplyOutcome, continues: ShownMessage) {
    const message: ShownMessage =
      outcome.kind === 'done'
        ? { ...continues, ...outcome.message, id: continues.id, content: outcome.text, status: outcome.message.status ?? 'completed' }
        : continues;
    this.patch(conversationId, (c) => ({
      pending: c.pending?.replyId === replyId ? undefined : c.pending,
      messages: [...c.messages.filter((m) => m.id !== message.id), message],
      error: outcome.kind === 'error' ? outcome.message : c.error,
    }));
  }
}

export const chatStore = new ChatStore(api);

export function useChat(): ChatSnapshot {
  return useSyncExternalStore(chatStore.subscribe, chatStore.getSnapshot);
}
