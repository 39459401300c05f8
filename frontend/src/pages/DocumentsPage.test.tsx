import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AliceDocument } from '../api/types';
import { DocumentRow } from './DocumentsPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const base: AliceDocument = {
  id: 'd1', filename: 'logbook.txt', content_type: 'text/plain', size: 2048, status: 'queued', progress: 0,
  position: 3, chunks: 0, error: null, created_at: '2026-12-06T01:00:00Z', updated_at: '2026-12-06T01:00:00Z',
};

describe('DocumentRow', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
  });

  const render = async (doc: AliceDocument) => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<ul><DocumentRow doc={doc} focused={false} onDelete={() => undefined} /></ul>));
    return container;
  };

  it('tells a document waiting behind others its place in line', async () => {
    const container = await render(base);
    expect(container.querySelector('[role="status"]')?.textContent).toBe('queued — 3 in line');
    await act(async () => root!.render(<ul><DocumentRow doc={{ ...base, position: 1 }} focused={false} onDelete={() => undefined} /></ul>));
    expect(container.querySelector('[role="status"]')?.textContent).toBe('queued — next in line');
  });

  it('shows the plain status once processing, and the reason when failed', async () => {
    const container = await render({ ...base, status: 'processing', progress: 40, position: null });
    expect(container.querySelector('[role="status"]')?.textContent).toBe('processing');
    expect(container.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('40');
    await act(async () => root!.render(<ul><DocumentRow doc={{ ...base, status: 'failed', position: null, error: 'too much text: …' }} focused={false} onDelete={() => undefined} /></ul>));
    expect(container.textContent).toContain('too much text: …');
  });
});
