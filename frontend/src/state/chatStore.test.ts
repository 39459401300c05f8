import { describe, expect, it } from 'vitest';
import { ApiClient, memoryTokenStore } from '../api/client';
import { frame, jsonResponse, sseResponse } from '../api/testing';
import type { AuthResponse, SendResult } from '../api/types';
import { ChatStore } from './chatStore';

const session: AuthResponse = {
  user: { id: 'u', email: 'a@b.c', display_name: 'A', created_at: '2026-01-01T00:00:00Z', is_admin: false, settings: { memory_enabled: true } },
  access_token: 't',
  token_type: 'bearer',
  expires_in: 60,
  refresh_token: 'r',
};
const accepted = (messageId: string, replyId: string): SendResult => ({
  message: { id: messageId, role: 'user', content: 'Hi', status: 'completed', created_at: '2026-01-01T00:00:00Z' },
  reply_id: replyId,
  stream_url: `/api/replies/${replyId}/stream`,
});

/** A fake backend answering by method and path (unit tests only). */
function fakeBackend(routes: Record<string, () => Response>) {
  const seen: string[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const key = `${init.method ?? 'GET'} ${String(input).split('?')[0]}`;
    seen.push(key);
    const route = routes[key];
    if (!route) return jsonResponse({ error: { code: 'not_found', message: `no route ${key}` } }, 404);
    return route();
  }) as typeof fetch;
  const client = new ApiClient(fetchFn, memoryTokenStore('r'), null);
  return { store: new ChatStore(client), seen };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe('ChatStore', () => {
  it('sends a message, streams the reply and ends with the stored assistant message', async () => {
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'POST /api/conversations/c1/messages': () =>
        jsonResponse(accepted('m1', 'r1'), 202),
      'GET /api/replies/r1/stream': () =>
        sseResponse([
          frame({ id: '1-0', event: 'token', data: { delta: 'Hel' } }),
          frame({ id: '1-1', event: 'token', data: { delta: 'lo' } }),
          frame({ id: '1-2', event: 'done', data: { message: { id: 'r1', content: 'Hello', status: 'completed', sources: [{ document_id: 'd1', filename: 'a.md', chunk: 0 }] } } }),
        ]),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.send('c1', 'Hi');
    expect(store.conversation('c1').messages.map((m) => [m.id, m.role])).toEqual([['m1', 'user']]);
    await until(() => !store.conversation('c1').pending);
    const [user, reply] = store.conversation('c1').messages;
    expect(user.content).toBe('Hi');
    expect(reply).toMatchObject({ id: 'r1', role: 'assistant', content: 'Hello', status: 'completed', sources: [{ filename: 'a.md' }] });
    expect(sessionStorage.getItem('alice.pending.c1')).toBeNull();
  });

  it('keeps the pending reply\'s place in line while it waits, and drops it once generating', async () => {
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'POST /api/conversations/cq/messages': () => jsonResponse(accepted('m1', 'rq'), 202),
      'GET /api/replies/rq/stream': () =>
        sseResponse([
          frame({ id: '1-0', event: 'status', data: { state: 'queued' } }),
          frame({ id: '1-1', event: 'status', data: { state: 'queued', position: 2 } }),
          frame({ id: '1-2', event: 'status', data: { state: 'queued', position: 1 } }),
          frame({ id: '1-3', event: 'status', data: { state: 'generating' } }),
          frame({ id: '1-4', event: 'token', data: { delta: 'Hi' } }),
          frame({ id: '1-5', event: 'done', data: { message: { id: 'rq', content: 'Hi', status: 'completed' } } }),
        ]),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    const seen: string[] = [];
    const unsubscribe = store.subscribe(() => {
      const pending = store.conversation('cq').pending;
      const shown = pending && `${pending.state}${pending.position ? ` ${pending.position}` : ''}${pending.text ? ` ${pending.text}` : ''}`;
      if (shown && shown !== seen[seen.length - 1]) seen.push(shown);
    });
    await store.send('cq', 'Hi');
    await until(() => !store.conversation('cq').pending);
    unsubscribe();
    expect(seen).toEqual(['queued', 'queued 2', 'queued 1', 'generating', 'generating Hi']);
  });

  it('shows a readable error and keeps nothing when sending is refused', async () => {
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'POST /api/conversations/c2/messages': () => jsonResponse({ error: { code: 'rate_limited', message: 'Slow down.' } }, 429),
    });
    await expect(store.send('c2', 'Hi')).rejects.toMatchObject({ status: 429 });
    expect(store.conversation('c2')).toMatchObject({ messages: [], error: 'Slow down.' });
  });

  it('marks a reply failed with the failed event message', async () => {
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'POST /api/conversations/c3/messages': () => jsonResponse(accepted('m1', 'r3'), 202),
      'GET /api/replies/r3/stream': () => sseResponse([frame({ id: '1-0', event: 'token', data: { delta: 'Par' } }), frame({ id: '1-1', event: 'failed', data: { code: 'llm_failed', message: 'The model failed.' } })]),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.send('c3', 'Hi');
    await until(() => !store.conversation('c3').pending);
    expect(store.conversation('c3').error).toBe('The model failed.');
    expect(store.conversation('c3').messages[1]).toMatchObject({ role: 'assistant', content: 'Par', status: 'failed' });
  });

  it('after a reload, follows a reply that was still streaming (its id kept in sessionStorage)', async () => {
    sessionStorage.setItem('alice.pending.c4', 'r4');
    const { store, seen } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c4/messages': () => jsonResponse({ items: [{ id: 'm1', role: 'user', content: 'Hi', status: 'completed', created_at: '2026-01-01T00:00:00Z' }] }),
      'GET /api/replies/r4/stream': () => sseResponse([frame({ id: '1-0', event: 'token', data: { delta: 'Back' } }), frame({ id: '1-1', event: 'done', data: { message: { id: 'r4', content: 'Back', status: 'completed' } } })]),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c4');
    await until(() => store.conversation('c4').messages.length === 2);
    expect(store.conversation('c4').messages[1]).toMatchObject({ id: 'r4', content: 'Back' });
    expect(seen).toContain('GET /api/replies/r4/stream');
    expect(sessionStorage.getItem('alice.pending.c4')).toBeNull();
  });
});
