// Shared links in Chromium against the real stack behind `vite preview` (ALICE_E2E_URL): the owner
// makes a link in the Share dialog on a 390 px phone, a fresh signed-out browser opens it and reads
// the conversation, the owner revokes it and the reader's reload says so. The conversation is
// imported through the API (no model reply needed). Run by tests/e2e/test_browser.py; exit code 0
// only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { expectAccessible } from './a11y.mjs';
import { apiAs, bodyText, byName, messages, screenshot, signUp, uniqueEmail, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const TITLE = 'Trip to Rome';
const QUESTION = 'Where should I eat in Rome?';
const ANSWER = 'Try the trattorias of **Trastevere**.';
const PHONE = { width: 390, height: 780 };

async function importConversation(email) {
  const api = await apiAs(email);
  const at = '2026-01-30T09:00:00.000Z';
  const archive = {
    format: 'alice.conversations',
    version: 1,
    conversations: [
      {
        title: TITLE,
        created_at: at,
        updated_at: at,
        messages: [
          { role: 'user', content: QUESTION, created_at: at },
          { role: 'assistant', content: ANSWER, created_at: '2026-01-30T09:00:02.000Z' },
        ],
      },
    ],
  };
  const imported = await api('POST', '/api/conversations/import', archive);
  const body = await imported.text();
  assert.equal(imported.status, 201, body);
  return JSON.parse(body).conversations[0].id;
}

const fitsTheScreen = (page) => page.evaluate(() => document.documentElement.scrollWidth <= innerWidth);

test('a link made in the Share dialog opens signed out, and shows it was revoked once it is', { timeout: 180_000 }, async () => {
  await withPage(browser, newPage, {}, async (owner) => {
    const email = uniqueEmail('share');
    await signUp(owner, email, 'Sam'); // waits for the sidebar, hidden in a drawer at 390 px
    await owner.setViewportSize(PHONE);
    const id = await importConversation(email);
    await owner.goto(`${BASE_URL}/c/${id}`);
    await messages(owner).nth(1).waitFor();

    await owner.getByRole('button', byName('Share this conversation')).click();
    const dialog = owner.getByRole('dialog', byName('Share this conversation'));
    await dialog.getByText('No links yet.').waitFor();
    await dialog.getByRole('button', byName('Create link')).click();
    const field = dialog.locator('#share-link-url');
    await field.waitFor();
    const link = await field.inputValue();
    assert.match(link, new RegExp(`^${BASE_URL}/s/[A-Za-z0-9_-]{43}$`));
    await dialog.getByRole('button', byName('Copy link')).click();
    await dialog.getByRole('button', byName('Copied')).waitFor();
    const rows = dialog.getByRole('list', byName('Links')).getByRole('listitem');
    await rows.first().getByText(/2 messages/).waitFor();
    const controls = { field, copy: dialog.locator('.share-link button'), create: dialog.getByRole('button', byName('Create link')), close: dialog.getByRole('button', byName('Close')) };
    for (const [name, control] of Object.entries(controls)) {
      const box = await control.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `${name} within the screen: ${JSON.stringify(box)}`);
    }
    assert.ok(await fitsTheScreen(owner), 'no sideways scrolling with the dialog open');
    await screenshot(owner, 'share-dialog-phone.png');
    await expectAccessible(owner, 'share dialog with a link');

    await withPage(browser, newPage, { viewport: PHONE }, async (reader) => {
      await reader.goto(link);
      await reader.getByRole('heading', byName(TITLE)).waitFor();
      await messages(reader).nth(1).waitFor();
      assert.equal(await messages(reader).count(), 2);
      assert.deepEqual(
        [await bodyText(messages(reader).nth(0)), await bodyText(messages(reader).nth(1))],
        [QUESTION, 'Try the trattorias of Trastevere.'],
      );
      assert.equal(await messages(reader).nth(1).locator('strong').innerText(), 'Trastevere', 'the reply as Markdown');
      assert.equal(await reader.getByRole('textbox', byName('Message')).count(), 0, 'no composer');
      assert.equal(await reader.getByRole('navigation', byName('Conversations')).count(), 0, 'no sidebar');
      assert.equal(await reader.getByText('Sam', { exact: true }).count(), 0, "the owner's name is not shown");
      assert.ok(await fitsTheScreen(reader), 'no sideways scrolling on the shared page');
      await screenshot(reader, 'shared-phone.png');
      await expectAccessible(reader, 'shared conversation, signed out');

      await rows.first().getByRole('button', { name: /^Revoke the link of / }).click();
      await dialog.getByText('No links yet.').waitFor();
      await reader.reload();
      await reader.getByRole('heading', byName('This link was revoked or does not exist')).waitFor();
      assert.equal(await messages(reader).count(), 0);
      await expectAccessible(reader, 'revoked shared link');
      assert.match(reader.url(), /\/s\/[A-Za-z0-9_-]{43}$/, 'the reader stays on the link, not sent to sign in');
    });
  });
});
