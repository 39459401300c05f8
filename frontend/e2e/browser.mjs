// Headless Debian Chromium driven by playwright-core: no browser is ever downloaded.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.ALICE_E2E_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);

export async function launch() {
  const executablePath = CANDIDATES.find((p) => existsSync(p));
  if (!executablePath) throw new Error(`no Chromium found (tried ${CANDIDATES.join(', ')}); apt-get install chromium`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh, isolated browser profile (own cookies and localStorage). */
export async function newPage(browser, { colorScheme = 'light', viewport = { width: 1280, height: 800 }, baseURL = BASE_URL } = {}) {
  const context = await browser.newContext({ baseURL, colorScheme, viewport, deviceScaleFactor: 1 });
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  return { context, page };
}
