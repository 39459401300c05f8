import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonResponse, scriptedFetch } from '../api/testing';
import type { User, UserSettingsChanges } from '../api/types';
import { ChatDefaults } from './ChatDefaults';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const USER: User = {
  id: 'u1',
  email: 'ann@example.org',
  display_name: 'Ann',
  created_at: '2026-01-01T00:00:00.000Z',
  is_admin: false,
  settings: { memory_enabled: true, theme: 'system', default_model: null, default_preset_id: null },
};

describe('ChatDefaults', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
  });

  it('lists the models and presets and saves the theme, default model and default preset', async () => {
    vi.stubGlobal(
      'fetch',
      scriptedFetch([
        jsonResponse({ items: [{ id: 'small', default: true, context_tokens: 2048, max_tokens_limit: 1024, available: true }, { id: 'big', default: false, context_tokens: 8192, max_tokens_limit: 4096, available: false }] }),
        jsonResponse({ items: [{ id: 'p1', name: 'Pirate', settings: {}, published: false, mine: true, created_at: USER.created_at, updated_at: USER.created_at }] }),
      ]).fetch,
    );
    const changes: UserSettingsChanges[] = [];
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<ChatDefaults user={USER} onChange={async (c) => void changes.push(c)} />));
    const texts = (id: string) => [...container.querySelectorAll(`#${id} option`)].map((o) => o.textContent);
    expect(texts('default-model')).toEqual(["The server's default", 'small', 'big (unavailable)']);
    expect(texts('default-preset')).toEqual(['None', 'Pirate']);
    for (const [id, value] of [['default-theme', 'dark'], ['default-model', 'big'], ['default-preset', 'p1'], ['default-model', '']]) {
      const select = container.querySelector(`#${id}`) as HTMLSelectElement;
      await act(async () => {
        select.value = value;
        select.dispatchEvent(new Event('change', { bubbles: true }));
      });
    }
    expect(changes).toEqual([{ theme: 'dark' }, { default_model: 'big' }, { default_preset_id: 'p1' }, { default_model: null }]);
    expect(container.querySelector('[role="status"]')?.textContent).toBe('Saved.');
  });
});
