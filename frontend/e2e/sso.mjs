// Single sign-on in Chromium: the login page offers "Sign in with Keycloak" (a real Keycloak the
// test started, ALICE_E2E_SSO_*), the user signs in on the provider's own page and lands in the
// app signed in as themselves; signing out ends the session at the provider too, so the next
// "Sign in with" asks for the password again. Run by tests/e2e/test_browser_sso.py.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { screenshot } from './helpers.mjs';

const USERNAME = process.env.ALICE_E2E_SSO_USERNAME;
const PASSWORD = process.env.ALICE_E2E_SSO_PASSWORD;
const EMAIL = process.env.ALICE_E2E_SSO_EMAIL;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('sign in with the provider, land in the app, sign out at both', { timeout: 180_000 }, async () => {
  const { context, page } = await newPage(browser);
  try {
    await page.goto(BASE_URL + '/');
    await page.getByRole('link', { name: 'Sign in with Keycloak' }).waitFor();
    await expectAccessible(page, 'the login page with single sign-on');
    await screenshot(page, 'login-sso.png');
    await page.getByRole('link', { name: 'Sign in with Keycloak' }).click();

    // The provider's own login page, on its own address.
    await page.locator('#username').waitFor();
    assert.notEqual(new URL(page.url()).origin, BASE_URL);
    await page.locator('#username').fill(USERNAME);
    await page.locator('#password').fill(PASSWORD);
    await page.locator('#kc-login').click();

    // Back in the app, signed in as this user; the address no longer says how.
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(new URL(page.url()).origin, BASE_URL);
    assert.equal(new URL(page.url()).search, '');
    assert.equal(await page.locator('.me-name').getAttribute('title'), EMAIL);

    // A reload keeps the session (the refresh cookie).
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    // Without an ID token to name the session, the provider asks to confirm.
    const signInAgain = page.getByRole('link', { name: 'Sign in with Keycloak' });
    const confirm = page.locator('#kc-logout');
    await signInAgain.or(confirm).waitFor();
    if (await confirm.isVisible()) await confirm.click();
    await signInAgain.waitFor();
    assert.equal(new URL(page.url()).origin, BASE_URL);
    // Signed out at the provider too: it asks for the password again.
    await page.getByRole('link', { name: 'Sign in with Keycloak' }).click();
    await page.locator('#username').waitFor();
  } finally {
    await context.close();
  }
});
