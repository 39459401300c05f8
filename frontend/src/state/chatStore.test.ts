import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, memoryTokenStore } from '../api/client';
import { frame, jsonResponse, sseResponse } from '../api/testing';
import type { AuthResponse, BranchMessage, BranchPage, Conversation, Message, SendResult } from '../api/types';
import { ChatStore, listOrder } from './chatStore';

const session: AuthResponse = {
  user: { id: 'u', email: 'a@b.c', display_name: 'A', created_at: '2026-01-01T00:00:00Z', is_admin: false, settings: { memory_enabled: true, theme: 'system' } },
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

/** A fake backend answering by method and path (unit tests only); a route gets the whole URL and body. */
function fakeBackend(routes: Record<string, (url: string, body?: string) => Response | Promise<Response>>) {
  const seen: string[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const key = `${init.method ?? 'GET'} ${String(input).split('?')[0]}`;
    seen.push(key);
    const route = routes[key];
    if (!route) return jsonResponse({ error: { code: 'not_found', message: `no route ${key}` } }, 404);
    return route(String(input), typeof init.body === 'string' ? init.body : undefined);
  }) as typeof fetch;
  const client = new ApiClient(fetchFn, memoryTokenStore('r'), null);
  return { store: new ChatStore(client), seen };
}

const conversation = (id: string, minute: number, pinned = false, archived = false): Conversation => ({
  id,
  title: id,
  pinned,
  archived,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: `2026-01-01T00:0${minute}:00.000Z`,
});

/** An event stream that sends `first`, then `last` once `gate` resolves (unit tests only). */
function heldBack(first: string[], gate: Promise<void>, last: string): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      first.forEach((chunk) => controller.enqueue(encoder.encode(chunk)));
      await gate;
      controller.enqueue(encoder.encode(last));
      controller.close();
    },
  });
  return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
}

/** A branch page of `messages`, each the parent of the next; `versions` by id (default: just itself). */
function branch(messages: Message[], versions: Record<string, string[]> = {}): BranchPage {
  const items: BranchMessage[] = messages.map((m, i) => ({ ...m, parent_id: i ? messages[i - 1].id : null, siblings: versions[m.id] ?? [m.id] }));
  return { items, next_before: null, leaf_id: items.at(-1)?.id ?? null };
}

const said = (id: string, role: 'user' | 'assistant', content = id): Message => ({
  id,
  conversation_id: 'c1',
  role,
  content,
  status: 'completed',
  created_at: '2026-01-01T00:00:00Z',
  reply_id: role === 'assistant' ? id : null,
});
const done = (id: string, content: string) => sseResponse([frame({ id: '1-0', event: 'done', data: { message: { id, content, status: 'completed' } } })]);

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe('ChatStore', () => {
  // A test that failed mid-reply leaves no reply to resume for the next one.
  beforeEach(() => sessionStorage.clear());

  it('continues a reply cut at its length limit: the same reply grows in place, once it is done', async () => {
    const cut: Message = { id: 'r1', conversation_id: 'c1', role: 'assistant', content: 'Once upon', status: 'completed', created_at: '2026-01-01T00:00:01Z', reply_id: 'r1', finish_reason: 'length' };
    const question: Message = { ...cut, id: 'm1', role: 'user', content: 'A story', reply_id: 'r1', finish_reason: null };
    let release: () => void = () => undefined;
    const streamed = new Promise<void>((resolve) => (release = resolve));
    const { store, seen } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([question, cut])),
      'POST /api/replies/r1/continue': () => jsonResponse({ reply_id: 'k1', stream_url: '/api/replies/k1/stream', continue_of: 'r1' }, 202),
      'GET /api/replies/k1/stream': () =>
        heldBack(
          [frame({ id: '1-0', event: 'token', data: { delta: ' a time' } })],
          streamed,
          frame({ id: '1-1', event: 'done', data: { message: { ...cut, content: 'Once upon a time', finish_reason: 'stop' } } }),
        ),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await store.continueReply('c1', 'r1');
    expect(seen).toContain('POST /api/replies/r1/continue');
    await until(() => store.conversation('c1').pending?.text === 'Once upon a time');
    // While it streams, the reply is the pending one (no second bubble), its text so far first.
    expect(store.conversation('c1').messages.map((m) => m.id)).toEqual(['m1']);
    release();
    await until(() => !store.conversation('c1').pending);
    const messages = store.conversation('c1').messages;
    expect(messages.map((m) => m.id)).toEqual(['m1', 'r1']);
    expect(messages[1]).toMatchObject({ content: 'Once upon a time', finish_reason: 'stop', reply_id: 'r1' });
    expect(sessionStorage.getItem('alice.pending.c1')).toBeNull();
  });

  it('keeps the reply as it was, with the reason, when continuing it is refused', async () => {
    const stopped: Message = { id: 'r1', conversation_id: 'c1', role: 'assistant', content: 'Once', status: 'stopped', created_at: '2026-01-01T00:00:01Z', reply_id: 'r1' };
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([stopped])),
      'POST /api/replies/r1/continue': () => jsonResponse({ error: { code: 'not_continuable', message: 'only a reply that stopped at its length limit can be continued' } }, 409),
    });
    await store.loadMessages('c1');
    await store.continueReply('c1', 'r1');
    expect(store.conversation('c1').messages).toEqual(branch([stopped]).items);
    expect(store.conversation('c1').pending).toBeUndefined();
    expect(store.conversation('c1').error).toBeTruthy();
  });

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
    sessionStorage.setItem('alice.pending.c1', 'r4');
    const reads = [branch([said('m1', 'user')]), branch([said('m1', 'user'), said('r4', 'assistant', 'Back')])];
    const { store, seen } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(reads.shift()),
      'GET /api/replies/r4/stream': () => sseResponse([frame({ id: '1-0', event: 'token', data: { delta: 'Back' } }), frame({ id: '1-1', event: 'done', data: { message: { id: 'r4', content: 'Back', status: 'completed' } } })]),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await until(() => store.conversation('c1').messages.length === 2 && reads.length === 0);
    expect(store.conversation('c1').messages[1]).toMatchObject({ id: 'r4', content: 'Back' });
    expect(seen).toContain('GET /api/replies/r4/stream');
    expect(sessionStorage.getItem('alice.pending.c1')).toBeNull();
  });

  it('after a reload during a regeneration, hides the reply it replaces until the new version is done', async () => {
    sessionStorage.setItem('alice.pending.c1', 'r2');
    let release: () => void = () => undefined;
    const streamed = new Promise<void>((resolve) => (release = resolve));
    const reads = [
      branch([said('m1', 'user'), said('r1', 'assistant', 'Old')]),
      branch([said('m1', 'user'), said('r2', 'assistant', 'New')], { r2: ['r1', 'r2'] }),
    ];
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(reads.shift()),
      'GET /api/replies/r2/stream': () => heldBack([frame({ id: '1-0', event: 'token', data: { delta: 'Ne' } })], streamed, frame({ id: '1-1', event: 'done', data: { message: { id: 'r2', content: 'New', status: 'completed' } } })),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await until(() => store.conversation('c1').pending?.text === 'Ne');
    expect(store.conversation('c1').messages.map((m) => m.id)).toEqual(['m1']);
    release();
    await until(() => reads.length === 0 && !store.conversation('c1').pending);
    await until(() => store.conversation('c1').messages[1]?.siblings?.length === 2);
    expect(store.conversation('c1').messages.map((m) => [m.id, m.content])).toEqual([['m1', 'm1'], ['r2', 'New']]);
  });

  it('sends after the last message of the branch shown, and none first in an empty conversation', async () => {
    const bodies: unknown[] = [];
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([said('m1', 'user'), said('r1', 'assistant')], { r1: ['r0', 'r1'] })),
      'POST /api/conversations/c1/messages': (_url, body) => (bodies.push(JSON.parse(body ?? '{}')), jsonResponse(accepted('m2', 'r2'), 202)),
      'POST /api/conversations/c9/messages': (_url, body) => (bodies.push(JSON.parse(body ?? '{}')), jsonResponse(accepted('m9', 'r9'), 202)),
      'GET /api/replies/r2/stream': () => done('r2', 'Yes'),
      'GET /api/replies/r9/stream': () => done('r9', 'Yes'),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await store.send('c1', 'And then?');
    expect(bodies[0]).toEqual({ content: 'And then?', parent_id: 'r1' });
    expect(store.conversation('c1').messages.at(-1)).toMatchObject({ id: 'm2', parent_id: 'r1', status: 'completed' });
    await store.send('c9', 'Hello');
    expect(bodies[1]).toEqual({ content: 'Hello' });
  });

  it('sends after the question when its reply failed (a failed reply may not be stored)', async () => {
    const bodies: unknown[] = [];
    const failed = { ...said('r1', 'assistant'), status: 'failed' as const };
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([said('m1', 'user'), failed])),
      'POST /api/conversations/c1/messages': (_url, body) => (bodies.push(JSON.parse(body ?? '{}')), jsonResponse(accepted('m2', 'r2'), 202)),
      'GET /api/replies/r2/stream': () => done('r2', 'Yes'),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await store.send('c1', 'Again?');
    expect(bodies[0]).toEqual({ content: 'Again?', parent_id: 'm1' });
  });

  it('after a reply failed, sends after what is stored: the question of a model that was down is not', async () => {
    const bodies: unknown[] = [];
    let release: () => void = () => undefined;
    const read = new Promise<void>((resolve) => (release = resolve));
    const reads = [branch([]), branch([said('m2', 'user'), said('r2', 'assistant')])];
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'POST /api/conversations/c1/messages': (_url, body) => (bodies.push(JSON.parse(body ?? '{}')), jsonResponse(bodies.length === 1 ? accepted('m1', 'r1') : accepted('m2', 'r2'), 202)),
      'GET /api/replies/r1/stream': () => sseResponse([frame({ id: '1-0', event: 'failed', data: { code: 'model_unavailable', message: 'The model is unavailable.' } })]),
      'GET /api/replies/r2/stream': () => done('r2', 'Yes'),
      // The branch as stored: empty, read slowly; then the new message and its reply.
      'GET /api/conversations/c1/branch': async () => (await read, jsonResponse(reads.shift())),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.send('c1', 'Hello');
    await until(() => !store.conversation('c1').pending);
    const sending = store.send('c1', 'Again?');
    release();
    await sending;
    expect(bodies[1]).toEqual({ content: 'Again?' });
    await until(() => reads.length === 0 && !store.conversation('c1').pending);
    expect(store.conversation('c1').messages.map((m) => m.id)).toEqual(['m2', 'r2']);
  });

  it('does not wait for ever for a branch read that stalls: the send goes on after a while', async () => {
    const bodies: unknown[] = [];
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'POST /api/conversations/c1/messages': (_url, body) => (bodies.push(JSON.parse(body ?? '{}')), jsonResponse(bodies.length === 1 ? accepted('m1', 'r1') : accepted('m2', 'r2'), 202)),
      'GET /api/replies/r1/stream': () => done('r1', 'Hi'),
      'GET /api/replies/r2/stream': () => done('r2', 'Yes'),
      'GET /api/conversations/c1/branch': () => new Promise<Response>(() => undefined),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.send('c1', 'Hello');
    await until(() => !store.conversation('c1').pending);
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const sending = store.send('c1', 'Again?');
      await vi.advanceTimersByTimeAsync(4_000);
      expect(bodies).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1_000);
      await sending;
    } finally {
      vi.useRealTimers();
    }
    expect(bodies[1]).toEqual({ content: 'Again?', parent_id: 'r1' });
  });

  it('edits a message: the branch is cut there at once, the new version is sent with edit_of, and the branch is read again when the reply is done', async () => {
    const [m1, r1, m2, r2] = [said('m1', 'user', 'Hi'), said('r1', 'assistant', 'Hello'), said('m2', 'user', 'A poem'), said('r2', 'assistant', 'Roses…')];
    const edited = { ...said('m3', 'user', 'A haiku'), reply_id: 'r3' };
    const reads = [branch([m1, r1, m2, r2]), branch([m1, r1, edited, said('r3', 'assistant', 'Old pond')], { m3: ['m2', 'm3'] })];
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let posted = '';
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(reads.shift()),
      'POST /api/conversations/c1/messages': async (_url, body) => {
        posted = body ?? '';
        await answered;
        return jsonResponse({ ...accepted('m3', 'r3'), message: { ...accepted('m3', 'r3').message, content: 'A haiku' } }, 202);
      },
      'GET /api/replies/r3/stream': () => done('r3', 'Old pond'),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    const shown: string[][] = [];
    store.subscribe(() => shown.push(store.conversation('c1').messages.map((m) => `${m.id}:${m.content}`)));

    const editing = store.edit('c1', 'm2', 'A haiku');
    const [kept, fresh] = [store.conversation('c1').messages.slice(0, 2), store.conversation('c1').messages[2]];
    expect(kept.map((m) => m.id)).toEqual(['m1', 'r1']);
    expect(store.conversation('c1').messages).toHaveLength(3);
    expect(fresh).toMatchObject({ role: 'user', content: 'A haiku', status: 'sending', parent_id: 'r1' });
    // Counted as the newest version of the one it replaces, so the count does not jump later.
    expect(fresh.siblings).toEqual(['m2', fresh.id]);
    await until(() => posted !== '');
    expect(JSON.parse(posted)).toEqual({ content: 'A haiku', edit_of: 'm2' });

    answer();
    await editing;
    expect(store.conversation('c1').messages[2]).toMatchObject({ id: 'm3', status: 'completed', siblings: ['m2', 'm3'] });
    await until(() => reads.length === 0 && !store.conversation('c1').pending);
    await until(() => store.conversation('c1').messages[3]?.siblings !== undefined);
    expect(store.conversation('c1').messages.map((m) => [m.id, m.siblings])).toEqual([
      ['m1', ['m1']],
      ['r1', ['r1']],
      ['m3', ['m2', 'm3']],
      ['r3', ['r3']],
    ]);
    // The log never went blank, and the old turn never came back once the edit was shown.
    const sinceEdit = shown.slice(shown.findIndex((ids) => ids.some((id) => id.endsWith(':A haiku'))));
    expect(sinceEdit.length).toBeGreaterThan(3);
    expect(sinceEdit.every((ids) => ids.length >= 3)).toBe(true);
    expect(sinceEdit.some((ids) => ids.includes('m2:A poem') || ids.includes('r2:Roses…'))).toBe(false);
  });

  it('puts the messages back when an edit is refused, and says why', async () => {
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([said('m1', 'user'), said('r1', 'assistant')])),
      'POST /api/conversations/c1/messages': () => jsonResponse({ error: { code: 'message_not_found', message: 'no such message in this conversation' } }, 404),
    });
    await store.loadMessages('c1');
    const before = store.conversation('c1').messages;
    await expect(store.edit('c1', 'm1', 'Hey')).rejects.toMatchObject({ status: 404 });
    expect(store.conversation('c1').messages).toEqual(before);
    expect(store.conversation('c1').error).toBe('no such message in this conversation');
  });

  it('shows another version with the branch the server answers, and not while a reply is pending', async () => {
    const chosen: string[] = [];
    let release: () => void = () => undefined;
    const streamed = new Promise<void>((resolve) => (release = resolve));
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([said('m1', 'user'), said('r2', 'assistant', 'Second')], { r2: ['r1', 'r2'] })),
      'PUT /api/conversations/c1/branch': (_url, body) => {
        chosen.push(JSON.parse(body ?? '{}').message_id);
        return jsonResponse(branch([said('m1', 'user'), said('r1', 'assistant', 'First'), said('m5', 'user', 'More')], { r1: ['r1', 'r2'] }));
      },
      'POST /api/conversations/c1/messages': () => jsonResponse(accepted('m6', 'r6'), 202),
      'GET /api/replies/r6/stream': () => heldBack([], streamed, frame({ id: '1-0', event: 'done', data: { message: { id: 'r6', content: 'Ok', status: 'completed' } } })),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await store.showVersion('c1', 'r1');
    expect(chosen).toEqual(['r1']);
    expect(store.conversation('c1').messages.map((m) => [m.id, m.content, m.siblings?.length])).toEqual([
      ['m1', 'm1', 1],
      ['r1', 'First', 2],
      ['m5', 'More', 1],
    ]);

    await store.send('c1', 'Go on');
    await store.showVersion('c1', 'r2');
    expect(chosen).toEqual(['r1']);
    expect(store.conversation('c1').messages.map((m) => m.id)).toEqual(['m1', 'r1', 'm5', 'm6']);
    release();
    await until(() => !store.conversation('c1').pending);
  });

  it('reads the branch again after a regenerated reply, so its versions are counted', async () => {
    const reads = [
      branch([said('m1', 'user'), said('r1', 'assistant', 'One')]),
      branch([said('m1', 'user'), said('r2', 'assistant', 'Two')], { r2: ['r1', 'r2'] }),
    ];
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(reads.shift()),
      'POST /api/replies/r1/regenerate': () => jsonResponse({ reply_id: 'r2', stream_url: '/api/replies/r2/stream' }, 202),
      'GET /api/replies/r2/stream': () => done('r2', 'Two'),
      'GET /api/conversations': () => jsonResponse({ items: [] }),
    });
    await store.loadMessages('c1');
    await store.regenerate('c1', 'r1');
    await until(() => store.conversation('c1').messages[1]?.siblings?.length === 2);
    expect(store.conversation('c1').messages.map((m) => [m.id, m.content])).toEqual([['m1', 'm1'], ['r2', 'Two']]);
  });

  it('lists pinned conversations first, and moves one between the lists when it is pinned or archived', async () => {
    const [a, b, c, old] = [conversation('a', 3), conversation('b', 1, true), conversation('c', 2), conversation('old', 0, false, true)];
    const patched = (changed: Conversation) => (_url: string, body?: string) => jsonResponse({ ...changed, ...JSON.parse(body ?? '{}') });
    const { store } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations': (url) => jsonResponse({ items: url.includes('archived=true') ? [old] : [a, b, c] }),
      'PATCH /api/conversations/a': patched(a),
      'PATCH /api/conversations/c': patched(c),
      'PATCH /api/conversations/old': patched(old),
    });
    await store.loadConversations();
    const ids = (list: Conversation[]) => list.map((x) => x.id);
    expect(ids(store.getSnapshot().conversations)).toEqual(['b', 'a', 'c']);
    await store.loadArchived();
    expect(ids(store.getSnapshot().archived)).toEqual(['old']);

    await store.setArchived('a', true);
    expect(ids(store.getSnapshot().conversations)).toEqual(['b', 'c']);
    expect(ids(store.getSnapshot().archived)).toEqual(['a', 'old']);
    await store.setPinned('c', true);
    expect(ids(store.getSnapshot().conversations)).toEqual(['c', 'b']);
    await store.setArchived('old', false);
    expect(ids(store.getSnapshot().conversations)).toEqual(['c', 'b', 'old']);
    expect(ids(store.getSnapshot().archived)).toEqual(['a']);
  });

  it('orders by recency within the pinned and the unpinned', () => {
    const order = listOrder([conversation('x', 1), conversation('y', 2, true), conversation('z', 3), conversation('w', 0, true)]);
    expect(order.map((x) => x.id)).toEqual(['y', 'w', 'z', 'x']);
  });

  it('rates a reply, replaces the rating, and takes it back', async () => {
    const reply: Message = {
      id: 'r1', conversation_id: 'c1', role: 'assistant', content: 'Hi', status: 'completed', created_at: '2026-01-01T00:00:01.000Z', reply_id: 'r1',
    };
    const question: Message = { ...reply, id: 'm1', role: 'user', reply_id: 'r1', created_at: '2026-01-01T00:00:00.000Z' };
    const bodies: string[] = [];
    const { store, seen } = fakeBackend({
      'POST /api/auth/refresh': () => jsonResponse(session),
      'GET /api/conversations/c1/branch': () => jsonResponse(branch([question, reply])),
      'PUT /api/conversations/c1/messages/r1/feedback': (_url, body) => {
        bodies.push(body ?? '');
        return jsonResponse({ ...JSON.parse(body ?? '{}'), updated_at: '2026-01-02T00:00:00.000Z' });
      },
      'DELETE /api/conversations/c1/messages/r1/feedback': () => new Response(null, { status: 204 }),
    });
    await store.loadMessages('c1');
    await store.rateReply('c1', 'r1', 'up');
    await store.rateReply('c1', 'r1', 'down', 'Too long');
    expect(bodies.map((b) => JSON.parse(b))).toEqual([{ rating: 'up' }, { rating: 'down', comment: 'Too long' }]);
    const shown = () => store.conversation('c1').messages;
    expect(shown()[1].feedback).toMatchObject({ rating: 'down', comment: 'Too long' });
    expect(shown()[0].feedback).toBeUndefined();
    await store.rateReply('c1', 'r1', null);
    expect(seen).toContain('DELETE /api/conversations/c1/messages/r1/feedback');
    expect(shown()[1].feedback).toBeNull();
  });
});
