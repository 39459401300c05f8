// Formulas in a reply, in Chromium against the real stack behind `vite preview` (ALICE_E2E_URL):
// a conversation whose reply holds TeX is imported through the API (the local model cannot be
// made to write a formula on demand), then opened like any other. Run by tests/e2e/test_browser.py;
// exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { BASE_URL, launch, newPage } from './browser.mjs';
import { apiAs, messages, screenshot, signUp, uniqueEmail, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const REPLY = [
  'The area of a circle is $A = \\pi r^2$, and \\(e^{i\\pi} + 1 = 0\\).',
  '',
  '$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$',
  '',
  'It costs $5 and $10 today.',
  '',
  'Also $\\href{javascript:window.hacked=1}{click}$ and <script>window.hacked = 1</script>.',
].join('\n');

async function importReply(email) {
  const api = await apiAs(email);
  const at = '2026-02-01T10:00:00.000Z';
  const archive = {
    format: 'alice.conversations',
    version: 1,
    conversations: [
      {
        title: 'Circles',
        pinned: false,
        archived: false,
        created_at: at,
        updated_at: at,
        messages: [
          { role: 'user', content: 'What is the area of a circle?', status: 'completed', created_at: at },
          { role: 'assistant', content: REPLY, status: 'completed', created_at: '2026-02-01T10:00:01.000Z' },
        ],
      },
    ],
  };
  const imported = await api('POST', '/api/conversations/import', archive);
  const body = await imported.text();
  assert.equal(imported.status, 201, body);
  return JSON.parse(body).conversations[0].id;
}

test('a reply with formulas shows them as math; prices stay text; nothing in it runs', { timeout: 90_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    const email = uniqueEmail('math');
    await signUp(page, email);
    const id = await importReply(email);
    await page.goto(`${BASE_URL}/c/${id}`);
    const reply = messages(page).nth(1);
    await reply.locator('math').first().waitFor(); // KaTeX is loaded on first use
    const formulas = await reply.locator('.katex[data-tex]').evaluateAll((list) => list.map((k) => k.getAttribute('data-tex')));
    assert.deepEqual(formulas.slice(0, 3), ['A = \\pi r^2', 'e^{i\\pi} + 1 = 0', '\\int_0^1 x^2\\,dx = \\frac{1}{3}']);
    assert.equal(await reply.locator('.math-block math[display="block"]').count(), 1);
    const box = await reply.locator('.math-block math').boundingBox();
    assert.ok(box && box.height > 20, `the block formula is laid out: ${JSON.stringify(box)}`);
    assert.match(await reply.innerText(), /It costs \$5 and \$10 today\./);
    assert.equal(await reply.locator('a, script').count(), 0, 'no link or script from the reply');
    assert.equal(await page.evaluate(() => window.hacked), undefined, 'nothing in the reply ran');
    await screenshot(page, 'math.png');
    await expectAccessible(page, 'reply with formulas');
  });
});
