import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, memoryTokenStore } from './client';
import { readableError } from './errors';
import { jsonResponse, scriptedFetch } from './testing';
import type { AuthResponse, BranchPage, ConversationArchive, MessagePage, ReplayResult, SearchHit, SendResult, User } from './types';

// Answers are typed with the generated shapes, so a backend change breaks these tests' compile.
const user: User = { id: 'u1', email: 'ada@example.org', display_name: 'Ada', created_at: '2026-01-01T00:00:00Z', is_admin: false, settings: { memory_enabled: true, theme: 'system' } };
// A cookie-only backend leaves the refresh token out of the body.
const auth = (access: string, refresh?: string): Omit<AuthResponse, 'refresh_token'> & { refresh_token?: string } => ({ user, access_token: access, token_type: 'bearer', expires_in: 900, ...(refresh ? { refresh_token: refresh } : {}) });

function memoryFlag() {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v), removeItem: (k: string) => void map.delete(k) };
}

function client(answers: Parameters<typeof scriptedFetch>[0], refresh: string | null = null) {
  const scripted = scriptedFetch(answers);
  const store = memoryTokenStore(refresh);
  return { api: new ApiClient(scripted.fetch, store, memoryFlag()), calls: scripted.calls, store };
}

describe('ApiClient', () => {
  it('deletes the account with its password and ends the session', async () => {
    const deleted = { status: 'deleting' as const, message: 'Your account is deleted.' };
    const { api, calls, store } = client([jsonResponse(auth('a1', 'r1')), jsonResponse(deleted, 202)]);
    await api.login('ada@example.org', 'pw');
    expect(await api.deleteAccount('pw')).toBe('Your account is deleted.');
    expect(calls[1].init.method).toBe('DELETE');
    expect(calls[1].url).toBe('/api/me');
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ password: 'pw' });
    expect(store.getRefresh()).toBeNull();
    expect(api.hasStoredSession()).toBe(false);
  });

  it('keeps the session when the password is wrong', async () => {
    const wrong = { error: { code: 'wrong_password', message: 'wrong password' } };
    const { api, store } = client([jsonResponse(auth('a1', 'r1')), jsonResponse(wrong, 403)]);
    await api.login('ada@example.org', 'pw');
    await expect(api.deleteAccount('nope')).rejects.toMatchObject({ status: 403, code: 'wrong_password' });
    expect(store.getRefresh()).toBe('r1');
    expect(api.hasStoredSession()).toBe(true);
  });

  it('signs up, keeps the access token in memory and the refresh token in the store', async () => {
    const { api, calls, store } = client([jsonResponse(auth('a1', 'r1'), 201), jsonResponse({ items: [] })]);
    expect(await api.register('ada@example.org', 'pw-123456', 'Ada')).toEqual(user);
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ email: 'ada@example.org', password: 'pw-123456', display_name: 'Ada' });
    expect(store.getRefresh()).toBe('r1');
    await api.listConversations();
    expect(calls[1].headers.Authorization).toBe('Bearer a1');
  });

  it('works with a cookie-only refresh token (none in the body)', async () => {
    const { api, calls, store } = client([jsonResponse(auth('a1')), jsonResponse(auth('a2'))]);
    await api.login('ada@example.org', 'pw');
    expect(store.getRefresh()).toBeNull();
    expect(api.hasStoredSession()).toBe(true);
    expect(await api.refresh()).toBe(true);
    expect(calls[1].url).toBe('/api/auth/refresh');
    expect(calls[1].init.credentials).toBe('same-origin');
    expect(JSON.parse(String(calls[1].init.body))).toEqual({});
    expect(api.token).toBe('a2');
  });

  it('renews an expired access token once on 401 and retries the request', async () => {
    const { api, calls, store } = client(
      [
        jsonResponse({ error: { code: 'token_expired', message: 'expired' } }, 401),
        jsonResponse(auth('a2', 'r2')),
        jsonResponse({ items: [{ id: 'c1', title: 'Hello' }] }),
      ],
      'r1',
    );
    expect(await api.listConversations()).toEqual([{ id: 'c1', title: 'Hello' }]);
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ refresh_token: 'r1' });
    expect(calls[2].headers.Authorization).toBe('Bearer a2');
    expect(store.getRefresh()).toBe('r2'); // rotated
  });

  it('ends the session when the refresh token is revoked', async () => {
    const { api, store } = client(
      [
        jsonResponse({ error: { code: 'unauthorized', message: 'no' } }, 401),
        jsonResponse({ error: { code: 'invalid_refresh_token', message: 'revoked' } }, 401),
      ],
      'r1',
    );
    const ended = vi.fn();
    api.onSessionEnded = ended;
    await expect(api.listConversations()).rejects.toMatchObject({ status: 401 });
    expect(ended).toHaveBeenCalledTimes(1);
    expect(store.getRefresh()).toBeNull();
    expect(api.hasStoredSession()).toBe(false);
  });

  it('turns error bodies into readable ApiErrors', async () => {
    const { api } = client([jsonResponse({ error: { code: 'email_taken', message: 'That email is already registered.' } }, 409)]);
    const err = await api.register('ada@example.org', 'pw').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: 'email_taken', message: 'That email is already registered.' });
    expect(readableError(err)).toBe('That email is already registered.');
    expect(readableError(new TypeError('Failed to fetch'))).toMatch(/Cannot reach the server/);
  });

  it('falls back to a readable message when the error body is not JSON', async () => {
    const { api } = client([new Response('<html>bad gateway</html>', { status: 429 })]);
    await expect(api.listDocuments()).rejects.toMatchObject({ code: 'http_429', message: expect.stringMatching(/Too many requests/) });
  });

  it('returns messages oldest first and posts new ones', async () => {
    const page: MessagePage = {
      items: [
        { id: 'm2', conversation_id: 'c1', role: 'assistant', content: 'b', status: 'completed', created_at: '2026-01-01T00:00:02Z' },
        { id: 'm1', conversation_id: 'c1', role: 'user', content: 'a', status: 'completed', created_at: '2026-01-01T00:00:01Z' },
      ],
      next_before: null,
    };
    const sent: SendResult = { message: { id: 'm3', role: 'user', content: 'hi', status: 'completed', created_at: '2026-01-01T00:00:03Z' }, reply_id: 'r9', stream_url: '/api/replies/r9/stream' };
    const { api, calls } = client([jsonResponse(page), jsonResponse(sent, 202)]);
    expect((await api.listMessages('c1')).map((m) => m.id)).toEqual(['m1', 'm2']);
    expect(await api.sendMessage('c1', 'hi')).toMatchObject({ reply_id: 'r9' });
    expect(calls[1]).toMatchObject({ url: '/api/conversations/c1/messages', init: { method: 'POST' } });
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ content: 'hi' });
  });

  it('reads the branch shown as given, chooses another version, and sends after a message or as a new version', async () => {
    const at = (id: string, role: 'user' | 'assistant', parent: string | null, siblings: string[], second: number) =>
      ({ id, conversation_id: 'c1', role, content: id, status: 'completed' as const, created_at: `2026-01-01T00:00:0${second}Z`, parent_id: parent, siblings });
    // A later version's time may be earlier than what follows it: the order is the path's, not the clock's.
    const branch: BranchPage = { items: [at('m1', 'user', null, ['m1'], 5), at('r1', 'assistant', 'm1', ['r0', 'r1'], 1)], next_before: null, leaf_id: 'r1' };
    const chosen: BranchPage = { items: [at('m1', 'user', null, ['m1'], 5), at('r0', 'assistant', 'm1', ['r0', 'r1'], 0)], next_before: null, leaf_id: 'r0' };
    const sent: SendResult = { message: { id: 'm3', role: 'user', content: 'hi', status: 'completed', created_at: '2026-01-01T00:00:03Z' }, reply_id: 'r9', stream_url: '/api/replies/r9/stream' };
    const { api, calls } = client([jsonResponse(branch), jsonResponse(chosen), jsonResponse(sent, 202), jsonResponse(sent, 202)]);
    expect((await api.getBranch('c1')).map((m) => [m.id, m.siblings])).toEqual([['m1', ['m1']], ['r1', ['r0', 'r1']]]);
    expect(calls[0]).toMatchObject({ url: '/api/conversations/c1/branch?limit=100', init: { method: 'GET' } });
    expect((await api.chooseBranch('c1', 'r0')).map((m) => m.id)).toEqual(['m1', 'r0']);
    expect(calls[1]).toMatchObject({ url: '/api/conversations/c1/branch?limit=100', init: { method: 'PUT' } });
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ message_id: 'r0' });
    await api.sendMessage('c1', 'hi', 'k1', [], { parentId: 'r0' });
    expect(JSON.parse(String(calls[2].init.body))).toEqual({ content: 'hi', parent_id: 'r0' });
    await api.sendMessage('c1', 'hello', 'k2', ['d1'], { editOf: 'm1' });
    expect(JSON.parse(String(calls[3].init.body))).toEqual({ content: 'hello', attachments: ['d1'], edit_of: 'm1' });
  });

  it('logs out by revoking the refresh token and forgetting it locally', async () => {
    const { api, calls, store } = client([jsonResponse(auth('a1', 'r1')), new Response(null, { status: 204 })]);
    await api.login('ada@example.org', 'pw');
    await api.logout();
    expect(calls[1].url).toBe('/api/auth/logout');
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ refresh_token: 'r1' });
    expect(store.getRefresh()).toBeNull();
    expect(api.token).toBeNull();
  });
});

describe('endpoints', () => {
  it('read the documented shapes: the user as /api/me answers it, lists from `items`', async () => {
    const hit: SearchHit = {
      type: 'document',
      id: 'h1',
      snippet: 'the answer',
      document_id: 'd1',
      filename: 'notes.md',
      chunk_index: 0,
      score: 0.9,
      similarity: 0.8,
    };
    const { api, calls } = client([jsonResponse(user), jsonResponse({ query: 'answer?', items: [hit] })]);
    expect(await api.me()).toEqual(user);
    expect(await api.search('answer?', 5)).toEqual([hit]);
    expect(calls[1].url).toBe('/api/search?q=answer%3F&limit=5');
  });
});

describe('calls keyed by path', () => {
  it('fill path parameters encoded, send queries and bodies, and answer the typed body', async () => {
    const replayed: ReplayResult = { replayed: 1, records: [{ partition: 0, offset: 3, target_topic: 'chat.requests', target_partition: 0, target_offset: 9 }] };
    const { api, calls } = client([
      jsonResponse({ topic: 'a/b.dlq', kafka_name: 'x.a/b.dlq', total: 0, records: [] }),
      jsonResponse(replayed),
      jsonResponse({ replayed: 0, skipped_already_replayed: 2, records: [] }),
      new Response(null, { status: 204 }),
    ]);
    expect((await api.adminDlqRecords('a/b.dlq')).total).toBe(0);
    expect(calls[0]).toMatchObject({ url: '/api/admin/flows/dlq/a%2Fb.dlq?limit=50', init: { method: 'GET', body: undefined } });
    expect(calls[0].headers['Content-Type']).toBeUndefined();
    expect(await api.replayDlq('chat.requests.dlq', { partition: 0, offset: 3 })).toEqual(replayed);
    expect(calls[1]).toMatchObject({ url: '/api/admin/flows/dlq/chat.requests.dlq/replay', init: { method: 'POST' } });
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ partition: 0, offset: 3, all: false });
    expect(calls[1].headers['Content-Type']).toBe('application/json');
    expect((await api.replayDlq('chat.requests.dlq')).skipped_already_replayed).toBe(2);
    expect(JSON.parse(String(calls[2].init.body))).toEqual({ all: true });
    expect(await api.deleteConversation('c 1')).toBeUndefined();
    expect(calls[3]).toMatchObject({ url: '/api/conversations/c%201', init: { method: 'DELETE', credentials: 'same-origin' } });
  });
});

describe('ApiClient export and import', () => {
  it('downloads an export as a file named by the server, and posts an import as JSON', async () => {
    const file = new Response('# Trip\n', {
      headers: { 'Content-Type': 'text/markdown; charset=utf-8', 'Content-Disposition': 'attachment; filename="alice-conversation-trip-2026-01-01.md"' },
    });
    const archive: ConversationArchive = { format: 'alice.conversations', version: 1, conversations: [] };
    const refused = { error: { code: 'validation_error', message: 'conversations.0.messages.1.role: Input should be user or assistant' } };
    const { api, calls } = client([file, jsonResponse({ conversations: [], already_present: [] }, 201), jsonResponse(refused, 422)]);
    const downloaded = await api.exportConversation('c 1', 'markdown');
    expect(calls[0]).toMatchObject({ url: '/api/conversations/c%201/export?format=markdown', init: { method: 'GET' } });
    expect(downloaded.filename).toBe('alice-conversation-trip-2026-01-01.md');
    expect(await downloaded.blob.text()).toBe('# Trip\n');
    expect(await api.importConversations(archive)).toEqual({ conversations: [], already_present: [] });
    expect(calls[1]).toMatchObject({ url: '/api/conversations/import', init: { method: 'POST' } });
    expect(JSON.parse(String(calls[1].init.body))).toEqual(archive);
    const error = await api.importConversations(archive).catch((e: unknown) => e);
    expect(readableError(error)).toBe(refused.error.message);
  });
});

describe('ApiClient in the browser', () => {
  it('keeps the refresh token only in the HttpOnly cookie, never in localStorage', async () => {
    localStorage.clear();
    localStorage.setItem('alice.refresh_token', 'r-old'); // left by an earlier version
    const scripted = scriptedFetch([jsonResponse(auth('a1', 'r-secret')), jsonResponse(auth('a2', 'r-next'))]);
    const api = new ApiClient(scripted.fetch); // the browser's own stores
    await api.login('ada@example.org', 'pw');
    expect(await api.refresh()).toBe(true);
    const kept = Object.keys(localStorage).map((k) => localStorage.getItem(k) ?? '');
    expect(kept.join(' ')).not.toMatch(/r-secret|r-next|r-old/);
    expect(JSON.parse(String(scripted.calls[1].init.body))).toEqual({}); // the cookie does the work
    expect(scripted.calls[1].init.credentials).toBe('same-origin');
    expect(api.hasStoredSession()).toBe(true); // a reload still restores the session
  });
});
