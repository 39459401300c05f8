import { useState, type FormEvent } from 'react';
import { readableError } from '../api/errors';
import type { Feedback, FeedbackRating } from '../api/types';
import { ThumbDownIcon, ThumbUpIcon } from './icons';

/** The backend's bound on a comment (`MAX_FEEDBACK_COMMENT_CHARS`). */
export const MAX_COMMENT_CHARS = 2000;

export type Rate = (rating: FeedbackRating | null, comment?: string) => Promise<void>;

const RATINGS: { rating: FeedbackRating; label: string; Icon: typeof ThumbUpIcon }[] = [
  { rating: 'up', label: 'Good reply', Icon: ThumbUpIcon },
  { rating: 'down', label: 'Bad reply', Icon: ThumbDownIcon },
];

/** Thumbs up or down on a reply (pressing the chosen one again takes it back), then an optional comment. */
export function FeedbackControls({ feedback, onRate }: { feedback?: Feedback | null; onRate: Rate }) {
  const [commenting, setCommenting] = useState(false);
  const [comment, setComment] = useState(feedback?.comment ?? '');
  const [thanked, setThanked] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (rating: FeedbackRating | null, text?: string) => {
    setError(null);
    try {
      await onRate(rating, text);
      return true;
    } catch (err) {
      setError(readableError(err));
      return false;
    }
  };
  const rate = async (rating: FeedbackRating) => {
    const taken = feedback?.rating === rating;
    setThanked(false);
    if (taken) setCommenting(false);
    await run(taken ? null : rating, taken ? undefined : feedback?.comment ?? undefined);
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!feedback) return;
    if (await run(feedback.rating, comment.trim())) {
      setCommenting(false);
      setThanked(true);
    }
  };

  return (
    <div className="feedback">
      {RATINGS.map(({ rating, label, Icon }) => (
        <button
          key={rating}
          type="button"
          className={`btn btn-icon btn-ghost btn-xs ${feedback?.rating === rating ? 'chosen' : ''}`}
          aria-label={label}
          aria-pressed={feedback?.rating === rating}
          title={label}
          onClick={() => void rate(rating)}
        >
          <Icon width={14} height={14} />
        </button>
      ))}
      {feedback && !commenting && (
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => (setComment(feedback.comment ?? ''), setCommenting(true))}>
          {feedback.comment ? 'Edit comment' : 'Add a comment'}
        </button>
      )}
      {commenting && (
        <form className="feedback-form" onSubmit={save}>
          <textarea
            aria-label="Feedback comment"
            value={comment}
            maxLength={MAX_COMMENT_CHARS}
            rows={2}
            autoFocus
            placeholder="What was good or bad about this reply? (optional)"
            onChange={(e) => setComment(e.target.value)}
            onKeyDown={(e) => e.key === 'Escape' && setCommenting(false)}
          />
          <button type="submit" className="btn btn-secondary btn-sm">Save feedback</button>
        </form>
      )}
      <span className="muted small" role="status">{thanked ? 'Thanks for the feedback' : ''}</span>
      {error && <p className="form-error small" role="alert">{error}</p>}
    </div>
  );
}
