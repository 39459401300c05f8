// Export and import conversations: import a JSON file, see the same file imported again add
// nothing, read the imported conversation, download it as Markdown and JSON, export all, and see a
// bad file refused with nothing added; then the same controls in the 390 px phone layout. Chromium
// against the real stack behind `vite preview` (ALICE_E2E_URL). Run by tests/e2e/test_browser.py;
// exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { bodyText, byName, messages, screenshot, signIn, signUp, uniqueEmail, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const TITLE = 'Trip to Rome';
const QUESTION = 'Where should I eat in Rome?';
const ANSWER = 'Try the trattorias of Trastevere.';
const ARCHIVE = {
  format: 'alice.conversations',
  version: 1,
  conversations: [
    {
      title: TITLE,
      pinned: false,
      archived: false,
      created_at: '2026-01-30T09:00:00.000Z',
      updated_at: '2026-01-30T09:05:00.000Z',
      messages: [
        { role: 'user', content: QUESTION, status: 'completed', created_at: '2026-01-30T09:00:00.000Z' },
        { role: 'assistant', content: ANSWER, status: 'completed', created_at: '2026-01-30T09:00:02.000Z', model: 'test-model' },
      ],
    },
  ],
};
const jsonFile = (name, value) => ({ name, mimeType: 'application/json', buffer: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)) });

/** Clicks `format` in the export menu named `menu` and answers the download: its name and text. */
async function download(page, menu, format) {
  await page.getByRole('button', byName(menu)).click();
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', byName(format)).click()]);
  return { name: file.suggestedFilename(), text: readFileSync(await file.path(), 'utf8') };
}

/** What an export keeps of the imported conversations: everything but ids and times of export; a
 * message's parent as the position of the message it follows (a file without any: the one before). */
const content = (archive) =>
  archive.conversations.map(({ id: _id, messages: list, ...conversation }) => {
    const tree = list.some((m) => m.parent_id);
    const position = (parent) => list.findIndex((m) => m.id === parent);
    return {
      ...conversation,
      messages: list.map(({ id: _mid, parent_id: parent, ...m }, i) => ({ ...m, follows: tree ? (parent ? position(parent) : null) : i ? i - 1 : null })),
    };
  });

describe(`export and import in Chromium at ${BASE_URL}`, { concurrency: 1 }, () => {
  const eve = { email: uniqueEmail('export') };

  test('import a JSON file, read it, export it as Markdown and JSON, export all, refuse a bad file', { timeout: 180_000 }, async () => {
    await withPage(browser, newPage, {}, async (page) => {
      await signUp(page, eve.email, 'Eve');
      await page.getByRole('link', byName('Export and import')).click();
      await page.getByRole('heading', byName('Export and import')).waitFor();
      await page.getByLabel('Import a JSON file', { exact: true }).setInputFiles(jsonFile('rome.json', ARCHIVE));
      const result = page.getByRole('status', byName('Import result'));
      await result.getByText('Imported 1 conversation.').waitFor();
      const nav = page.getByRole('navigation', byName('Conversations'));
      await nav.getByRole('link', byName(TITLE)).waitFor();
      await expectAccessible(page, 'export and import page after an import');
      await page.getByLabel('Import a JSON file', { exact: true }).setInputFiles(jsonFile('rome.json', ARCHIVE));
      await result.getByText('Already imported before, so not added again: 1 conversation.').waitFor();
      await result.getByText('Imported 0 conversations.').waitFor();
      assert.equal(await nav.getByRole('link', byName(TITLE)).count(), 1, 'the same file imported again adds nothing');

      await result.getByRole('link', byName(TITLE)).click();
      await page.waitForURL(/\/c\/[0-9a-f]{32}$/);
      await messages(page).nth(1).waitFor();
      assert.deepEqual([await bodyText(messages(page).nth(0)), await bodyText(messages(page).nth(1))], [QUESTION, ANSWER]);
      await page.getByRole('button', byName('Export this conversation')).click();
      await page.getByRole('group', byName('Export this conversation as')).waitFor();
      await expectAccessible(page, 'chat with the export menu open');
      await page.getByRole('button', byName('Export this conversation')).click();

      const markdown = await download(page, 'Export this conversation', 'Markdown');
      assert.match(markdown.name, /^alice-conversation-trip-to-rome-\d{4}-\d\d-\d\d\.md$/);
      assert.ok(markdown.text.startsWith(`# ${TITLE}\n`), markdown.text);
      assert.ok(markdown.text.includes(`## You · 2026-01-30T09:00:00.000Z\n\n${QUESTION}\n`), markdown.text);
      assert.ok(markdown.text.includes(`## Alice (test-model) · 2026-01-30T09:00:02.000Z\n\n${ANSWER}\n`), markdown.text);
      const json = await download(page, 'Export this conversation', 'JSON');
      assert.match(json.name, /^alice-conversation-trip-to-rome-\d{4}-\d\d-\d\d\.json$/);
      assert.deepEqual(content(JSON.parse(json.text)), content(ARCHIVE), 'the same conversation, exactly');

      await page.getByRole('link', byName('Export and import')).click();
      const all = await download(page, 'Export all conversations', 'JSON');
      assert.match(all.name, /^alice-conversations-\d{4}-\d\d-\d\d\.json$/);
      assert.deepEqual(content(JSON.parse(all.text)), content(ARCHIVE));

      const partlyInvalid = structuredClone(ARCHIVE);
      partlyInvalid.conversations.push({ ...ARCHIVE.conversations[0], title: 'Broken' });
      partlyInvalid.conversations[1].messages = [{ role: 'system', content: 'x', created_at: '2026-01-30T09:00:00.000Z' }];
      const input = page.getByLabel('Import a JSON file', { exact: true });
      await input.setInputFiles(jsonFile('broken.json', partlyInvalid));
      const alert = page.getByRole('alert');
      await alert.getByText(/^Nothing was imported: .*conversations\.1\.messages\.0\.role/).waitFor();
      await expectAccessible(page, 'export and import page with a refused file');
      await input.setInputFiles(jsonFile('notes.json', 'not json at all'));
      await alert.getByText('Nothing was imported: “notes.json” is not a JSON file', { exact: false }).waitFor();
      await page.reload();
      await nav.getByRole('link', byName(TITLE)).waitFor();
      assert.equal(await nav.getByRole('link').count(), 1, 'nothing of the refused files was added');
    });
  });

  test('the export controls fit the 390 px phone layout', { timeout: 120_000 }, async () => {
    await withPage(browser, newPage, {}, async (page) => {
      await signIn(page, eve.email); // waits for the sidebar's New chat, hidden in a drawer at 390 px
      await page.setViewportSize({ width: 390, height: 780 });
      await page.getByRole('button', byName('Open menu')).click();
      await page.getByRole('navigation', byName('Conversations')).getByRole('link', byName(TITLE)).click();
      await messages(page).nth(1).waitFor();
      await page.getByRole('button', byName('Export this conversation')).click();
      for (const name of ['Markdown', 'JSON']) {
        const box = await page.getByRole('button', byName(name)).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${name} within the screen: ${JSON.stringify(box)}`);
      }
      await screenshot(page, 'export-phone.png');
      await expectAccessible(page, '390 px chat with the export menu open');
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling');

      await page.getByRole('button', byName('Open menu')).click();
      await page.getByRole('link', byName('Export and import')).click();
      await page.getByRole('button', byName('Export all conversations')).waitFor();
      await page.getByLabel('Import a JSON file', { exact: true }).waitFor({ state: 'attached' });
      await expectAccessible(page, '390 px export and import page');
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling');
    });
  });
});
