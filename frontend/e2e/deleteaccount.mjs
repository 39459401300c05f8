// Delete my data in Chromium, against the real stack behind `vite preview` (ALICE_E2E_URL): the
// Settings page's dialog refuses a wrong password, then deletes the account; the user lands on
// the sign-in page with a notice, and neither the password nor the old session works any more.
// Run by tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { expectAccessible } from './a11y.mjs';
import { PASSWORD, apiAs, byName, screenshot, signUp, uniqueEmail, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const login = (email, password) =>
  fetch(`${BASE_URL}/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });

test('delete my account from Settings: a wrong password is refused, then everything goes', { timeout: 180_000 }, async () => {
  const email = uniqueEmail('leaver');
  await withPage(browser, newPage, {}, async (page) => {
    await signUp(page, email, 'Leaver');
    const asLeaver = await apiAs(email);
    const created = await asLeaver('POST', '/api/conversations', { title: 'Goodbye notes' });
    assert.equal(created.status, 201);

    await page.getByRole('link', byName('Settings')).click();
    await page.getByRole('heading', byName('Delete my data')).waitFor();
    await page.getByRole('button', byName('Delete my account…')).click();
    const dialog = page.getByRole('dialog', byName('Delete your account and all your data?'));
    await dialog.getByText('This cannot be undone.').waitFor();
    const confirm = dialog.getByRole('button', byName('Delete everything'));
    assert.equal(await confirm.isDisabled(), true, 'nothing to confirm without the password');

    await dialog.getByLabel('Your password', { exact: true }).fill('not my password');
    await confirm.click();
    await dialog.getByRole('alert').getByText('wrong password').waitFor();
    assert.equal((await asLeaver('GET', '/api/me')).status, 200, 'a wrong password changes nothing');
    await screenshot(page, 'delete-account.png');
    await expectAccessible(page, 'delete-my-data dialog with a wrong password');

    await dialog.getByLabel('Your password', { exact: true }).fill(PASSWORD);
    await confirm.click();
    await page.getByRole('button', byName('Sign in')).waitFor();
    await page.getByRole('status').getByText('Your account is deleted and you are signed out.', { exact: false }).waitFor();
    await expectAccessible(page, 'sign-in page after the account was deleted');

    assert.equal((await asLeaver('GET', '/api/me')).status, 401, 'the old session is refused');
    assert.equal((await login(email, PASSWORD)).status, 401, 'the account cannot sign in');
    await page.reload();
    await page.getByRole('button', byName('Sign in')).waitFor();
  });
});
