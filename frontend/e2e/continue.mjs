// Continue in Chromium against the real stack behind `vite preview` (ALICE_E2E_URL): a reply cut at
// its length limit (the stack's short max tokens) offers Continue; the continuation streams into
// the same bubble, and after a reload the conversation still has that one reply, grown. Run by
// tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, newPage } from './browser.mjs';
import { expectAccessible } from './a11y.mjs';
import { REPLY_TIMEOUT_MS, apiAs, byName, messages, screenshot, send, signUp, uniqueEmail, waitForReply, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const LONG = 'Write a very long, detailed story about a dragon who learns to bake bread, in many paragraphs.';

async function storedReplies(api, conversation) {
  const response = await api('GET', `/api/conversations/${conversation}/messages`);
  assert.equal(response.status, 200);
  return (await response.json()).items.filter((m) => m.role === 'assistant');
}

test('Continue grows a reply cut at its length limit in the same bubble', { timeout: 600_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    const email = uniqueEmail('continue');
    await signUp(page, email, 'Cora');
    const conversation = await send(page, LONG);
    const reply = await waitForReply(page);
    const api = await apiAs(email);
    const [cut] = await storedReplies(api, conversation);
    assert.equal(cut.finish_reason, 'length', 'the reply reached the max tokens');
    const id = await reply.getAttribute('data-message-id');
    assert.equal(id, cut.id);

    const button = reply.getByRole('button', byName('Continue'));
    await button.waitFor();
    await expectAccessible(page, 'chat with a reply cut at its length limit');
    await button.click();
    // The continuation streams in where the reply was: one assistant bubble, busy, then done.
    await page.locator('article.from-assistant[aria-busy="true"]').waitFor({ timeout: REPLY_TIMEOUT_MS });
    assert.equal(await page.locator('article.from-assistant').count(), 1, 'no second bubble while it streams');
    await page.waitForFunction(
      (id) => !document.querySelector('article[aria-busy="true"]') && document.querySelector(`article[data-message-id="${id}"][data-status]`),
      id,
      { timeout: REPLY_TIMEOUT_MS, polling: 250 },
    );
    const [grown] = await storedReplies(api, conversation);
    assert.ok(grown.content.startsWith(cut.content) && grown.content.length > cut.content.length, 'the same reply, longer');
    const shown = async () => (await messages(page).last().locator('.markdown').innerText()).replace(/\s+/g, ' ').trim();
    const grownText = await shown();
    assert.equal(await messages(page).count(), 2, 'still one message and one reply');
    assert.equal(await messages(page).last().getAttribute('data-message-id'), id);
    await screenshot(page, 'chat-continued.png');
    await expectAccessible(page, 'chat with a continued reply');

    await page.reload();
    await messages(page).nth(1).waitFor();
    assert.equal(await messages(page).count(), 2, 'one reply after a reload');
    assert.equal(await shown(), grownText, 'the reply as it was shown, stored');
    const again = messages(page).last().getByRole('button', byName('Continue'));
    assert.equal(await again.count(), grown.finish_reason === 'length' ? 1 : 0, 'Continue only while the reply is cut');
    assert.equal(await messages(page).last().getByRole('button', byName('Regenerate')).count(), 1);
  });
});
