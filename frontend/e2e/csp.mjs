// The browser-side lockdown (issue 23), in Debian's Chromium against the frontend as users run it
// (ALICE_E2E_URL: the Vite dev server natively, nginx in containers): the security headers are
// sent, the app itself runs under its Content-Security-Policy without a violation, and an image
// from another origin is not fetched even if markup slips one in.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { BASE_URL, launch, newPage } from './browser.mjs';

let browser;
let elsewhere;
const fetchedElsewhere = [];

before(async () => {
  browser = await launch();
  elsewhere = createServer((req, res) => {
    fetchedElsewhere.push(req.url);
    res.writeHead(200, { 'Content-Type': 'image/gif' });
    res.end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
  });
  await new Promise((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await browser?.close();
  elsewhere?.close();
});

test('the page is locked down and runs under its policy; a remote image is never fetched', async () => {
  const { context, page } = await newPage(browser);
  const violations = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });
  try {
    const response = await page.goto(BASE_URL + '/');
    const headers = response.headers();
    const csp = headers['content-security-policy'] ?? '';
    assert.match(csp, /img-src 'self' data:(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(violations, [], 'the app itself needs nothing its policy forbids');

    const remote = `http://127.0.0.1:${elsewhere.address().port}/pixel.gif?memory=secret`;
    const blocked = await page.evaluate(async (src) => {
      const seen = new Promise((resolve) => document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), { once: true }));
      const img = document.createElement('img');
      img.src = src;
      document.body.appendChild(img);
      return Promise.race([seen, new Promise((resolve) => setTimeout(() => resolve('loaded'), 3000))]);
    }, remote);
    assert.equal(blocked, 'img-src');
    assert.deepEqual(fetchedElsewhere, []);
  } finally {
    await context.close();
  }
});
