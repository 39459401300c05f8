import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api } from '../api/client';
import type { BranchMessage, Conversation, SendResult, User } from '../api/types';
import { chatStore } from '../state/chatStore';
import { ChatPage } from './ChatPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const user: User = { id: 'u', email: 'ada@example.org', display_name: 'Ada', created_at: '2026-01-01T00:00:00Z', is_admin: false, settings: { memory_enabled: true, theme: 'system' } };

/** A branch: each message follows the one before; `versions` by id. */
function branch(ids: string[], versions: Record<string, string[]> = {}): BranchMessage[] {
  return ids.map((id, i) => ({
    id,
    conversation_id: 'c1',
    role: id.startsWith('m') ? 'user' : 'assistant',
    content: `text of ${id}`,
    status: 'completed',
    created_at: '2026-01-01T00:00:00Z',
    parent_id: i ? ids[i - 1] : null,
    siblings: versions[id] ?? [id],
  }));
}

function conversation(settings: Conversation['settings']): Conversation {
  return { id: 'c1', title: 'Bread', pinned: false, archived: false, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', settings };
}

describe('ChatPage: a conversation opened before the list holds it', () => {
  afterEach(() => {
    chatStore.reset();
    vi.restoreAllMocks();
  });

  it('keeps its settings closed until its own are known, then shows them', async () => {
    vi.spyOn(api, 'listModels').mockResolvedValue([{ id: 'small', default: true, context_tokens: 2048, max_tokens_limit: 1024, available: true }]);
    vi.spyOn(api, 'listAttachments').mockResolvedValue([]);
    vi.spyOn(api, 'listPresets').mockResolvedValue([]);
    vi.spyOn(api, 'getBranch').mockResolvedValue(branch(['m1', 'r1']));
    let answer: (found: Conversation) => void = () => undefined;
    vi.spyOn(api, 'getConversation').mockReturnValue(new Promise<Conversation>((resolve) => (answer = resolve)));
    const container = document.createElement('div');
    document.body.appendChild(container);
    const root = createRoot(container);
    await act(async () => root.render(<ChatPage conversationId="c1" user={user} />));
    const button = container.querySelector('button[aria-label="Chat settings"]') as HTMLButtonElement;
    const picker = () => container.querySelector('select[aria-label="Model"]') as HTMLSelectElement;
    expect(button.disabled).toBe(true);
    expect(picker().disabled).toBe(true);

    await act(async () => answer(conversation({ model: null, system_prompt: 'Be brief.', temperature: 0.2, max_tokens: 40 })));
    expect(container.querySelector('h1')?.textContent).toBe('Bread');
    expect(button.disabled).toBe(false);
    expect(picker().disabled).toBe(false);
    await act(async () => button.click());
    expect((document.getElementById('settings-prompt') as HTMLTextAreaElement).value).toBe('Be brief.');
    act(() => root.unmount());
    container.remove();
  });
});

describe('ChatPage: versions and edits', () => {
  let root: Root;
  let container: HTMLDivElement;
  beforeEach(async () => {
    vi.spyOn(api, 'listModels').mockResolvedValue([]);
    vi.spyOn(api, 'listAttachments').mockResolvedValue([]);
    vi.spyOn(api, 'getBranch').mockResolvedValue(branch(['m1', 'r1', 'm2', 'r2'], { m1: ['m0', 'm1'], r2: ['r2a', 'r2'] }));
    vi.spyOn(api, 'getConversation').mockResolvedValue(conversation({}));
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
    await act(async () => root.render(<ChatPage conversationId="c1" user={user} />));
  });
  afterEach(() => {
    act(() => root.unmount());
    container.remove();
    chatStore.reset();
    vi.restoreAllMocks();
  });

  const article = (id: string) => container.querySelector(`article[data-message-id="${id}"]`) as HTMLElement | null;
  const within = (id: string, label: string) => article(id)?.querySelector(`button[aria-label="${label}"]`) as HTMLButtonElement | null;
  const press = (init: KeyboardEventInit) =>
    act(async () => {
      (document.activeElement ?? document.body).dispatchEvent(new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init }));
    });

  it('shows the other version in the same place, keeping the focus on the navigator', async () => {
    const choose = vi.spyOn(api, 'chooseBranch').mockResolvedValue(branch(['m0', 'r0'], { m0: ['m0', 'm1'] }));
    const place = article('m1');
    within('m1', 'Previous version')!.focus();
    await act(async () => within('m1', 'Previous version')!.click());
    expect(choose).toHaveBeenCalledWith('c1', 'm0');
    expect([...container.querySelectorAll('article')].map((a) => a.dataset.messageId)).toEqual(['m0', 'r0']);
    expect(article('m0')).toBe(place);
    expect(article('m0')?.querySelector('[aria-label="Version 1 of 2"]')?.textContent).toBe('1 / 2');
    expect(document.activeElement).toBe(within('m0', 'Next version'));
  });

  it('Mod+Alt+Arrow steps the message with the focus in it, else the last one with versions', async () => {
    const choose = vi.spyOn(api, 'chooseBranch').mockResolvedValue(branch(['m1', 'r1', 'm2', 'r2a'], { m1: ['m0', 'm1'], r2a: ['r2a', 'r2'] }));
    (document.activeElement as HTMLElement | null)?.blur();
    await press({ key: 'ArrowLeft', ctrlKey: true, altKey: true });
    expect(choose).toHaveBeenLastCalledWith('c1', 'r2a');
    expect(article('r2a')?.querySelector('[aria-label="Version 1 of 2"]')).not.toBeNull();

    [...article('m1')!.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Copy text')!.focus();
    await press({ key: 'ArrowLeft', ctrlKey: true, altKey: true });
    expect(choose).toHaveBeenLastCalledWith('c1', 'm0');
    // Nothing that way: the key is left alone.
    choose.mockClear();
    (document.activeElement as HTMLElement | null)?.blur();
    await press({ key: 'ArrowLeft', metaKey: true, altKey: true });
    await press({ key: 'ArrowRight', metaKey: true, altKey: true });
    expect(choose.mock.calls).toEqual([['c1', 'r2']]);
  });

  it('edits a message: sent as a new version, the branch cut there, no edits or other versions until it is answered', async () => {
    // Not answered yet: what the page shows while the edit is being sent.
    const send = vi.spyOn(api, 'sendMessage').mockReturnValue(new Promise<SendResult>(() => undefined));
    await act(async () => within('m2', 'Edit text')!.click());
    const box = container.querySelector('textarea[aria-label="Edited text"]') as HTMLTextAreaElement;
    await act(async () => {
      Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!.call(box, 'A better question');
      box.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true })));
    expect(send).toHaveBeenCalledWith('c1', 'A better question', expect.any(String), [], { editOf: 'm2' });
    const shown = [...container.querySelectorAll('article')];
    expect(shown.map((a) => a.querySelector('.plain, .markdown')?.textContent?.trim())).toEqual(['text of m1', 'text of r1', 'A better question']);
    expect(shown[2].dataset.status).toBe('sending');
    expect(container.querySelectorAll('button[aria-label="Edit text"]')).toHaveLength(0);
    expect(within('m1', 'Next version')?.disabled).toBe(true);
    expect(within('m1', 'Previous version')?.disabled).toBe(true);
  });
});
