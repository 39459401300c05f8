// Attach a document in the composer, in Chromium against the real stack behind `vite preview`
// (ALICE_E2E_URL): the chip shows indexing progress until "ready", the reply cites the file, a
// second chat does not. Run by tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { launch, newPage } from './browser.mjs';
import { REPLY_TIMEOUT_MS, byName, screenshot, send, signUp, uniqueEmail, waitForReply, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const NOTE = [
  '# Project Kestrel',
  '',
  'Project Kestrel is the internal name of our river survey.',
  'The codename of Project Kestrel is AMBER OTTER.',
  'Project Kestrel measures the river at the town of Haldenbrück every Thursday.',
].join('\n');
const QUESTION = 'What is the codename of Project Kestrel?';

test('attach a file in the composer, watch it become ready, get an answer citing it', { timeout: REPLY_TIMEOUT_MS * 3 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    await signUp(page, uniqueEmail('attach'));
    const filename = `kestrel-${Date.now()}.md`;
    await page.getByLabel('Attach a file', { exact: true }).setInputFiles({ name: filename, mimeType: 'text/markdown', buffer: Buffer.from(NOTE) });
    await page.waitForURL(/\/c\//); // the first attachment creates the conversation
    const chip = page.getByRole('list', byName('Attachments')).getByRole('listitem', byName(filename));
    await chip.waitFor();
    await chip.getByText('ready', { exact: true }).waitFor({ timeout: REPLY_TIMEOUT_MS });
    assert.equal(await chip.getByRole('progressbar').count(), 0, 'no progress bar once ready');
    await screenshot(page, 'composer-attachment.png');
    await expectAccessible(page, 'composer with an attachment');

    await send(page, QUESTION);
    const reply = await waitForReply(page);
    // The message records the file it was sent with; the composer no longer holds it.
    const asked = page.getByRole('log', byName('Messages')).getByRole('article').first();
    assert.deepEqual(await asked.getByRole('list', byName('Attached files')).getByRole('listitem').allInnerTexts(), [filename]);
    assert.equal(await page.getByRole('list', byName('Attachments')).count(), 0);
    const source = reply.getByRole('list', byName('Sources')).getByRole('link').first();
    await source.waitFor({ timeout: 5000 });
    assert.match(await source.innerText(), new RegExp(filename.replace('.', '\\.')));

    // Another chat of the same user neither lists nor cites it.
    await page.getByRole('button', byName('New chat')).click();
    assert.equal(await page.getByRole('listitem', byName(filename)).count(), 0);
    await send(page, QUESTION);
    const other = await waitForReply(page);
    const cited = await other.getByRole('list', byName('Sources')).getByRole('link').allInnerTexts();
    assert.ok(cited.every((t) => !t.includes(filename)), `not cited elsewhere: ${cited}`);
  });
});
