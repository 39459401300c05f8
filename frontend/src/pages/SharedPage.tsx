import { useEffect, useState } from 'react';
import { api, ApiError } from '../api/client';
import { readableError } from '../api/errors';
import type { SharedConversation } from '../api/types';
import { Markdown } from '../components/Markdown';

type Loaded = { status: 'loading' } | { status: 'gone' } | { status: 'error'; message: string } | { status: 'ready'; shared: SharedConversation };

/** `/s/:token`: the read-only snapshot behind a shared link, for anyone, signed in or not. It
 * names no one: the asker is "User", never the account's name. */
export function SharedPage({ token }: { token: string }) {
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });

  useEffect(() => {
    api.readShared(token).then(
      (shared) => setLoaded({ status: 'ready', shared }),
      (err) => setLoaded(err instanceof ApiError && err.status === 404 ? { status: 'gone' } : { status: 'error', message: readableError(err) }),
    );
  }, [token]);

  useEffect(() => {
    if (loaded.status === 'ready') document.title = `${loaded.shared.title || 'Shared conversation'} · Alice`;
  }, [loaded]);

  return (
    <main className="shared" aria-label="Shared conversation">
      <header className="page-head shared-head">
        <span className="brand-mark" aria-hidden="true">A</span>
        <h1 className="page-title">{loaded.status === 'ready' ? loaded.shared.title || 'Shared conversation' : 'Shared conversation'}</h1>
      </header>
      <div className="log-wrap">
        <div className="log">
          {loaded.status === 'loading' && <p className="muted center" role="status">Loading…</p>}
          {loaded.status === 'gone' && (
            <div className="empty" role="alert">
              <h2>This link was revoked or does not exist</h2>
              <p className="muted">Ask whoever sent it for a new one.</p>
            </div>
          )}
          {loaded.status === 'error' && <p className="form-error" role="alert">{loaded.message}</p>}
          {loaded.status === 'ready' && (
            <>
              <p className="muted small center">
                A read-only copy, shared {new Date(loaded.shared.shared_at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}
              </p>
              {loaded.shared.messages.length === 0 && <p className="muted center">This conversation had no messages yet.</p>}
              <div role="log" aria-label="Messages" className="shared-log">
                {loaded.shared.messages.map((m, i) => {
                  const mine = m.role === 'user';
                  const author = mine ? 'User' : 'Alice';
                  return (
                    <article key={i} className={`message ${mine ? 'from-user' : 'from-assistant'}`} aria-label={`${author} said`}>
                      <div className="avatar" aria-hidden="true">{author.slice(0, 1)}</div>
                      <div className="bubble">
                        <div className="author">{author}</div>
                        {mine ? <p className="plain">{m.content}</p> : <Markdown source={m.content} />}
                      </div>
                    </article>
                  );
                })}
              </div>
            </>
          )}
        </div>
      </div>
    </main>
  );
}
