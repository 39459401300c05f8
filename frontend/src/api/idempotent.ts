// Requests that start a reply (send, regenerate, continue) carry an `Idempotency-Key` (docs/api.md,
// "Retrying a send"): one key per composed message or regenerate or continue click, reused on every retry,
// so a retry after a lost answer or an `outcome_unknown` never sends the message twice.
import { ApiError } from './errors';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** A fresh key: one per message the user composes (or per regenerate or continue click). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

/** Answers worth retrying with the same key: nothing or an unknown outcome came back. */
function retryable(err: unknown): boolean {
  if (err instanceof TypeError) return true; // the network failed: the request may have arrived
  return (
    err instanceof ApiError &&
    (err.status === 502 || err.status === 503 || err.status === 504 ||
      (err.status === 409 && err.code === 'idempotency_key_in_use'))
  );
}

export interface RetryPolicy {
  attempts: number;
  delayMs: (attempt: number) => number;
  sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  delayMs: (attempt) => Math.min(4000, 500 * 2 ** attempt),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Runs `request(key)` until it succeeds, fails for good, or the attempts run out; the same key
 * every time. */
export async function withIdempotencyKey<T>(
  request: (headers: Record<string, string>) => Promise<T>,
  key: string = newIdempotencyKey(),
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  const headers = { [IDEMPOTENCY_HEADER]: key };
  for (let attempt = 0; ; attempt++) {
    try {
      return await request(headers);
    } catch (err) {
      if (attempt + 1 >= policy.attempts || !retryable(err)) throw err;
      await policy.sleep(policy.delayMs(attempt));
    }
  }
}
