import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_URL } from './browser.mjs';

export const REPLY_TIMEOUT_MS = Number(process.env.ALICE_E2E_REPLY_TIMEOUT_MS || 180_000);
export const SCREENSHOTS = process.env.ALICE_E2E_SCREENSHOTS || join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots');
export const PASSWORD = 'correct-horse-battery';

export function uniqueEmail(prefix) {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.org`;
}

export const byName = (name) => ({ name, exact: true });

export async function signUp(page, email, displayName) {
  await page.goto('/');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  if (displayName) await page.getByLabel('Display name', { exact: true }).fill(displayName);
  await page.getByRole('button', byName('Sign up')).click();
  await page.getByRole('button', byName('New chat')).waitFor();
}

/** Signs up, or signs in when the account already exists (a fixed admin address across runs). */
export async function signUpOrIn(page, email, displayName) {
  await page.goto('/');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Display name', { exact: true }).fill(displayName);
  await page.getByRole('button', byName('Sign up')).click();
  const signedIn = page.getByRole('button', byName('New chat'));
  await signedIn.or(page.getByRole('alert')).first().waitFor();
  if (!(await signedIn.isVisible())) await signIn(page, email);
}

export async function signIn(page, email) {
  await page.goto('/');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', byName('Sign in')).click();
  await page.getByRole('button', byName('New chat')).waitFor();
}

export const messages = (page) => page.getByRole('log', byName('Messages')).getByRole('article');
export const composer = (page) => page.getByRole('textbox', byName('Message'));

const finishedReplies = (page) => page.locator('article.from-assistant[data-status]');
const repliesBeforeSend = new WeakMap();

/** Types a message, sends it with Send, and returns the conversation id from the URL. */
export async function send(page, text) {
  repliesBeforeSend.set(page, await finishedReplies(page).count());
  await composer(page).fill(text);
  await page.getByRole('button', byName('Send')).click();
  await page.waitForURL(/\/c\/[^/]+$/);
  return new URL(page.url()).pathname.split('/').pop();
}

/** Waits until no reply is streaming, returns the last message (an assistant reply). */
export async function waitForReply(page, timeout = REPLY_TIMEOUT_MS) {
  const before = repliesBeforeSend.get(page) ?? 0;
  await page.waitForFunction(
    (n) => document.querySelectorAll('article.from-assistant[data-status]').length > n && !document.querySelector('article[aria-busy="true"]'),
    before,
    { timeout, polling: 250 },
  );
  const last = messages(page).last();
  await assert.doesNotReject(last.locator('xpath=self::*[contains(@class, "from-assistant")]').waitFor({ timeout: 5000 }));
  return last;
}

/** The text of a message body (without its author line and buttons). */
export async function bodyText(article) {
  return (await article.locator('.markdown, .plain').first().innerText()).trim();
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), animations: 'disabled' });
}


/** Runs `fn` with a fresh page; on failure saves a screenshot and the page's text for diagnosis. */
export async function withPage(browser, newPage, options, fn) {
  const { context, page } = await newPage(browser, options);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  try {
    return await fn(page, context);
  } catch (err) {
    const dir = process.env.ALICE_E2E_FAILURES || '/tmp/alice-e2e-failures';
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `failure-${Date.now()}.png`);
    await page.screenshot({ path: file }).catch(() => undefined);
    console.error(`[e2e] failure screenshot: ${file}\n[e2e] url: ${page.url()}\n[e2e] console:\n${consoleLines.slice(-15).join('\n')}`);
    throw err;
  } finally {
    await context.close();
  }
}

/** The same account through the API at the app's address (what needs no browser, or no model reply). */
export async function apiAs(email) {
  const login = await fetch(`${BASE_URL}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(login.status, 200);
  const { access_token: token } = await login.json();
  return (method, path, body) =>
    fetch(`${BASE_URL}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}
