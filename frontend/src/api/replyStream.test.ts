import { describe, expect, it, vi } from 'vitest';
import { followReply, isAfter } from './replyStream';
import { frame, jsonResponse, scriptedFetch, sseResponse } from './testing';

const URL = '/api/replies/r1/stream';
const token = (id: string, delta: string) => frame({ id, event: 'token', data: { delta } });
const done = (id: string, content: string) =>
  frame({ id, event: 'done', data: { message: { id: 'r1', content, sources: [], usage: {} } } });
const noSleep = async () => undefined;

function run(fetchFn: typeof fetch, extra: Partial<Parameters<typeof followReply>[0]> = {}) {
  const texts: string[] = [];
  const getToken = vi.fn(async (force?: boolean) => (force ? 'fresh' : 'stale'));
  const promise = followReply({
    url: URL,
    getToken,
    fetchFn,
    sleep: noSleep,
    backoffMs: () => 1,
    onText: (t) => texts.push(t),
    ...extra,
  });
  return { promise, texts, getToken };
}

describe('followReply', () => {
  it('streams tokens and finishes with the done message, sending the bearer token', async () => {
    const { fetch, calls } = scriptedFetch([
      sseResponse([frame({ id: '1-0', event: 'status', data: { state: 'generating' } }), token('1-1', 'Hi'), token('1-2', ' there'), done('1-3', 'Hi there')]),
    ]);
    const statuses: string[] = [];
    const { promise, texts } = run(fetch, { onStatus: (s) => statuses.push(s) });
    const outcome = await promise;
    expect(outcome).toMatchObject({ kind: 'done', text: 'Hi there', message: { id: 'r1', content: 'Hi there' } });
    expect(texts).toEqual(['Hi', 'Hi there']);
    expect(statuses).toEqual(['generating']);
    expect(calls[0].headers.Authorization).toBe('Bearer stale');
    expect(calls[0].headers['Last-Event-ID']).toBeUndefined();
  });

  it('passes a queued reply\'s place in line with its status, and nothing for a malformed one', async () => {
    const status = (id: string, data: object) => frame({ id, event: 'status', data });
    const { fetch } = scriptedFetch([
      sseResponse([
        status('1-0', { state: 'queued' }),
        status('1-1', { state: 'queued', position: 2 }),
        status('1-2', { state: 'queued', position: 1 }),
        status('1-3', { state: 'queued', position: 'first' }),
        status('1-4', { state: 'generating' }),
        token('1-5', 'Hi'),
        done('1-6', 'Hi'),
      ]),
    ]);
    const statuses: [string, number | undefined][] = [];
    const { promise } = run(fetch, { onStatus: (state, position) => statuses.push([state, position]) });
    expect(await promise).toMatchObject({ kind: 'done', text: 'Hi' });
    expect(statuses).toEqual([
      ['queued', undefined],
      ['queued', 2],
      ['queued', 1],
      ['queued', undefined],
      ['generating', undefined],
    ]);
  });

  it('resumes after a dropped connection with Last-Event-ID, without losing or duplicating text', async () => {
    const { fetch, calls } = scriptedFetch([
      sseResponse([token('1-1', 'The '), token('1-2', 'quick ')], { failAfter: true }),
      new TypeError('Failed to fetch'),
      // A server that replays one already-seen event must not duplicate text.
      sseResponse([token('1-2', 'quick '), token('1-3', 'fox'), done('1-4', 'The quick fox')]),
    ]);
    const reconnects: number[] = [];
    const { promise, texts } = run(fetch, { onReconnect: (n) => reconnects.push(n) });
    const outcome = await promise;
    expect(outcome).toMatchObject({ kind: 'done', text: 'The quick fox' });
    expect(texts).toEqual(['The ', 'The quick ', 'The quick fox']);
    expect(calls.map((c) => c.headers['Last-Event-ID'])).toEqual([undefined, '1-2', '1-2']);
    expect(reconnects).toEqual([1, 2]);
  });

  it('reconnects when the stream ends cleanly before done', async () => {
    const { fetch, calls } = scriptedFetch([
      sseResponse([token('1-1', 'a')]),
      sseResponse([token('1-2', 'b'), done('1-3', 'ab')]),
    ]);
    expect(await run(fetch).promise).toMatchObject({ kind: 'done', text: 'ab' });
    expect(calls[1].headers['Last-Event-ID']).toBe('1-1');
  });

  it('clears the partial reply on reset and keeps only the regenerated text', async () => {
    const { fetch } = scriptedFetch([
      sseResponse([token('1-1', 'half an ans'), frame({ id: '1-2', event: 'reset', data: {} }), token('1-3', 'Whole'), token('1-4', ' answer'), done('1-5', 'Whole answer')]),
    ]);
    const onReset = vi.fn();
    const { promise, texts } = run(fetch, { onReset });
    expect(await promise).toMatchObject({ kind: 'done', text: 'Whole answer' });
    expect(onReset).toHaveBeenCalledTimes(1);
    expect(texts).toEqual(['half an ans', '', 'Whole', 'Whole answer']);
  });

  it('reports a failed event as a readable message with the partial text', async () => {
    const { fetch } = scriptedFetch([
      sseResponse([token('1-1', 'par'), frame({ id: '1-2', event: 'failed', data: { code: 'llm_unavailable', message: 'The model is unavailable.' } })]),
    ]);
    expect(await run(fetch).promise).toEqual({ kind: 'error', text: 'par', code: 'llm_unavailable', message: 'The model is unavailable.' });
  });

  it('stops for good on 204 (the reply had already ended at its Last-Event-ID)', async () => {
    const { fetch, calls } = scriptedFetch([new Response(null, { status: 204 })]);
    const outcome = await run(fetch, { lastEventId: '1-9' }).promise;
    expect(outcome).toMatchObject({ kind: 'error', code: 'reply_finished' });
    expect(calls).toHaveLength(1);
    expect(calls[0].headers['Last-Event-ID']).toBe('1-9');
  });

  it('does not retry a 404 and explains it', async () => {
    const { fetch, calls } = scriptedFetch([jsonResponse({ error: { code: 'not_found', message: 'Reply not found.' } }, 404)]);
    expect(await run(fetch).promise).toMatchObject({ kind: 'error', code: 'not_found', message: 'Reply not found.' });
    expect(calls).toHaveLength(1);
  });

  it('renews the access token once on 401', async () => {
    const { fetch, calls } = scriptedFetch([
      jsonResponse({ error: { code: 'unauthorized', message: 'expired' } }, 401),
      sseResponse([done('1-1', 'ok')]),
    ]);
    const { promise, getToken } = run(fetch);
    expect(await promise).toMatchObject({ kind: 'done', text: 'ok' });
    expect(getToken).toHaveBeenCalledWith(true);
    expect(calls).toHaveLength(2);
  });

  it('gives up after maxRetries consecutive failures with a readable error', async () => {
    const { fetch, calls } = scriptedFetch([new TypeError('x'), new TypeError('x'), new TypeError('x')]);
    const outcome = await run(fetch, { maxRetries: 2 }).promise;
    expect(outcome.kind).toBe('error');
    expect(outcome.kind === 'error' && outcome.message).toMatch(/Cannot reach the server/);
    expect(calls).toHaveLength(3);
  });

  it('retries server errors (5xx) but stops when aborted', async () => {
    const controller = new AbortController();
    const { fetch } = scriptedFetch([
      jsonResponse({ error: { code: 'unavailable', message: 'down' } }, 503),
      () => {
        controller.abort();
        return new TypeError('aborted');
      },
    ]);
    expect(await run(fetch, { signal: controller.signal }).promise).toEqual({ kind: 'aborted', text: '' });
  });

  it('treats a silent connection as dead after the idle timeout', async () => {
    let calls = 0;
    // Like a real fetch, the silent body fails once the request's signal aborts.
    const fetchFn: typeof fetch = async (_input, init) => {
      calls += 1;
      if (calls === 2) return sseResponse([done('1-1', 'late')]);
      const body = new ReadableStream({
        start: (controller) =>
          init?.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError'))),
      });
      return new Response(body, { status: 200 });
    };
    expect(await run(fetchFn, { idleTimeoutMs: 20 }).promise).toMatchObject({ kind: 'done', text: 'late' });
    expect(calls).toBe(2);
  });
});

describe('isAfter', () => {
  it('orders Redis stream ids numerically', () => {
    expect(isAfter('10-0', '9-5')).toBe(true);
    expect(isAfter('9-10', '9-9')).toBe(true);
    expect(isAfter('9-9', '9-9')).toBe(false);
    expect(isAfter('1-0', undefined)).toBe(true);
  });
});
