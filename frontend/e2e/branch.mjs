// Edit and branch in Chromium, against the real stack behind `vite preview` (ALICE_E2E_URL): editing
// a sent message makes a second version with its own reply and keeps the first; `‹ 1 / 2 ›` moves
// between them (buttons, arrow keys, the Mod+Alt shortcuts) and the server remembers the choice
// across a reload; Regenerate makes a second version of a reply; the controls fit 390 px. Run by
// tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { launch, newPage } from './browser.mjs';
import { REPLY_TIMEOUT_MS, apiAs, bodyText, byName, messages, screenshot, send, signUp, uniqueEmail, waitForReply, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const versionOf = (article) => article.getByRole('group', byName('Versions')).getByRole('img');

/** Waits until nothing streams and the log ends with a stored reply. */
async function settled(page) {
  await page.waitForFunction(
    () => {
      const articles = [...document.querySelectorAll('[role="log"] article')];
      const last = articles[articles.length - 1];
      return !document.querySelector('article[aria-busy="true"]') && last?.matches('.from-assistant[data-status]');
    },
    undefined,
    { timeout: REPLY_TIMEOUT_MS, polling: 250 },
  );
}

/** Waits until the first message reads `text`, with the label `Version n of m`. */
async function showing(page, text, version) {
  const first = messages(page).first();
  await first.getByRole('img', byName(version)).waitFor();
  await settled(page);
  assert.equal(await bodyText(first), text);
}

async function branchOf(api, conversation) {
  const response = await api('GET', `/api/conversations/${conversation}/branch`);
  assert.equal(response.status, 200);
  return (await response.json()).items;
}

test('an edit is a second version with its own reply; both stay, the choice survives a reload', { timeout: 3 * REPLY_TIMEOUT_MS + 120_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    const email = uniqueEmail('branch');
    await signUp(page, email, 'Bea');
    const conversation = await send(page, 'Name a fruit.');
    const firstReply = await bodyText(await waitForReply(page));

    await messages(page).first().getByRole('button', byName('Edit text')).click();
    const editor = page.getByRole('textbox', byName('Edited text'));
    assert.equal(await editor.inputValue(), 'Name a fruit.');
    await editor.fill('Name a vegetable.');
    await page.getByRole('button', byName('Submit edit')).click();
    await showing(page, 'Name a vegetable.', 'Version 2 of 2');
    assert.equal(await messages(page).count(), 2, 'the edit and its reply, the first version out of view');
    const api = await apiAs(email);
    const branch = await branchOf(api, conversation);
    assert.deepEqual(branch.map((m) => m.content.slice(0, 20)).slice(0, 1), ['Name a vegetable.']);
    assert.equal(branch[0].siblings.length, 2);
    await screenshot(page, 'chat-versions.png');
    await expectAccessible(page, 'chat with two versions of a message');

    await messages(page).first().getByRole('button', byName('Previous version')).click();
    await showing(page, 'Name a fruit.', 'Version 1 of 2');
    assert.equal(await bodyText(messages(page).last()), firstReply, 'the first version keeps its own reply');
    assert.equal(await messages(page).first().getByRole('button', byName('Previous version')).isDisabled(), true);

    await page.reload();
    await showing(page, 'Name a fruit.', 'Version 1 of 2');

    // Keyboard: the arrow keys on the navigator, and the shortcut from anywhere.
    const next = messages(page).first().getByRole('button', byName('Next version'));
    await next.focus();
    await page.keyboard.press('Enter');
    await showing(page, 'Name a vegetable.', 'Version 2 of 2');
    await page.keyboard.press('ArrowLeft');
    await showing(page, 'Name a fruit.', 'Version 1 of 2');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+Alt+ArrowRight');
    await showing(page, 'Name a vegetable.', 'Version 2 of 2');

    // Regenerate: a second version of the reply, the first kept.
    const before = await bodyText(messages(page).last());
    await messages(page).last().getByRole('button', byName('Regenerate')).click();
    await versionOf(messages(page).last()).and(page.getByRole('img', byName('Version 2 of 2'))).waitFor({ timeout: REPLY_TIMEOUT_MS });
    await settled(page);
    await messages(page).last().getByRole('button', byName('Previous version')).click();
    await messages(page).last().getByRole('img', byName('Version 1 of 2')).waitFor();
    assert.equal(await bodyText(messages(page).last()), before, 'the first reply is kept');
    await expectAccessible(page, 'chat with two versions of a reply');
  });
});

test('the version controls and the edit box fit the 390 px phone layout', { timeout: 2 * REPLY_TIMEOUT_MS + 60_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    await signUp(page, uniqueEmail('branch-phone')); // waits for the sidebar's New chat, in a drawer at 390 px
    await page.setViewportSize({ width: 390, height: 780 });
    await send(page, 'Say hello.');
    await waitForReply(page);
    await messages(page).first().getByRole('button', byName('Edit text')).click();
    await page.getByRole('textbox', byName('Edited text')).fill('Say goodbye.');
    await page.getByRole('button', byName('Submit edit')).click();
    await showing(page, 'Say goodbye.', 'Version 2 of 2');
    for (const name of ['Previous version', 'Next version', 'Edit text']) {
      const box = await messages(page).first().getByRole('button', byName(name)).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${name} within the screen: ${JSON.stringify(box)}`);
    }
    await messages(page).first().getByRole('button', byName('Edit text')).click();
    const editor = await page.getByRole('textbox', byName('Edited text')).boundingBox();
    assert.ok(editor && editor.x >= 0 && editor.x + editor.width <= 390, 'the edit box within the screen');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling');
    await expectAccessible(page, '390 px chat editing a message with versions');
  });
});
