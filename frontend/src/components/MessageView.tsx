import { useEffect, useRef, useState } from 'react';
import type { Source } from '../api/types';
import type { ShownMessage } from '../state/chatStore';
import { Link } from '../lib/router';
import { CopyMessageButton } from './CopyMessageButton';
import { FeedbackControls, type Rate } from './FeedbackControls';
import { ContinueIcon, PencilIcon, RefreshIcon } from './icons';
import { Markdown } from './Markdown';
import { MessageEditor } from './MessageEditor';
import { VersionNav } from './VersionNav';

interface Citation {
  documentId?: string;
  filename?: string;
  part?: number;
  snippet?: string;
}

// A source as the orchestrator stored it (`Source` in the OpenAPI document); an empty field shows
// its fallback.
function citation(source: Source): Citation {
  return {
    documentId: source.document_id || undefined,
    filename: source.filename || undefined,
    part: source.chunk + 1,
    snippet: source.snippet || undefined,
  };
}

function citationLabel({ filename, part }: Citation, index: number) {
  return `${index + 1}. ${filename ?? 'document'}${part !== undefined ? ` · part ${part}` : ''}`;
}

export function Sources({ sources }: { sources: Source[] }) {
  if (!sources.length) return null;
  return (
    <ul className="sources" aria-label="Sources">
      {sources.map(citation).map((source, i) => (
        <li key={`${source.documentId}-${i}`}>
          <Link
            className="chip"
            to={source.documentId ? `/documents?focus=${encodeURIComponent(source.documentId)}` : '/documents'}
            title={source.snippet}
          >
            {citationLabel(source, i)}
          </Link>
        </li>
      ))}
    </ul>
  );
}

const STATUS_NOTE: Record<string, string> = { stopped: 'Stopped', failed: 'Did not finish' };

export function MessageView({
  message,
  userName,
  onRegenerate,
  onContinue,
  onRate,
  onEdit,
  onShowVersion,
}: {
  message: ShownMessage;
  userName: string;
  onRegenerate?: () => void;
  /** A reply cut at its length limit: continues it. */
  onContinue?: () => void;
  /** A stored reply: rates it. */
  onRate?: Rate;
  /** A user message that can be edited now: sends the edited text as a new version of it. */
  onEdit?: (content: string) => Promise<void>;
  /** Shows another of the message's versions (`siblings`); absent: its navigator is disabled. */
  onShowVersion?: (messageId: string) => void;
}) {
  const mine = message.role === 'user';
  const author = mine ? userName : 'Alice';
  const note = STATUS_NOTE[message.status ?? ''];
  // The message being edited, by id: the page keeps this view when another version takes its place.
  const [editing, setEditing] = useState<string | null>(null);
  const editButton = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (editing || !refocus.current) return;
    refocus.current = false;
    editButton.current?.focus();
  }, [editing]);
  const cancelEdit = () => {
    refocus.current = true;
    setEditing(null);
  };
  const sendEdit = async (content: string) => {
    await onEdit?.(content);
    setEditing(null);
  };

  return (
    <article className={`message ${mine ? 'from-user' : 'from-assistant'}`} aria-label={`${author} said`} data-message-id={message.id} data-status={message.status}>
      <div className="avatar" aria-hidden="true">{mine ? author.slice(0, 1).toUpperCase() : 'A'}</div>
      {mine && editing === message.id ? (
        <div className="bubble editing">
          <MessageEditor initial={message.content} onSend={onEdit && sendEdit} onCancel={cancelEdit} />
        </div>
      ) : (
        <div className="bubble">
          <div className="author">{author}</div>
          {mine ? <p className="plain">{message.content}</p> : <Markdown source={message.content} />}
          {mine && !!message.attachments?.length && (
            <ul className="sources" aria-label="Attached files">
              {message.attachments.map((a) => (
                <li key={a.document_id}>
                  <span className="chip">{a.filename}</span>
                </li>
              ))}
            </ul>
          )}
          {!mine && <Sources sources={message.sources ?? []} />}
          {!mine && (message.left_out_turns ?? 0) > 0 && (
            <p className="context-note" role="note">
              {leftOutNote(message.left_out_turns ?? 0)}
            </p>
          )}
          <div className="message-foot">
            {message.siblings && <VersionNav versions={message.siblings} current={message.id} onShow={onShowVersion} />}
            {note && <span className={`tag tag-${message.status}`}>{note}</span>}
            <CopyMessageButton text={message.content} />
            {mine && onEdit && (
              <button ref={editButton} type="button" className="btn btn-ghost btn-sm" aria-label="Edit text" onClick={() => setEditing(message.id)}>
                <PencilIcon width={14} height={14} /> Edit
              </button>
            )}
            {onRegenerate && (
              <button type="button" className="btn btn-ghost btn-sm" onClick={onRegenerate}>
                <RefreshIcon width={14} height={14} /> Regenerate
              </button>
            )}
            {onContinue && (
              <button type="button" className="btn btn-ghost btn-sm" onClick={onContinue} title="The reply reached its length limit: go on writing it">
                <ContinueIcon width={14} height={14} /> Continue
              </button>
            )}
            {onRate && <FeedbackControls key={message.id} feedback={message.feedback} onRate={onRate} />}
          </div>
        </div>
      )}
    </article>
  );
}

/** Under a reply whose prompt had to leave earlier turns out to fit the model's context. */
export function leftOutNote(turns: number): string {
  const what = turns === 1 ? '1 earlier message was' : `${turns} earlier messages were`;
  return `${what} left out of this answer: the conversation no longer fits the model's context.`;
}

const STATE_LABEL = { queued: 'Waiting for Alice…', generating: 'Alice is writing…', reconnecting: 'Connection lost, reconnecting…' };

/** What the pending reply's line says; a reply waiting for a busy model says where it is in line. */
export function stateLabel(state: keyof typeof STATE_LABEL, position?: number): string {
  if (state === 'queued' && position) return `Waiting for the model — position ${position} in queue`;
  return STATE_LABEL[state];
}

export function PendingView({ text, state, position }: { text: string; state: keyof typeof STATE_LABEL; position?: number }) {
  return (
    <article className="message from-assistant pending" aria-label="Alice is replying" aria-busy="true" data-state={state}>
      <div className="avatar" aria-hidden="true">A</div>
      <div className="bubble">
        <div className="author">Alice</div>
        {text ? <Markdown source={text} /> : <div className="typing" aria-hidden="true"><span /><span /><span /></div>}
        <div className={`stream-state state-${state}`} role="status">
          {stateLabel(state, position)}
        </div>
      </div>
    </article>
  );
}
