import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AliceDocument } from '../api/types';
import { AttachmentChips, type AttachmentsState } from './Attachments';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const doc: AliceDocument = {
  id: 'd1', filename: 'plan.md', content_type: 'text/markdown', size: 120, status: 'processing', progress: 40,
  position: null, chunks: 0, error: null, conversation_id: 'c1', created_at: '2026-12-07T01:00:00Z', updated_at: '2026-12-07T01:00:00Z',
};

function state(overrides: Partial<AttachmentsState>): AttachmentsState {
  return { uploads: [], docs: [], error: null, attach: vi.fn(), remove: vi.fn(), addToLibrary: vi.fn(), dismiss: vi.fn(), ...overrides };
}

describe('AttachmentChips', () => {
  let root: Root | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    document.body.innerHTML = '';
  });

  const render = async (s: AttachmentsState) => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root!.render(<AttachmentChips state={s} />));
    return container;
  };
  const button = (container: HTMLElement, label: string) => container.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]`);

  it('shows indexing progress, then "ready" with Add to library', async () => {
    const container = await render(state({ docs: [doc] }));
    expect(container.querySelector('[role="status"]')?.textContent).toBe('processing');
    expect(container.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')).toBe('40');
    expect(button(container, 'Add to library: plan.md')).toBeNull();

    const addToLibrary = vi.fn();
    const ready = { ...doc, status: 'indexed' as const, progress: 100, chunks: 1 };
    await act(async () => root!.render(<AttachmentChips state={state({ docs: [ready], addToLibrary })} />));
    expect(container.querySelector('[role="status"]')?.textContent).toBe('ready');
    expect(container.querySelector('[role="progressbar"]')).toBeNull();
    act(() => button(container, 'Add to library: plan.md')!.click());
    expect(addToLibrary).toHaveBeenCalledWith(ready);
  });

  it('removes an attachment, and shows why an upload failed', async () => {
    const remove = vi.fn();
    const container = await render(state({ docs: [doc], remove, uploads: [{ key: 'k', filename: 'big.pdf', fraction: 1, error: 'file exceeds 20 MiB' }] }));
    act(() => button(container, 'Remove plan.md')!.click());
    expect(remove).toHaveBeenCalledWith(doc);
    expect(container.querySelector('[role="alert"]')?.textContent).toBe('file exceeds 20 MiB');
  });

  it('renders nothing without attachments', async () => {
    const container = await render(state({}));
    expect(container.innerHTML).toBe('');
  });
});
