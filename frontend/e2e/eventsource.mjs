// The browser's own EventSource against Alice's reply stream (no code of ours on the client side).
// ALICE_E2E_BACKEND: a backend whose orchestrator runs the real model; ALICE_E2E_FAILING_BACKEND:
// one whose orchestrator cannot reach its model, so every generation fails.
// Run by tests/e2e/test_browser_eventsource.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launch } from './browser.mjs';
import { uniqueEmail, PASSWORD } from './helpers.mjs';

const BACKEND = process.env.ALICE_E2E_BACKEND;
const FAILING_BACKEND = process.env.ALICE_E2E_FAILING_BACKEND;
const REPLY_TIMEOUT_MS = Number(process.env.ALICE_E2E_REPLY_TIMEOUT_MS || 180_000);
let browser;

before(async () => {
  assert.ok(BACKEND && FAILING_BACKEND, 'ALICE_E2E_BACKEND and ALICE_E2E_FAILING_BACKEND are required');
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function api(base, path, { token, body } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method: body ? 'POST' : 'GET', headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A new user asks one question; returns the stream URL for EventSource (token in the query). */
async function askQuestion(base, content) {
  const { access_token: token } = await api(base, '/api/auth/register', { body: { email: uniqueEmail('es'), password: PASSWORD } });
  const conversation = await api(base, '/api/conversations', { token, body: {} });
  const accepted = await api(base, `/api/conversations/${conversation.id}/messages`, { token, body: { content } });
  return { streamPath: `${accepted.stream_url}?access_token=${encodeURIComponent(token)}`, replyId: accepted.reply_id };
}

async function openStreams(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('alice_sse_streams_open '));
  assert.ok(line, 'the backend exports alice_sse_streams_open');
  return Number(line.split(' ')[1]);
}

/**
 * Opens `new EventSource(path)` in a page served by `base` (same origin) and records, in the
 * page, every application event and every native `error` with the readyState at that moment.
 */
async function openEventSource(base, path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = [];
  const isStream = (url) => new URL(url).pathname.endsWith('/stream');
  page.on('request', (request) => {
    if (isStream(request.url())) requests.push({ request, status: null });
  });
  page.on('response', (response) => {
    const entry = requests.find((r) => r.request === response.request());
    if (entry) entry.status = response.status();
  });
  await page.goto(`${base}/health`);
  await page.evaluate((url) => {
    const log = [];
    window.__log = log;
    const source = new EventSource(url);
    window.__source = source;
    for (const name of ['status', 'token', 'reset', 'done', 'failed']) {
      source.addEventListener(name, (e) => log.push({ event: name, id: e.lastEventId, data: JSON.parse(e.data) }));
    }
    // The browser's own connection-error event: fired on every drop or refusal.
    source.addEventListener('error', () => log.push({ event: 'native-error', readyState: source.readyState }));
  }, path);
  return { context, page, requests };
}

const appEvents = (log) => log.filter((e) => e.event !== 'native-error');

describe('native EventSource', { concurrency: 1 }, () => {
  test('reads the reply to done, then stops for good: at most one extra request, no open stream', { timeout: REPLY_TIMEOUT_MS + 60_000 }, async () => {
    const { streamPath } = await askQuestion(BACKEND, 'Say hello in one short sentence.');
    const { context, page, requests } = await openEventSource(BACKEND, streamPath);
    try {
      await page.waitForFunction(() => window.__log.some((e) => e.event === 'done'), null, { timeout: REPLY_TIMEOUT_MS, polling: 200 });
      const log = await page.evaluate(() => window.__log);
      const events = appEvents(log);
      const done = events.find((e) => e.event === 'done');
      const afterReset = events.slice(events.map((e) => e.event).lastIndexOf('reset') + 1);
      const text = afterReset.filter((e) => e.event === 'token').map((e) => e.data.delta).join('');
      assert.ok(text.trim().length > 0, 'tokens arrived');
      assert.equal(done.data.message.content, text, 'done matches the tokens');
      assert.equal(events.at(-1).event, 'done', 'nothing after done');

      const doneAt = requests.length;
      await page.waitForTimeout(10_000);
      const final = await page.evaluate(() => ({ log: window.__log, readyState: window.__source.readyState }));
      const extra = requests.slice(doneAt);
      assert.ok(extra.length <= 1, `at most one request after done, saw ${extra.length}`);
      for (const request of extra) {
        assert.equal(request.status, 204, 'the reconnect is told there is nothing more');
        // allHeaders(): Last-Event-ID is added by the browser's network stack, not by the page.
        assert.equal((await request.request.allHeaders())['last-event-id'], done.id, 'the reconnect resumes after done');
      }
      assert.equal(final.readyState, 2, 'EventSource is CLOSED (it will not reconnect)');
      assert.equal(appEvents(final.log).length, events.length, 'no application event after done');
      assert.equal(await openStreams(BACKEND), 0, 'the server holds no open stream');
    } finally {
      await context.close();
    }
  });

  test('a failed generation arrives as `failed`, not as the native error event', { timeout: REPLY_TIMEOUT_MS }, async () => {
    const { streamPath } = await askQuestion(FAILING_BACKEND, 'This reply cannot be generated.');
    const { context, page, requests } = await openEventSource(FAILING_BACKEND, streamPath);
    try {
      await page.waitForFunction(() => window.__log.some((e) => e.event === 'failed'), null, { timeout: REPLY_TIMEOUT_MS, polling: 200 });
      // Give the browser time to reconnect once and be refused with 204.
      await page.waitForFunction(() => window.__source.readyState === 2, null, { timeout: 10_000, polling: 200 });
      const log = await page.evaluate(() => window.__log);
      const failed = log.find((e) => e.event === 'failed');
      assert.equal(failed.data.code, 'generation_failed');
      assert.ok(failed.data.message.length > 0);
      const firstNative = log.findIndex((e) => e.event === 'native-error');
      assert.ok(firstNative === -1 || firstNative > log.indexOf(failed), 'the native error only follows the close');
      assert.equal(requests.at(-1).status, 204);
      assert.ok(requests.length <= 2, `one stream and at most one reconnect, saw ${requests.length}`);
      assert.equal(await openStreams(FAILING_BACKEND), 0, 'the server holds no open stream');
    } finally {
      await context.close();
    }
  });
});
