import type { Message, Source } from '../api/types';
import { Link } from '../lib/router';
import { RefreshIcon } from './icons';
import { Markdown } from './Markdown';

function sourceLabel(source: Source, index: number) {
  const chunk = source.chunk_index ?? source.chunk;
  return `${index + 1}. ${source.filename ?? 'document'}${chunk !== undefined ? ` · part ${chunk + 1}` : ''}`;
}

export function Sources({ sources }: { sources: Source[] }) {
  if (!sources.length) return null;
  return (
    <ul className="sources" aria-label="Sources">
      {sources.map((source, i) => (
        <li key={`${source.document_id}-${i}`}>
          <Link
            className="chip"
            to={source.document_id ? `/documents?focus=${encodeURIComponent(source.document_id)}` : '/documents'}
            title={source.snippet ?? source.text ?? undefined}
          >
            {sourceLabel(source, i)}
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
}: {
  message: Message;
  userName: string;
  onRegenerate?: () => void;
}) {
  const mine = message.role === 'user';
  const author = mine ? userName : 'Alice';
  const note = STATUS_NOTE[message.status ?? ''];
  return (
    <article className={`message ${mine ? 'from-user' : 'from-assistant'}`} aria-label={`${author} said`} data-message-id={message.id} data-status={message.status}>
      <div className="avatar" aria-hidden="true">{mine ? author.slice(0, 1).toUpperCase() : 'A'}</div>
      <div className="bubble">
        <div className="author">{author}</div>
        {mine ? <p className="plain">{message.content}</p> : <Markdown source={message.content} />}
        {!mine && <Sources sources={message.sources ?? []} />}
        {(note || onRegenerate) && (
          <div className="message-foot">
            {note && <span className={`tag tag-${message.status}`}>{note}</span>}
            {onRegenerate && (
              <button type="button" className="btn btn-ghost btn-sm" onClick={onRegenerate}>
                <RefreshIcon width={14} height={14} /> Regenerate
              </button>
            )}
          </div>
        )}
      </div>
    </article>
  );
}

const STATE_LABEL = { queued: 'Waiting for Alice…', generating: 'Alice is writing…', reconnecting: 'Connection lost, reconnecting…' };

export function PendingView({ text, state }: { text: string; state: keyof typeof STATE_LABEL }) {
  return (
    <article className="message from-assistant pending" aria-label="Alice is replying" aria-busy="true" data-state={state}>
      <div className="avatar" aria-hidden="true">A</div>
      <div className="bubble">
        <div className="author">Alice</div>
        {text ? <Markdown source={text} /> : <div className="typing" aria-hidden="true"><span /><span /><span /></div>}
        <div className={`stream-state state-${state}`}>{STATE_LABEL[state]}</div>
      </div>
    </article>
  );
}
