import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonResponse, scriptedFetch } from '../api/testing';
import { ShareDialog } from './ShareDialog';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const CID = 'c'.repeat(32);
const share = (id: string, count: number) => ({
  id,
  conversation_id: CID,
  title: 'Trip',
  created_at: '2026-12-06T10:00:00.000Z',
  message_count: count,
});
const noContent = () => new Response(null, { status: 204 });

describe('ShareDialog', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
  });

  const click = async (el: Element | null | undefined) => {
    expect(el).toBeTruthy();
    await act(async () => (el as HTMLElement).click());
  };

  it('creates a link shown once in full, lists the links and revokes one', async () => {
    const token = 'T'.repeat(43);
    const scripted = scriptedFetch([
      jsonResponse({ items: [share('old', 2)] }),
      jsonResponse({ ...share('new', 4), token, url_path: `/s/${token}` }, 201),
      jsonResponse({ items: [share('new', 4), share('old', 2)] }),
      noContent(),
      jsonResponse({ items: [share('new', 4)] }),
    ]);
    vi.stubGlobal('fetch', scripted.fetch);
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<ShareDialog conversationId={CID} onClose={() => undefined} />));
    const rows = () => [...container.querySelectorAll('ul[aria-label="Links"] li')].map((li) => li.textContent);
    expect(rows()).toHaveLength(1);
    expect(rows()[0]).toContain('2 messages');

    await click([...container.querySelectorAll('button')].find((b) => b.textContent === 'Create link'));
    expect((container.querySelector('#share-link-url') as HTMLInputElement).value).toBe(`${location.origin}/s/${token}`);
    expect(rows()).toHaveLength(2);

    await click(container.querySelectorAll('ul[aria-label="Links"] button')[1]);
    expect(scripted.calls.map((c) => `${c.init.method ?? 'GET'} ${c.url}`)).toEqual([
      `GET /api/conversations/${CID}/shares`,
      `POST /api/conversations/${CID}/shares`,
      `GET /api/conversations/${CID}/shares`,
      'DELETE /api/shares/old',
      `GET /api/conversations/${CID}/shares`,
    ]);
    expect(rows()).toHaveLength(1);
    expect(rows()[0]).toContain('4 messages');
  });

  it('shows why a link could not be made', async () => {
    vi.stubGlobal(
      'fetch',
      scriptedFetch([
        jsonResponse({ items: [] }),
        jsonResponse({ error: { code: 'too_many_shares', message: 'at most 20 links per conversation; revoke one first' } }, 409),
      ]).fetch,
    );
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<ShareDialog conversationId={CID} onClose={() => undefined} />));
    expect(container.textContent).toContain('No links yet.');
    await click([...container.querySelectorAll('button')].find((b) => b.textContent === 'Create link'));
    expect(container.querySelector('[role="alert"]')?.textContent).toBe('at most 20 links per conversation; revoke one first');
    expect(container.querySelector('#share-link-url')).toBeNull();
  });
});
