import { errorFromResponse } from './errors';
import { SSEParser, type SSEEvent } from './sse';
import type { Message, ReplyStatus } from './types';

/** The stored reply as the `done` event carries it: a message of the conversation's history. */
export type DoneMessage = Partial<Message> & Pick<Message, 'content'>;

export type ReplyOutcome =
  | { kind: 'done'; text: string; message: DoneMessage }
  | { kind: 'error'; text: string; code: string; message: string }
  | { kind: 'aborted'; text: string };

export interface ReplyStreamOptions {
  /** `GET /api/replies/{id}/stream` */
  url: string;
  /** Access token; `force` asks for a renewed one after a 401. */
  getToken: (force?: boolean) => Promise<string | null>;
  /** Resume after this event id (e.g. after a page reload); omitted = from the start. */
  lastEventId?: string;
  signal?: AbortSignal;
  /** `queued` (with `position` while waiting for a busy model, 1 = next) or `generating`. */
  onStatus?: (state: string, position?: ReplyStatus['position']) => void;
  /** The whole reply text so far (after every token and after a reset). */
  onText?: (text: string) => void;
  onReset?: () => void;
  /** A connection dropped; the next attempt starts after `delayMs`. */
  onReconnect?: (attempt: number, delayMs: number) => void;
  /** Connected (again) and receiving. */
  onConnected?: () => void;
  fetchFn?: typeof fetch;
  /** Consecutive failed attempts before giving up. */
  maxRetries?: number;
  backoffMs?: (attempt: number) => number;
  /** No bytes (not even a heartbeat) for this long = the connection is dead. */
  idleTimeoutMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const defaultBackoff = (attempt: number) =>
  Math.min(500 * 2 ** (attempt - 1), 8000) * (1 + Math.random() * 0.2);

/** Waits `ms`, or less when the browser comes back online, or until aborted. */
export function wakeableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      if (typeof window !== 'undefined') window.removeEventListener('online', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
    if (typeof window !== 'undefined') window.addEventListener('online', done);
  });
}

/** Redis stream ids (`<ms>-<seq>`) compare numerically; anything else is not comparable. */
export function isAfter(id: string, last: string | undefined): boolean {
  if (!last) return true;
  const a = /^(\d+)-(\d+)$/.exec(id);
  const b = /^(\d+)-(\d+)$/.exec(last);
  if (!a || !b) return id !== last;
  const [am, as, bm, bs] = [a[1], a[2], b[1], b[2]].map(BigInt);
  return am > bm || (am === bm && as > bs);
}

function parseData(event: SSEEvent): Record<string, unknown> {
  try {
    const value = JSON.parse(event.data);
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}

class StreamClosed extends Error {}

/**
 * Follows one reply stream to its end. Uses fetch (not EventSource) so it can send the
 * Authorization header; on any drop it reconnects with backoff and `Last-Event-ID`, and skips
 * events it has already seen, so text is neither lost nor duplicated.
 */
export async function followReply(opts: ReplyStreamOptions): Promise<ReplyOutcome> {
  const fetchFn = opts.fetchFn ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  const maxRetries = opts.maxRetries ?? 10;
  const backoff = opts.backoffMs ?? defaultBackoff;
  const sleep = opts.sleep ?? wakeableSleep;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 45_000;
  const outer = opts.signal;

  let text = '';
  let lastId = opts.lastEventId;
  let failures = 0;
  let authRetried = false;
  let lastProblem = 'The connection to the server was lost.';

  const handle = (event: SSEEvent): ReplyOutcome | null => {
    if (event.id !== undefined) {
      if (!isAfter(event.id, lastId)) return null;
      lastId = event.id;
    }
    failures = 0;
    const data = parseData(event);
    switch (event.event) {
      case 'status': {
        const position = Number.isInteger(data.position) && (data.position as number) >= 1 ? (data.position as number) : undefined;
        opts.onStatus?.(String(data.state ?? ''), position);
        return null;
      }
      case 'token':
        text += typeof data.delta === 'string' ? data.delta : '';
        opts.onText?.(text);
        return null;
      case 'reset':
        text = '';
        opts.onReset?.();
        opts.onText?.(text);
        return null;
      case 'done': {
        const message = (data.message ?? {}) as DoneMessage;
        const final = typeof message.content === 'string' ? message.content : text;
        return { kind: 'done', text: final, message: { ...message, content: final } };
      }
      // The server's failure event; never `error`, which EventSource uses for dropped connections.
      case 'failed':
        return {
          kind: 'error',
          text,
          code: String(data.code ?? 'error'),
          message: String(data.message || 'The reply failed. Please try again.'),
        };
      default:
        return null;
    }
  };

  while (!outer?.aborted) {
    const attempt = new AbortController();
    const abortAttempt = () => attempt.abort();
    outer?.addEventListener('abort', abortAttempt);
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(abortAttempt, idleTimeoutMs);
    };
    try {
      const token = await opts.getToken(false);
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (lastId) headers['Last-Event-ID'] = lastId;
      armIdle();
      const res = await fetchFn(opts.url, { headers, signal: attempt.signal, cache: 'no-store', credentials: 'same-origin' });
      if (res.status === 401 && !authRetried) {
        authRetried = true;
        await opts.getToken(true);
        continue;
      }
      if (!res.ok) {
        const err = await errorFromResponse(res);
        if (res.status < 500 && res.status !== 429) {
          return { kind: 'error', text, code: err.code, message: err.message };
        }
        throw err;
      }
      authRetried = false;
      // 204: the reply had already ended at `lastId`, the last event this client saw.
      if (res.status === 204) {
        return { kind: 'error', text, code: 'reply_finished', message: 'This reply has already finished; reload the conversation to see it.' };
      }
      if (!res.body) throw new StreamClosed('The server sent no stream.');
      opts.onConnected?.();
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SSEParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armIdle();
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          const outcome = handle(event);
          if (outcome) {
            void reader.cancel().catch(() => undefined);
            return outcome;
          }
        }
      }
      lastProblem = 'The reply stream ended early.';
    } catch (err) {
      if (outer?.aborted) break;
      if (err instanceof TypeError) lastProblem = 'Cannot reach the server.';
      else if (err instanceof Error && err.name !== 'AbortError' && err.message) lastProblem = err.message;
    } finally {
      clearTimeout(idleTimer);
      outer?.removeEventListener('abort', abortAttempt);
    }
    if (outer?.aborted) break;
    failures += 1;
    if (failures > maxRetries) {
      return {
        kind: 'error',
        text,
        code: 'stream_lost',
        message: `${lastProblem} The reply could not be resumed; reload the page to see the stored answer.`,
      };
    }
    const delay = backoff(failures);
    opts.onReconnect?.(failures, delay);
    await sleep(delay, outer);
  }
  return { kind: 'aborted', text };
}
