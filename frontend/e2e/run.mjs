// End-to-end browser tests against a running Alice (ALICE_E2E_URL, default http://127.0.0.1:3000).
// Run: `npm run e2e` (node's test runner; exit code 0 only when every test passed).
// ALICE_E2E_ADMIN_EMAIL must be one of the backend's ALICE_ADMIN_EMAILS for the admin test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { apiAs, withPage, bodyText, byName, composer, messages, screenshot, send, signIn, signUp, uniqueEmail, waitForReply, REPLY_TIMEOUT_MS } from './helpers.mjs';

const ADMIN_EMAIL = process.env.ALICE_E2E_ADMIN_EMAIL;
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe(`Alice in Chromium at ${BASE_URL}`, { concurrency: 1 }, () => {
  const first = { email: uniqueEmail('ada'), conversationId: '', title: '' };

  test('sign up → new chat → send → the reply streams and completes → reload shows the history', { timeout: REPLY_TIMEOUT_MS * 2 }, async () => {
    await withPage(browser, newPage, {}, async (page) => {
      await signUp(page, first.email, 'Ada');
      await page.getByRole('button', byName('New chat')).click();
      const question = 'Say hello to Ada in one short sentence.';
      first.conversationId = await send(page, question);

      // Streaming: the reply article appears while busy and grows token by token.
      const pending = page.locator('article[aria-busy="true"]');
      await pending.waitFor({ timeout: REPLY_TIMEOUT_MS });
      const reply = await waitForReply(page);
      const text = await bodyText(reply);
      assert.ok(text.length > 0, 'the completed reply has text');
      assert.equal(await messages(page).count(), 2);
      assert.equal(await bodyText(messages(page).first()), question);
      await screenshot(page, 'chat-light.png');

      await page.reload();
      await messages(page).nth(1).waitFor();
      assert.equal(await messages(page).count(), 2, 'history after reload: question and reply');
      assert.equal(await bodyText(messages(page).first()), question);
      assert.equal(await bodyText(messages(page).nth(1)), text, 'the stored reply equals the streamed one');
      const nav = page.getByRole('navigation', byName('Conversations'));
      assert.equal(await nav.getByRole('link').count(), 1);
      first.title = (await nav.getByRole('link').first().innerText()).trim();
    });
  });

  test('dark theme and a phone-sized screen', { timeout: 60_000 }, async () => {
    await withPage(browser, newPage, { colorScheme: 'dark' }, async (page) => {
      await signIn(page, first.email);
      await page.getByRole('navigation', byName('Conversations')).getByRole('link').first().click();
      await messages(page).nth(1).waitFor();
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.notEqual(bg, 'rgb(247, 247, 251)', 'dark theme follows the system preference');
      await screenshot(page, 'chat-dark.png');

      await page.setViewportSize({ width: 390, height: 780 });
      await messages(page).nth(1).waitFor();
      const sidebarVisible = await page.getByRole('button', byName('New chat')).isVisible();
      assert.equal(sidebarVisible, false, 'the sidebar is tucked away on a phone');
      await page.getByRole('button', byName('Open menu')).click();
      await page.getByRole('button', byName('New chat')).waitFor();
      await page.keyboard.press('Escape');
      await page.locator('.scrim').click();
      await screenshot(page, 'chat-phone.png');
    });
  });
});
