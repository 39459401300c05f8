// The keyboard shortcuts in Chromium, against the real stack behind `vite preview`
// (ALICE_E2E_URL): the help dialog lists them, and each does what it says, on a desktop and on a
// phone-sized screen. Run by tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { launch, newPage } from './browser.mjs';
import { REPLY_TIMEOUT_MS, byName, composer, screenshot, send, signUp, uniqueEmail, waitForReply, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Waits until the element named `label` has the focus (shortcuts focus on the next frame). */
const focusedOn = (page, label) =>
  page.waitForFunction((name) => document.activeElement?.getAttribute('aria-label') === name, label, { timeout: 5000 });

test('the help dialog lists the shortcuts; each one works; Escape stops a reply', { timeout: REPLY_TIMEOUT_MS + 60_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    await signUp(page, uniqueEmail('keys'));

    await page.keyboard.press('Control+/');
    const help = page.getByRole('dialog', byName('Keyboard shortcuts'));
    await help.waitFor();
    const rows = await help.getByRole('rowheader').allInnerTexts();
    assert.deepEqual(rows, ['New chat', 'Search conversations', 'Write a message', 'Stop the reply', 'Show the previous version', 'Show the next version', 'Show these shortcuts', 'Send', 'New line']);
    await screenshot(page, 'shortcuts.png');
    await expectAccessible(page, 'shortcuts dialog');
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'hidden' });
    // The same dialog from the button, for those who do not know the shortcut.
    await page.getByRole('button', byName('Keyboard shortcuts')).click();
    await help.waitFor();
    await help.getByRole('button', byName('Close')).click();
    await help.waitFor({ state: 'hidden' });

    await page.keyboard.press('Control+k');
    await focusedOn(page, 'Search');
    await page.keyboard.press('Shift+Escape');
    await focusedOn(page, 'Message');

    await send(page, 'Write a long story about a lighthouse keeper and the sea, at least twenty sentences.');
    await page.locator('article[aria-busy="true"] .markdown').waitFor({ timeout: REPLY_TIMEOUT_MS });
    await page.keyboard.press('Escape');
    const reply = await waitForReply(page, 30_000);
    assert.equal(await reply.getAttribute('data-status'), 'stopped', 'Escape stopped the reply');

    await page.keyboard.press('Control+Shift+O');
    await page.waitForURL((url) => url.pathname === '/');
    await page.getByRole('heading', byName('New chat')).waitFor();
    await focusedOn(page, 'Message');
    assert.equal(await composer(page).isEnabled(), true);
  });
});

test('on a phone, the search shortcut opens the drawer to the search field', { timeout: 60_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    await signUp(page, uniqueEmail('keys-phone')); // waits for the sidebar's New chat, in a drawer at 390 px
    await page.setViewportSize({ width: 390, height: 844 });
    const search = page.getByRole('searchbox', byName('Search'));
    await search.waitFor({ state: 'hidden' }); // the drawer is closed once its transition ends
    await page.keyboard.press('Control+k');
    await search.waitFor({ state: 'visible' });
    await focusedOn(page, 'Search');
    await expectAccessible(page, '390 px layout with the drawer open');
    await page.keyboard.press('Escape'); // closes the drawer, as before
    await search.waitFor({ state: 'hidden' });
  });
});
