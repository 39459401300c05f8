// Pin and archive conversations, copy a whole message, rate a reply (with a comment) and see the
// rating in the admin statistics: Chromium against the real stack behind `vite preview`
// (ALICE_E2E_URL). ALICE_E2E_ADMIN_EMAIL: an account granted admin rights.
// Run by tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { REPLY_TIMEOUT_MS, apiAs, byName, messages, screenshot, send, signIn, signUp, signUpOrIn, uniqueEmail, waitForReply, withPage } from './helpers.mjs';

const ADMIN_EMAIL = process.env.ALICE_E2E_ADMIN_EMAIL;
let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function createConversation(email, title) {
  const created = await (await apiAs(email))('POST', '/api/conversations', { title });
  assert.equal(created.status, 201);
}

describe(`conversation actions and feedback in Chromium at ${BASE_URL}`, { concurrency: 1 }, () => {
  const ada = { email: uniqueEmail('pins'), comment: `Too wordy ${randomUUID().slice(0, 8)}`, conversationId: '', replyId: '' };

  test('pin moves a conversation to the top, archive hides it until Archived is pressed', { timeout: 120_000 }, async () => {
    await withPage(browser, newPage, {}, async (page) => {
      await signUp(page, ada.email, 'Ada');
      await createConversation(ada.email, 'Older plans');
      await createConversation(ada.email, 'Newer plans');
      await page.reload();
      const nav = page.getByRole('navigation', byName('Conversations'));
      const titles = () => nav.getByRole('list').first().getByRole('link').allInnerTexts();
      await nav.getByRole('link', byName('Newer plans')).waitFor();
      assert.deepEqual(await titles(), ['Newer plans', 'Older plans']);

      await nav.getByRole('button', byName('Pin Older plans')).click();
      await nav.getByRole('button', byName('Unpin Older plans')).waitFor();
      assert.deepEqual(await titles(), ['Older plans', 'Newer plans'], 'pinned first');
      await page.reload();
      await nav.getByRole('img', byName('Pinned')).waitFor();
      assert.deepEqual(await titles(), ['Older plans', 'Newer plans'], 'pinned first after a reload');
      await nav.getByRole('link', byName('Older plans')).hover(); // its actions show on hover
      await expectAccessible(page, 'sidebar with a pinned conversation');

      await nav.getByRole('button', byName('Archive Older plans')).click();
      await nav.getByRole('link', byName('Older plans')).waitFor({ state: 'detached' });
      assert.deepEqual(await titles(), ['Newer plans']);
      const archived = nav.getByRole('button', byName('Archived'));
      await archived.click();
      assert.equal(await archived.getAttribute('aria-pressed'), 'true');
      await nav.getByRole('link', byName('Older plans')).waitFor();
      assert.deepEqual(await titles(), ['Older plans'], 'only the archived ones');
      await expectAccessible(page, 'sidebar showing archived conversations');
      await nav.getByRole('button', byName('Unarchive Older plans')).click();
      await page.getByText('No archived conversations.').waitFor();
      await archived.click();
      await nav.getByRole('link', byName('Older plans')).waitFor();
      assert.deepEqual(await titles(), ['Older plans', 'Newer plans'], 'back, still pinned');
    });
  });

  test('copy a whole message, rate the reply with a comment, and find the rating after a reload', { timeout: REPLY_TIMEOUT_MS * 2 }, async () => {
    await withPage(browser, newPage, {}, async (page, context) => {
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
      await signIn(page, ada.email);
      ada.conversationId = await send(page, 'Say hello to Ada in one short sentence.');
      const reply = await waitForReply(page);
      ada.replyId = await reply.getAttribute('data-message-id');

      const question = messages(page).first();
      await question.getByRole('button', byName('Copy text')).click();
      await question.getByRole('button', byName('Copied')).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'Say hello to Ada in one short sentence.');
      await reply.getByRole('button', byName('Copy text')).click();
      await reply.getByRole('button', byName('Copied')).waitFor();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert.ok(copied.trim().length > 0, 'the reply was copied');

      await reply.getByRole('button', byName('Bad reply')).click();
      await reply.getByRole('button', { name: 'Bad reply', pressed: true, exact: true }).waitFor();
      await reply.getByRole('button', byName('Add a comment')).click();
      await reply.getByRole('textbox', byName('Feedback comment')).waitFor();
      await expectAccessible(page, 'reply rated down with the comment field open');
      await reply.getByRole('textbox', byName('Feedback comment')).fill(ada.comment);
      await reply.getByRole('button', byName('Save feedback')).click();
      await reply.getByRole('status').filter({ hasText: 'Thanks for the feedback' }).waitFor();
      await screenshot(page, 'chat-feedback.png');
      await expectAccessible(page, 'reply with saved feedback');

      await page.reload();
      const stored = messages(page).nth(1);
      await stored.getByRole('button', { name: 'Bad reply', pressed: true, exact: true }).waitFor();
      assert.equal(await stored.getByRole('button', byName('Good reply')).getAttribute('aria-pressed'), 'false');
      await stored.getByRole('button', byName('Edit comment')).waitFor();
    });
  });

  test("a second user sees none of the first user's conversations, and cannot pin or rate them", { timeout: 60_000 }, async () => {
    assert.ok(ada.replyId, 'the rating test ran first');
    const eve = uniqueEmail('eve');
    await withPage(browser, newPage, {}, async (page) => {
      await signUp(page, eve, 'Eve');
      const nav = page.getByRole('navigation', byName('Conversations'));
      await nav.getByText('No conversations yet.').waitFor();
      await nav.getByRole('button', byName('Archived')).click();
      await page.getByText('No archived conversations.').waitFor();
    });
    const asEve = await apiAs(eve);
    const feedback = `/api/conversations/${ada.conversationId}/messages/${ada.replyId}/feedback`;
    for (const [method, path, body] of [
      ['PATCH', `/api/conversations/${ada.conversationId}`, { pinned: false }],
      ['PUT', feedback, { rating: 'up' }],
      ['DELETE', feedback, undefined],
    ]) {
      const refused = await asEve(method, path, body);
      assert.equal(refused.status, 404, `${method} ${path}`);
    }
    const history = await (await apiAs(ada.email))('GET', `/api/conversations/${ada.conversationId}/messages`);
    const stored = (await history.json()).items.find((m) => m.id === ada.replyId);
    assert.deepEqual([stored.feedback.rating, stored.feedback.comment], ['down', ada.comment], 'unchanged by Eve');
  });

  test('admin: the share of ratings per model and the latest comments', { timeout: 90_000 }, async () => {
    assert.ok(ADMIN_EMAIL, 'set ALICE_E2E_ADMIN_EMAIL to an account granted admin rights');
    await withPage(browser, newPage, {}, async (page) => {
      await signUpOrIn(page, ADMIN_EMAIL, 'Operator');
      await page.getByRole('link', byName('Admin')).click();
      await page.getByRole('heading', byName('Reply feedback')).waitFor({ timeout: 30_000 });
      const table = page.getByRole('table', byName('Ratings per model'));
      const row = table.getByRole('row').nth(1);
      await row.waitFor();
      assert.match(await row.innerText(), /\d+%/, 'a model row with its share up');
      const comments = page.getByRole('list', byName('Latest comments'));
      await comments.getByText(ada.comment).waitFor();
      await comments.getByText(ada.comment).scrollIntoViewIfNeeded();
      await screenshot(page, 'admin-feedback.png');
      await expectAccessible(page, 'admin page with the feedback statistics');
    });
  });
});
