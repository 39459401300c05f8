import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonResponse, scriptedFetch } from '../api/testing';
import { TransferPage } from './TransferPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const WHEN = '2026-01-01T00:00:00.000Z';
const conversation = (id: string, title: string) => ({ id, title, pinned: false, archived: false, created_at: WHEN, updated_at: WHEN });
const FILE = { format: 'alice.conversations', version: 1, conversations: [] };
const page = { items: [], next_cursor: null };

describe('TransferPage import', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
  });

  const importFile = async (answers: Response[]) => {
    const scripted = scriptedFetch(answers);
    vi.stubGlobal('fetch', scripted.fetch);
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<TransferPage />));
    const input = container.querySelector<HTMLInputElement>('input[type=file]')!;
    Object.defineProperty(input, 'files', { value: [new File([JSON.stringify(FILE)], 'alice.json', { type: 'application/json' })] });
    await act(async () => input.dispatchEvent(new Event('change', { bubbles: true })));
    await act(async () => vi.waitFor(() => expect(container.querySelector('[role=status], [role=alert]')).not.toBeNull()));
    return { container, calls: scripted.calls };
  };

  it('lists what was added and what was already imported before', async () => {
    const answer = { conversations: [conversation('c1', 'New one')], already_present: [conversation('c2', 'Rome trip')] };
    const { container, calls } = await importFile([jsonResponse(answer, 201), jsonResponse(page), jsonResponse(page)]);
    expect(calls[0].url).toBe('/api/conversations/import');
    const result = container.querySelector('[role=status]')!;
    expect(result.querySelector('.card-title')?.textContent).toBe('Imported 1 conversation.');
    expect(result.textContent).toContain('Already imported before, so not added again: 1 conversation.');
    expect([...result.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['New one', '/c/c1'],
      ['Rome trip', '/c/c2'],
    ]);
  });

  it('says a refused file added nothing, and a failure upstream that importing again finishes it', async () => {
    const refused = { error: { code: 'validation_error', message: 'conversations.0.title: too long' } };
    const first = await importFile([jsonResponse(refused, 422)]);
    expect(first.container.querySelector('[role=alert]')?.textContent).toBe('Nothing was imported: conversations.0.title: too long');
    act(() => root?.unmount());
    document.body.innerHTML = '';

    const failed = { error: { code: 'upstream_error', message: 'orchestrator failed to answer.' } };
    const { container } = await importFile([jsonResponse(failed, 502), jsonResponse(failed, 502), jsonResponse(failed, 502)]);
    expect(container.querySelector('[role=alert]')?.textContent).toBe(
      'The import did not finish: orchestrator failed to answer. Import the same file again: nothing is added twice.',
    );
  });
});
