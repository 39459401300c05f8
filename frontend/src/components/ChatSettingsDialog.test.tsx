import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonResponse, scriptedFetch } from '../api/testing';
import type { ChatSettings, ServedModel } from '../api/types';
import { ChatSettingsDialog } from './ChatSettingsDialog';
import { ModelPicker } from './ModelPicker';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const MODELS: ServedModel[] = [
  { id: 'small', default: true, context_tokens: 2048, max_tokens_limit: 1024, available: true },
  { id: 'big', default: false, context_tokens: 8192, max_tokens_limit: 4096, available: false },
];
const preset = (id: string, name: string, mine = true, settings: ChatSettings = {}) => ({
  id,
  name,
  settings: { model: null, system_prompt: null, temperature: null, max_tokens: null, ...settings },
  published: !mine,
  mine,
  created_at: '2026-12-06T10:00:00.000Z',
  updated_at: '2026-12-06T10:00:00.000Z',
});

describe('ModelPicker and ChatSettingsDialog', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
  });
  const mount = async (node: React.ReactNode) => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(node));
    return container;
  };
  const click = async (el: Element | null | undefined) => {
    expect(el).toBeTruthy();
    await act(async () => (el as HTMLElement).click());
  };
  const choose = async (select: HTMLSelectElement, value: string) => {
    await act(async () => {
      select.value = value;
      select.dispatchEvent(new Event('change', { bubbles: true }));
    });
  };
  const type = async (input: HTMLInputElement | HTMLTextAreaElement, value: string) => {
    const proto = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    await act(async () => {
      Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
  };

  it('lists an unavailable model as such and warns when the chosen one is down', async () => {
    const picked: Array<string | null> = [];
    const container = await mount(<ModelPicker models={MODELS} value="big" onChange={(m) => picked.push(m)} />);
    const options = [...container.querySelectorAll('option')].map((o) => o.textContent);
    expect(options).toEqual(['small (default)', 'big (unavailable)']);
    expect(container.querySelector('[role="status"]')?.textContent).toBe('big is unavailable right now: pick another model.');
    await choose(container.querySelector('select')!, 'small');
    expect(picked).toEqual(['small']);
    await act(async () => root!.render(<ModelPicker models={MODELS} value={null} onChange={() => undefined} />));
    expect(container.querySelector('select')!.value).toBe('small');
    expect(container.querySelector('[role="status"]')).toBeNull();
  });

  it('applies a preset, saves the settings, and saves, renames and deletes presets', async () => {
    const scripted = scriptedFetch([
      jsonResponse({ items: [preset('p1', 'Pirate', true, { system_prompt: 'Arr.', temperature: 1.2 }), preset('p2', 'House', false)] }),
      jsonResponse(preset('p3', 'Terse', true, { max_tokens: 50 }), 201),
      jsonResponse({ items: [preset('p1', 'Pirate'), preset('p3', 'Terse'), preset('p2', 'House', false)] }),
      jsonResponse(preset('p1', 'Captain')),
      jsonResponse({ items: [preset('p1', 'Captain'), preset('p3', 'Terse'), preset('p2', 'House', false)] }),
      new Response(null, { status: 204 }),
      jsonResponse({ items: [preset('p1', 'Captain'), preset('p2', 'House', false)] }),
    ]);
    vi.stubGlobal('fetch', scripted.fetch);
    const saved: ChatSettings[] = [];
    const container = await mount(
      <ChatSettingsDialog settings={{ model: 'small' }} models={MODELS} isAdmin={false} onSave={async (s) => void saved.push(s)} onClose={() => undefined} />,
    );
    await choose(container.querySelector('#preset-apply')!, 'p1');
    expect((container.querySelector('#settings-prompt') as HTMLTextAreaElement).value).toBe('Arr.');
    await type(container.querySelector('#settings-max-tokens')!, '50');
    await click([...container.querySelectorAll('button')].find((b) => b.textContent === 'Save settings'));
    expect(saved).toEqual([{ model: null, system_prompt: 'Arr.', temperature: 1.2, max_tokens: 50 }]);

    await type(container.querySelector('input[aria-label="Preset name"]')!, 'Terse');
    await click([...container.querySelectorAll('button')].find((b) => b.textContent === 'Save as preset'));
    await click(container.querySelector('button[aria-label="Rename Pirate"]'));
    await type(container.querySelector('input[aria-label="New name for Pirate"]')!, 'Captain');
    await click([...container.querySelectorAll('button')].find((b) => b.textContent === 'Save name'));
    await click(container.querySelector('button[aria-label="Delete Terse"]'));
    // Another's published preset can be applied but not changed.
    expect(container.querySelector('button[aria-label="Delete House"]')).toBeNull();
    const rows = [...container.querySelectorAll('ul[aria-label="Presets"] li')].map((li) => li.textContent);
    expect(rows).toEqual(['CaptainRenameDelete', 'House · shared by an admin']);
    expect(scripted.calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual([
      'GET /api/presets',
      'POST /api/presets',
      'GET /api/presets',
      'PATCH /api/presets/p1',
      'GET /api/presets',
      'DELETE /api/presets/p3',
      'GET /api/presets',
    ]);
    expect(JSON.parse(String(scripted.calls[1].init.body))).toEqual({
      name: 'Terse',
      settings: { model: null, system_prompt: 'Arr.', temperature: 1.2, max_tokens: 50 },
      published: false,
    });
  });
});
