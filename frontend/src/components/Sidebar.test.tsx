import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonResponse } from '../api/testing';
import type { Conversation, User } from '../api/types';
import { chatStore } from '../state/chatStore';
import { Sidebar } from './Sidebar';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const user: User = { id: 'u', email: 'ada@example.org', display_name: 'Ada', created_at: '2026-01-01T00:00:00Z', is_admin: false, settings: { memory_enabled: true, theme: 'system' } };
const conversation = (id: string, minute: number, changes: Partial<Conversation> = {}): Conversation => ({
  id, title: id, pinned: false, archived: false, created_at: '2026-01-01T00:00:00.000Z', updated_at: `2026-01-01T00:0${minute}:00.000Z`, ...changes,
});

/** The backend as the sidebar uses it: the two lists, and PATCH answering the changed conversation. */
function fakeBackend(all: Conversation[]) {
  const patches: unknown[] = [];
  const fetchFn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://app');
    if (init.method === 'PATCH') {
      const changes = JSON.parse(String(init.body));
      patches.push(changes);
      const id = url.pathname.split('/').pop();
      const index = all.findIndex((c) => c.id === id);
      all[index] = { ...all[index], ...changes };
      return jsonResponse(all[index]);
    }
    const archived = url.searchParams.get('archived') === 'true';
    return jsonResponse({ items: all.filter((c) => Boolean(c.archived) === archived), next_before: null });
  });
  vi.stubGlobal('fetch', fetchFn);
  return patches;
}

describe('Sidebar', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    chatStore.reset();
    vi.unstubAllGlobals();
  });

  const render = async () => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () =>
      root!.render(<Sidebar user={user} path="/" open={false} onClose={() => undefined} theme="light" onToggleTheme={() => undefined} onSignOut={() => undefined} />),
    );
    return container;
  };
  const titles = (container: HTMLElement) => [...container.querySelectorAll('.conv-list a')].map((a) => a.textContent);
  const click = async (container: HTMLElement, name: string) => {
    const target = [...container.querySelectorAll('button')].find((b) => (b.getAttribute('aria-label') ?? b.textContent?.trim()) === name);
    expect(target, name).toBeTruthy();
    await act(async () => target!.click());
  };

  it('lists pinned conversations first with a mark, and pins and unpins one', async () => {
    const patches = fakeBackend([conversation('Old', 1), conversation('New', 2), conversation('Kept', 0, { pinned: true })]);
    const container = await render();
    expect(titles(container)).toEqual(['Kept', 'New', 'Old']);
    expect(container.querySelectorAll('[role="img"][aria-label="Pinned"]')).toHaveLength(1);

    await click(container, 'Pin Old');
    expect(patches).toEqual([{ pinned: true }]);
    expect(titles(container)).toEqual(['Old', 'Kept', 'New']);
    await click(container, 'Unpin Kept');
    expect(titles(container)).toEqual(['Old', 'New', 'Kept']);
  });

  it('archives a conversation out of the list, shows it under Archived, and brings it back', async () => {
    const patches = fakeBackend([conversation('Trip', 1), conversation('Taxes', 2)]);
    const container = await render();
    await click(container, 'Archive Trip');
    expect(patches).toEqual([{ archived: true }]);
    expect(titles(container)).toEqual(['Taxes']);

    await click(container, 'Archived');
    expect(container.querySelector('h2')?.textContent).toBe('Archived conversations');
    expect(titles(container)).toEqual(['Trip']);
    await click(container, 'Unarchive Trip');
    expect(titles(container)).toEqual([]);
    expect(container.textContent).toContain('No archived conversations.');
    await click(container, 'Archived');
    expect(titles(container)).toEqual(['Taxes', 'Trip']);
  });
});
