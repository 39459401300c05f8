import { describe, expect, it } from 'vitest';
import { ApiClient, memoryTokenStore } from './client';
import { readableError } from './errors';
import { jsonResponse, scriptedFetch } from './testing';
import type { ReplyAccepted, SendResult } from './types';

const sent: SendResult = { message: { id: 'm1', role: 'user', content: 'hi', status: 'completed', created_at: '2026-01-01T00:00:00Z' }, reply_id: 'r1', stream_url: '/api/replies/r1/stream' };
const error = (status: number, code: string) => jsonResponse({ error: { code, message: code } }, status);

function client(answers: Parameters<typeof scriptedFetch>[0]) {
  const scripted = scriptedFetch(answers);
  const api = new ApiClient(scripted.fetch, memoryTokenStore(null), null);
  const waits: number[] = [];
  api.retryPolicy = { attempts: 4, delayMs: (attempt) => 10 * (attempt + 1), sleep: async (ms) => void waits.push(ms) };
  return { api, calls: scripted.calls, waits };
}

describe('idempotent sends', () => {
  it('retries an unknown outcome, a lost connection and a key in use with the same key', async () => {
    const { api, calls, waits } = client([
      error(504, 'outcome_unknown'),
      new TypeError('Failed to fetch'),
      error(409, 'idempotency_key_in_use'),
      jsonResponse(sent, 202),
    ]);
    expect(await api.sendMessage('c1', 'hi', 'key-1')).toEqual(sent);
    expect(calls.map((c) => c.headers['Idempotency-Key'])).toEqual(['key-1', 'key-1', 'key-1', 'key-1']);
    expect(calls.every((c) => JSON.parse(String(c.init.body)).content === 'hi')).toBe(true);
    expect(waits).toEqual([10, 20, 30]);
  });

  it('gives every composed message its own key', async () => {
    const { api, calls } = client([jsonResponse(sent, 202), jsonResponse(sent, 202)]);
    await api.sendMessage('c1', 'hi');
    await api.sendMessage('c1', 'hi');
    const [first, second] = calls.map((c) => c.headers['Idempotency-Key']);
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
  });

  it('does not retry an answer that will not change, and stops after its attempts', async () => {
    const refused = client([error(422, 'idempotency_key_reused')]);
    await expect(refused.api.sendMessage('c1', 'hi', 'k')).rejects.toMatchObject({ status: 422 });
    expect(refused.calls).toHaveLength(1);
    const down = client([error(503, 'upstream_unavailable'), error(503, 'upstream_unavailable'), error(503, 'upstream_unavailable'), error(503, 'upstream_unavailable')]);
    await expect(down.api.sendMessage('c1', 'hi', 'k')).rejects.toMatchObject({ status: 503 });
    expect(down.calls).toHaveLength(4);
    const unknown = client(Array.from({ length: 4 }, () => error(504, 'outcome_unknown')));
    const err = await unknown.api.sendMessage('c1', 'hi', 'k').catch((e: unknown) => e);
    expect(readableError(err)).toMatch(/may still arrive/);
  });

  it('sends a regenerate with a key of its own, reused on its retry', async () => {
    const accepted: ReplyAccepted = { reply_id: 'r2', stream_url: '/api/replies/r2/stream', regenerate_of: 'r1' };
    const { api, calls } = client([error(503, 'upstream_unavailable'), jsonResponse(accepted, 202)]);
    expect(await api.regenerate('r1', 'regen-key')).toEqual(accepted);
    expect(calls.map((c) => [c.url, c.headers['Idempotency-Key']])).toEqual([
      ['/api/replies/r1/regenerate', 'regen-key'],
      ['/api/replies/r1/regenerate', 'regen-key'],
    ]);
  });
});
