import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { readableError } from '../api/errors';
import type { Conversation, SearchHit, User } from '../api/types';
import { isAdmin } from '../auth';
import { Link, navigate } from '../lib/router';
import type { Theme } from '../lib/theme';
import { chatStore, useChat } from '../state/chatStore';
import { ConfirmDialog } from './ConfirmDialog';
import { ArchiveIcon, ChartIcon, DocIcon, DownloadIcon, KeyIcon, MoonIcon, PencilIcon, PinIcon, PlusIcon, SignOutIcon, SunIcon, TrashIcon } from './icons';

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return debounced;
}

function SearchResults({ query, onPick }: { query: string; onPick: () => void }) {
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setHits(null);
    setError(null);
    api.search(query, 12).then(
      (h) => live && setHits(h),
      (e) => live && setError(readableError(e)),
    );
    return () => {
      live = false;
    };
  }, [query]);
  if (error) return <p className="form-error side-pad" role="alert">{error}</p>;
  if (!hits) return <p className="muted side-pad">Searching…</p>;
  if (!hits.length) return <p className="muted side-pad">Nothing found for “{query}”.</p>;
  return (
    <ul className="search-hits" aria-label="Search results">
      {hits.map((hit, i) => {
        const isDoc = hit.type === 'document';
        const to = isDoc ? `/documents?focus=${hit.document_id}` : hit.conversation_id ? `/c/${hit.conversation_id}` : '/';
        return (
          <li key={i}>
            <Link to={to} className="hit" onClick={onPick}>
              <span className="hit-kind">{isDoc ? hit.filename || 'Document' : 'Conversation'}</span>
              <span className="hit-text">{hit.snippet}</span>
            </Link>
          </li>
        );
      })}
    </ul>
  );
}

function ConversationItem({ conversation, active, onPick }: { conversation: Conversation; active: boolean; onPick: () => void }) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(conversation.title ?? '');
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const name = conversation.title || 'Untitled';

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const next = title.trim();
    setEditing(false);
    if (!next || next === conversation.title) return;
    try {
      await chatStore.rename(conversation.id, next);
    } catch (err) {
      setError(readableError(err));
    }
  };
  const remove = async () => {
    setConfirming(false);
    try {
      await chatStore.remove(conversation.id);
      if (active) navigate('/');
    } catch (err) {
      setError(readableError(err));
    }
  };
  const attempt = (change: Promise<void>) => change.catch((err) => setError(readableError(err)));
  const { pinned, archived } = conversation;

  return (
    <li className={`conv ${active ? 'active' : ''}`}>
      {editing ? (
        <form onSubmit={save} className="conv-edit">
          <input
            aria-label="Conversation title"
            value={title}
            autoFocus
            onChange={(e) => setTitle(e.target.value)}
            onBlur={save}
            onKeyDown={(e) => e.key === 'Escape' && (setTitle(conversation.title ?? ''), setEditing(false))}
          />
        </form>
      ) : (
        <>
          {pinned && (
            <span className="pin-mark" role="img" aria-label="Pinned" title="Pinned">
              <PinIcon width={12} height={12} />
            </span>
          )}
          <Link to={`/c/${conversation.id}`} className="conv-link" aria-current={active ? 'page' : undefined} onClick={onPick}>
            {name}
          </Link>
          <span className="conv-actions">
            <button
              type="button"
              className={`btn btn-icon btn-ghost btn-xs ${pinned ? 'chosen' : ''}`}
              aria-label={`${pinned ? 'Unpin' : 'Pin'} ${name}`}
              title={pinned ? 'Unpin' : 'Pin'}
              onClick={() => void attempt(chatStore.setPinned(conversation.id, !pinned))}
            >
              <PinIcon width={14} height={14} />
            </button>
            <button type="button" className="btn btn-icon btn-ghost btn-xs" aria-label={`Rename ${name}`} title="Rename" onClick={() => setEditing(true)}>
              <PencilIcon width={14} height={14} />
            </button>
            <button
              type="button"
              className="btn btn-icon btn-ghost btn-xs"
              aria-label={`${archived ? 'Unarchive' : 'Archive'} ${name}`}
              title={archived ? 'Unarchive' : 'Archive'}
              onClick={() => void attempt(chatStore.setArchived(conversation.id, !archived))}
            >
              <ArchiveIcon width={14} height={14} />
            </button>
            <button type="button" className="btn btn-icon btn-ghost btn-xs" aria-label={`Delete ${name}`} title="Delete" onClick={() => setConfirming(true)}>
              <TrashIcon width={14} height={14} />
            </button>
          </span>
        </>
      )}
      {error && <p className="form-error small" role="alert">{error}</p>}
      {confirming && (
        <ConfirmDialog
          title="Delete this conversation?"
          body={`“${name}” and its messages will be deleted. This cannot be undone.`}
          confirmLabel="Delete"
          onConfirm={remove}
          onCancel={() => setConfirming(false)}
        />
      )}
    </li>
  );
}

export function Sidebar({
  user,
  activeId,
  path,
  open,
  onClose,
  theme,
  onToggleTheme,
  onSignOut,
}: {
  user: User;
  activeId?: string;
  path: string;
  open: boolean;
  onClose: () => void;
  theme: Theme;
  onToggleTheme: () => void;
  onSignOut: () => void;
}) {
  const { conversations, conversationsLoaded, archived, archivedLoaded } = useChat();
  const [query, setQuery] = useState('');
  const [loadError, setLoadError] = useState<string | null>(null);
  const [showArchived, setShowArchived] = useState(false);
  const debounced = useDebounced(query.trim(), 300);

  useEffect(() => {
    chatStore.loadConversations().catch((e) => setLoadError(readableError(e)));
  }, []);
  useEffect(() => {
    if (showArchived) chatStore.loadArchived().catch((e) => setLoadError(readableError(e)));
  }, [showArchived]);
  const shown = showArchived ? archived : conversations;

  return (
    <aside className={`sidebar ${open ? 'open' : ''}`}>
      <div className="side-top">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">A</span>
          <span>Alice</span>
        </div>
        <button
          type="button"
          className="btn btn-primary btn-block"
          onClick={() => {
            navigate('/');
            onClose();
          }}
        >
          <PlusIcon /> New chat
        </button>
        <input type="search" className="search" aria-label="Search" placeholder="Search messages and documents" value={query} onChange={(e) => setQuery(e.target.value)} />
      </div>
      <nav aria-label="Conversations" className="side-list">
        {debounced ? (
          <SearchResults query={debounced} onPick={onClose} />
        ) : (
          <>
            <div className="side-heading-row">
              <h2 className="side-heading">{showArchived ? 'Archived conversations' : 'Conversations'}</h2>
              <button type="button" className="btn btn-ghost btn-sm" aria-pressed={showArchived} onClick={() => setShowArchived(!showArchived)}>
                <ArchiveIcon width={14} height={14} /> Archived
              </button>
            </div>
            {loadError && <p className="form-error side-pad" role="alert">{loadError}</p>}
            {!showArchived && conversationsLoaded && conversations.length === 0 && <p className="muted side-pad">No conversations yet.</p>}
            {showArchived && archivedLoaded && archived.length === 0 && <p className="muted side-pad">No archived conversations.</p>}
            <ul className="conv-list">
              {shown.map((c) => (
                <ConversationItem key={c.id} conversation={c} active={c.id === activeId} onPick={onClose} />
              ))}
            </ul>
          </>
        )}
      </nav>
      <div className="side-bottom">
        <Link to="/documents" className={`side-link ${path === '/documents' ? 'active' : ''}`} onClick={onClose}>
          <DocIcon /> Documents
        </Link>
        <Link to="/settings" className={`side-link ${path === '/settings' ? 'active' : ''}`} onClick={onClose}>
          <KeyIcon /> Settings
        </Link>
        <Link to="/export" className={`side-link ${path === '/export' ? 'active' : ''}`} onClick={onClose}>
          <DownloadIcon /> Export and import
        </Link>
        {isAdmin(user) && (
          <Link to="/admin" className={`side-link ${path === '/admin' ? 'active' : ''}`} onClick={onClose}>
            <ChartIcon /> Admin
          </Link>
        )}
        <div className="me">
          <span className="avatar avatar-sm" aria-hidden="true">{(user.display_name || user.email).slice(0, 1).toUpperCase()}</span>
          <span className="me-name" title={user.email}>{user.display_name || user.email}</span>
          <button type="button" className="btn btn-icon btn-ghost" onClick={onToggleTheme} aria-label={theme === 'dark' ? 'Use light theme' : 'Use dark theme'} title="Toggle theme">
            {theme === 'dark' ? <SunIcon /> : <MoonIcon />}
          </button>
          <button type="button" className="btn btn-icon btn-ghost" onClick={onSignOut} aria-label="Sign out" title="Sign out">
            <SignOutIcon />
          </button>
        </div>
      </div>
    </aside>
  );
}
