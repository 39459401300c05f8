// The model picker, a conversation's chat settings and presets in Chromium against the real stack
// behind `vite preview` (ALICE_E2E_URL); the stack serves the local model and `offline-model`, an
// LLM_MODELS entry whose endpoint is down. Picks the offline model (shown as unavailable; a message
// sent to it ends with a clear error), picks the local model back, saves settings as a preset and
// applies it to a new chat, reloads and finds the model and settings kept.
// Run by tests/e2e/test_browser.py; exit code 0 only when every test passed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expectAccessible } from './a11y.mjs';
import { launch, newPage } from './browser.mjs';
import { apiAs, byName, composer, screenshot, send, signUp, uniqueEmail, waitForReply, withPage } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const OFFLINE = 'offline-model';
const PROMPT = 'You are Alice. Answer in one short sentence.';

test('pick a model, save and apply a preset, and find both kept after a reload', { timeout: 600_000 }, async () => {
  await withPage(browser, newPage, {}, async (page) => {
    const email = uniqueEmail('models');
    await signUp(page, email, 'Mo');
    const api = await apiAs(email);
    const models = (await (await api('GET', '/api/models')).json()).items;
    const local = models.find((m) => m.default).id;
    assert.deepEqual(models.map((m) => [m.id, m.available]), [[local, true], [OFFLINE, false]]);

    const picker = page.getByRole('combobox', byName('Model'));
    await picker.waitFor();
    assert.equal(await picker.inputValue(), local);
    assert.deepEqual(await picker.locator('option').allInnerTexts(), [`${local} (default)`, `${OFFLINE} (unavailable)`]);

    // The offline model, picked for a new chat: a warning at once, and a clear error on sending.
    await picker.selectOption(OFFLINE);
    await page.getByText(`${OFFLINE} is unavailable right now: pick another model.`).waitFor();
    const conversation = await send(page, 'Hello there');
    const failure = page.getByRole('alert').filter({ hasText: `The model '${OFFLINE}' is unavailable right now` });
    await failure.waitFor({ timeout: 60_000 });
    const stored = await (await api('GET', `/api/conversations/${conversation}`)).json();
    assert.equal(stored.settings.model, OFFLINE, 'the new chat was created with the model picked');
    await expectAccessible(page, 'chat with an unavailable model picked');
    await screenshot(page, 'model-picker.png');

    // Back to the local model: the conversation remembers it, and replies come from it.
    await picker.selectOption(local);
    await page.waitForFunction(() => !document.querySelector('.model-warning'));
    await send(page, 'Say hello.');
    const reply = await waitForReply(page);
    assert.equal(await reply.getAttribute('data-status'), 'completed');
    await page.reload();
    await picker.waitFor();
    assert.equal(await picker.inputValue(), local, 'the model is kept after a reload');

    // Chat settings saved as a preset, then applied to a new chat.
    await page.getByRole('button', byName('Chat settings')).click();
    const dialog = page.getByRole('dialog', byName('Chat settings'));
    await dialog.getByLabel('System prompt', { exact: true }).fill(PROMPT);
    await dialog.getByLabel('Temperature', { exact: true }).fill('0.2');
    await dialog.getByLabel('Max tokens', { exact: true }).fill('40');
    await dialog.getByLabel('Preset name', { exact: true }).fill('One sentence');
    await dialog.getByRole('button', byName('Save as preset')).click();
    await dialog.getByRole('list', byName('Presets')).getByText('One sentence').waitFor();
    await expectAccessible(page, 'chat settings dialog');
    await screenshot(page, 'chat-settings.png');
    await dialog.getByRole('button', byName('Cancel')).click();

    await page.getByRole('button', byName('New chat')).click();
    await page.getByRole('button', byName('Chat settings')).click();
    await dialog.getByLabel('Apply a preset', { exact: true }).selectOption({ label: 'One sentence' });
    assert.equal(await dialog.getByLabel('System prompt', { exact: true }).inputValue(), PROMPT);
    await dialog.getByRole('button', byName('Save settings')).click();
    await dialog.waitFor({ state: 'detached' });
    const second = await send(page, 'What is the sky?');
    await waitForReply(page);
    const kept = (await (await api('GET', `/api/conversations/${second}`)).json()).settings;
    // The preset carries the model the first chat had (the local one, picked back explicitly).
    assert.deepEqual(kept, { model: local, system_prompt: PROMPT, temperature: 0.2, max_tokens: 40 });
    assert.equal(await picker.inputValue(), local);

    await page.reload();
    await composer(page).waitFor();
    await page.getByRole('button', byName('Chat settings')).click();
    assert.equal(await dialog.getByLabel('System prompt', { exact: true }).inputValue(), PROMPT, 'kept after a reload');
    assert.equal(await dialog.getByLabel('Temperature', { exact: true }).inputValue(), '0.2');
    assert.equal(await dialog.getByLabel('Max tokens', { exact: true }).inputValue(), '40');
    await dialog.getByRole('button', byName('Cancel')).click();

    // The picker, the settings button and the dialog fit the 390 px phone layout.
    await page.setViewportSize({ width: 390, height: 780 });
    for (const control of [picker, page.getByRole('button', byName('Chat settings')), page.getByRole('button', byName('Share this conversation'))]) {
      const box = await control.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `within the screen: ${JSON.stringify(box)}`);
    }
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling');
    await expectAccessible(page, '390 px chat with the model picker');

    // Rename and delete the preset.
    await page.getByRole('button', byName('Chat settings')).click();
    await dialog.getByRole('button', byName('Rename One sentence')).click();
    await dialog.getByLabel('New name for One sentence', { exact: true }).fill('Brief');
    await dialog.getByRole('button', byName('Save name')).click();
    await dialog.getByRole('button', byName('Delete Brief')).click();
    await dialog.getByText('No presets yet.').waitFor();
    const box = await dialog.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the dialog within the screen: ${JSON.stringify(box)}`);
    await expectAccessible(page, '390 px chat settings dialog');
    assert.deepEqual((await (await api('GET', '/api/presets')).json()).items, []);
  });
});
