import type { FeedbackStats } from '../api/types';

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** The ratings of replies: the share of up and down per model, and the newest comments. */
export function AdminFeedback({ stats }: { stats: FeedbackStats }) {
  return (
    <div className="card">
      <h2 className="card-title">Reply feedback</h2>
      {stats.models.length === 0 ? (
        <p className="muted">No reply has been rated yet.</p>
      ) : (
        <table className="feedback-table">
          <caption className="visually-hidden">Ratings per model</caption>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Up</th>
              <th scope="col">Down</th>
              <th scope="col">Share up</th>
            </tr>
          </thead>
          <tbody>
            {stats.models.map((m) => (
              <tr key={m.model}>
                <th scope="row">{m.model}</th>
                <td>{m.up}</td>
                <td>{m.down}</td>
                <td>
                  <meter className="share-meter" min={0} max={1} value={m.up_share} aria-hidden="true" />{' '}
                  {percent(m.up_share)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3 className="card-subtitle">Latest comments</h3>
      {stats.latest_comments.length === 0 ? (
        <p className="muted">No comments yet.</p>
      ) : (
        <ul className="feedback-comments" aria-label="Latest comments">
          {stats.latest_comments.map((c, i) => (
            <li key={i}>
              <span className={`tag ${c.rating === 'up' ? 'tag-up' : 'tag-failed'}`}>{c.rating === 'up' ? 'Up' : 'Down'}</span>{' '}
              <span className="muted small">
                {c.model} · {new Date(c.updated_at).toLocaleString()}
              </span>
              <p className="feedback-comment">{c.comment}</p>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
