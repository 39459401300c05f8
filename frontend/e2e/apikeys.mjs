// The API keys settings page in Chromium, against the real stack behind `vite preview`
// (ALICE_E2E_URL). The key it creates is then used the way an OpenAI SDK would: `/v1/models`.
// Run by tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { byName, signUp, uniqueEmail, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const models = (key) => fetch(`${BASE_URL}/v1/models`, { headers: { Authorization: `Bearer ${key}` } });

test('create a key (shown once), use it, see only its prefix after reload, revoke it', { timeout: 120_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    await signUp(page, uniqueEmail('keys'));
    await page.getByRole('link', byName('Settings')).click();
    await page.getByText('No API keys yet.').waitFor();
    await expectAccessible(page, 'API keys page with no keys');
    await page.getByLabel('Key name', { exact: true }).fill('laptop');
    await page.getByRole('button', byName('Create key')).click();
    const secret = (await page.getByTestId('new-key').innerText()).trim();
    assert.match(secret, /^sk-alice-[0-9a-f]{12}-[\w-]{43}$/);
    await expectAccessible(page, 'API keys page showing a new key');

    const listed = await models(secret);
    assert.equal(listed.status, 200, 'the new key works through the app address (/v1)');
    assert.equal((await listed.json()).object, 'list');

    await page.reload();
    const row = page.getByRole('listitem', byName('laptop'));
    await row.waitFor();
    const prefix = secret.slice(0, 'sk-alice-'.length + 17);
    assert.ok((await row.innerText()).includes(prefix), 'the list shows the prefix');
    assert.ok(!(await page.locator('body').innerText()).includes(secret), 'the whole key is never shown again');

    await expectAccessible(page, 'API keys page with a key');
    await page.getByRole('button', byName('Revoke laptop')).click();
    await page.getByRole('dialog').waitFor();
    await expectAccessible(page, 'confirm dialog (revoke a key)');
    await page.getByRole('dialog').getByRole('button', byName('Revoke')).click();
    await page.getByText('No API keys yet.').waitFor();
    const refused = await models(secret);
    assert.equal(refused.status, 401, 'a revoked key is refused');
    assert.equal((await refused.json()).error.code, 'invalid_api_key');
  });
});
