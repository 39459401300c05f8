import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { ChatSettings, Conversation, ServedModel, User } from '../api/types';
import { AttachmentChips, useAttachments } from '../components/Attachments';
import { ChatSettingsDialog } from '../components/ChatSettingsDialog';
import { Composer } from '../components/Composer';
import { ExportMenu } from '../components/ExportMenu';
import { ChatIcon, ShareIcon } from '../components/icons';
import { MessageView, PendingView } from '../components/MessageView';
import { ModelPicker } from '../components/ModelPicker';
import { ShareDialog } from '../components/ShareDialog';
import { versionToShow } from '../components/VersionNav';
import { navigate } from '../lib/router';
import { useShortcuts } from '../lib/shortcuts';
import { chatStore, isBusy, useChat, type ShownMessage } from '../state/chatStore';

// A failed reply may never have been stored; a stored one that stopped can be rated.
const RATEABLE = new Set<string>(['completed', 'stopped']);

/** A key per message: its place in the tree (what it follows, its role), so that showing another
 * version of it keeps its view, and the focus in it (a place seen twice: the message's id). */
function placeKeys(messages: ShownMessage[]): string[] {
  const seen = new Set<string>();
  return messages.map((m) => {
    const place = `${m.parent_id ?? `start of ${m.conversation_id}`}:${m.role}`;
    const key = seen.has(place) ? m.id : place;
    seen.add(key);
    return key;
  });
}

function titleFrom(text: string) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}

/** `conversationId` undefined = a new chat, created on its first message. */
export function ChatPage({ conversationId, user }: { conversationId?: string; user: User }) {
  const snapshot = useChat();
  const state = conversationId ? chatStore.conversation(conversationId) : undefined;
  const listed = [...snapshot.conversations, ...snapshot.archived].find((c) => c.id === conversationId);
  const isListed = listed !== undefined;
  // A conversation the lists do not hold (not loaded yet, archived, or beyond their first page) is
  // asked for on its own: its title and chat settings come with it.
  const [fetched, setFetched] = useState<Conversation | null>(null);
  useEffect(() => {
    if (!conversationId || isListed) return;
    let current = true;
    api.getConversation(conversationId).then(
      (found) => current && setFetched(found),
      () => undefined, // the messages' load shows what went wrong
    );
    return () => {
      current = false;
    };
  }, [conversationId, isListed]);
  const conversation = listed ?? (fetched?.id === conversationId ? fetched : undefined);
  const logRef = useRef<HTMLDivElement>(null);
  const [sharing, setSharing] = useState(false);
  const [editingSettings, setEditingSettings] = useState(false);
  const [models, setModels] = useState<ServedModel[] | null>(null);
  // A new chat's settings until its first message creates it (null: the user's defaults).
  const [draft, setDraft] = useState<ChatSettings | null>(null);
  const [settingsError, setSettingsError] = useState<string | null>(null);
  const stickToBottom = useRef(true);

  // Asked again on every conversation change: availability is probed every few seconds.
  useEffect(() => {
    api.listModels().then(setModels, () => setModels(null));
    setSettingsError(null);
    if (!conversationId) setDraft(null);
  }, [conversationId]);
  const settings: ChatSettings = conversation?.settings ?? draft ?? { model: user.settings.default_model ?? null };
  // Until a conversation's own settings are known, they can be neither shown nor changed: a form or a
  // model pick built from the defaults would overwrite them.
  const settingsKnown = !conversationId || conversation !== undefined;
  const saveSettings = async (changed: ChatSettings) => {
    if (conversationId) await chatStore.setSettings(conversationId, changed);
    else setDraft(changed);
  };
  const pickModel = (model: string | null) => {
    setSettingsError(null);
    saveSettings({ ...settings, model }).catch((e: unknown) => setSettingsError(e instanceof Error ? e.message : String(e)));
  };

  useEffect(() => {
    if (conversationId && !chatStore.conversation(conversationId).loaded) void chatStore.loadMessages(conversationId);
  }, [conversationId]);

  // Follow the stream while the reader is at the bottom; leave them alone if they scrolled up.
  useEffect(() => {
    const el = logRef.current;
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight;
  });
  const onScroll = () => {
    const el = logRef.current;
    if (el) stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  };

  // A new chat is created by its first message, or by its first attachment (titled after the file).
  const creating = useRef<Promise<string> | null>(null);
  const ensureConversation = (title: string): Promise<string> => {
    if (conversationId) return Promise.resolve(conversationId);
    creating.current ??= (async () => {
      const id = (await chatStore.createConversation(titleFrom(title))).id;
      if (draft) await chatStore.setSettings(id, draft);
      navigate(`/c/${id}`);
      return id;
    })().finally(() => {
      creating.current = null;
    });
    return creating.current;
  };
  const attachments = useAttachments(conversationId, () => ensureConversation('Attached files'));

  const messagesSoFar = state?.messages ?? [];
  // A chip stays in the composer until a message is sent with it; then the message shows it.
  const sentWith = new Set(messagesSoFar.flatMap((m) => (m.attachments ?? []).map((a) => a.document_id)));
  const unsent = attachments.docs.filter((d) => !sentWith.has(d.id));

  const send = async (text: string) => {
    stickToBottom.current = true;
    const id = await ensureConversation(text);
    const files = unsent.filter((d) => d.status !== 'failed').map((d) => ({ document_id: d.id, filename: d.filename }));
    await chatStore.send(id, text, files);
  };

  const messages = state?.messages ?? [];
  const pending = state?.pending;
  const streaming = Boolean(pending && !pending.stopping);
  const stop = () => {
    if (conversationId) void chatStore.stop(conversationId);
  };
  // No edit and no other version while a send or a reply is in flight: the branch is about to change.
  const busy = state ? isBusy(state) : false;
  const showVersion = conversationId && !busy ? (messageId: string) => void chatStore.showVersion(conversationId, messageId) : undefined;
  const stepVersion = (step: -1 | 1) => {
    const focused = document.activeElement?.closest('[data-message-id]')?.getAttribute('data-message-id') ?? undefined;
    const version = versionToShow(messages, focused, step);
    if (!showVersion || !version) return false;
    showVersion(version);
  };
  useShortcuts({
    stop: streaming ? stop : undefined,
    previousVersion: () => stepVersion(-1),
    nextVersion: () => stepVersion(1),
  });
  const keys = placeKeys(messages);
  const lastAssistant = [...messages].reverse().find((m) => m.role === 'assistant');
  const lastIsAssistant = messages.length > 0 && messages[messages.length - 1].role === 'assistant';
  const userName = user.display_name || user.email.split('@')[0];

  return (
    <section className="chat" aria-label="Chat">
      <header className="page-head">
        <h1 className="page-title">{conversation?.title || (conversationId ? 'Conversation' : 'New chat')}</h1>
        <button type="button" className="btn btn-sm btn-ghost share-button" aria-label="Chat settings" disabled={!settingsKnown} onClick={() => setEditingSettings(true)}>
          Settings
        </button>
        {conversationId && (
          <button type="button" className="btn btn-sm btn-ghost" aria-label="Share this conversation" onClick={() => setSharing(true)}>
            <ShareIcon width={14} height={14} /> Share
          </button>
        )}
        {conversationId && <ExportMenu what="this conversation" download={(format) => api.exportConversation(conversationId, format)} />}
      </header>
      {conversationId && sharing && <ShareDialog conversationId={conversationId} onClose={() => setSharing(false)} />}
      {editingSettings && settingsKnown && (
        <ChatSettingsDialog
          key={conversationId ?? 'new'}
          settings={settings}
          models={models ?? []}
          isAdmin={user.is_admin}
          onSave={saveSettings}
          onClose={() => setEditingSettings(false)}
        />
      )}
      <div className="log-wrap" ref={logRef} onScroll={onScroll}>
        <div role="log" aria-label="Messages" aria-live="polite" className="log">
          {!conversationId && (
            <div className="empty">
              <div className="empty-icon" aria-hidden="true"><ChatIcon width={28} height={28} /></div>
              <h2>How can I help, {userName}?</h2>
              <p className="muted">Ask anything. Upload documents and Alice answers from them with citations.</p>
            </div>
          )}
          {state?.loadError && <p className="form-error" role="alert">{state.loadError}</p>}
          {conversationId && state && !state.loaded && <p className="muted center">Loading messages…</p>}
          {messages.map((m, i) => (
            <MessageView
              key={keys[i]}
              message={m}
              userName={userName}
              onEdit={conversationId && m.role === 'user' && !busy ? (content) => chatStore.edit(conversationId, m.id, content) : undefined}
              onShowVersion={showVersion}
              onRegenerate={
                !pending && m === lastAssistant && lastIsAssistant && conversationId
                  ? () => void chatStore.regenerate(conversationId, m.reply_id ?? m.id)
                  : undefined
              }
              onContinue={
                !pending && m === lastAssistant && lastIsAssistant && conversationId && m.finish_reason === 'length'
                  ? () => void chatStore.continueReply(conversationId, m.reply_id ?? m.id)
                  : undefined
              }
              onRate={
                conversationId && m.role === 'assistant' && RATEABLE.has(m.status)
                  ? (rating, comment) => chatStore.rateReply(conversationId, m.reply_id ?? m.id, rating, comment)
                  : undefined
              }
            />
          ))}
          {pending && <PendingView text={pending.text} state={pending.state} position={pending.position} />}
        </div>
      </div>
      {settingsError && (
        <p className="banner-error" role="alert">
          {settingsError}
        </p>
      )}
      {state?.error && (
        <p className="banner-error" role="alert">
          {state.error}
        </p>
      )}
      <Composer
        streaming={streaming}
        canSend={!pending}
        onSend={send}
        onStop={stop}
        autoFocusKey={conversationId ?? 'new'}
        tools={<ModelPicker models={models} value={settings.model ?? null} onChange={pickModel} disabled={streaming || !settingsKnown} />}
        attachments={<AttachmentChips state={{ ...attachments, docs: unsent }} />}
        onFiles={attachments.attach}
      />
    </section>
  );
}
