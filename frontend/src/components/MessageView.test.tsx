import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Feedback } from '../api/types';
import type { ShownMessage } from '../state/chatStore';
import type { Rate } from './FeedbackControls';
import { MessageView } from './MessageView';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const reply: ShownMessage = {
  id: 'r1',
  conversation_id: 'c1',
  role: 'assistant',
  content: 'Use **bold** and:\n\n```bash\nls\n```',
  status: 'completed',
  created_at: '2026-01-01T00:00:00.000Z',
  reply_id: 'r1',
};
const question: ShownMessage = { ...reply, id: 'm1', role: 'user', content: 'How do I *list* files?' };

describe('MessageView', () => {
  let root: Root | undefined;
  let container: HTMLDivElement | undefined;
  afterEach(() => {
    act(() => root?.unmount());
    root = container = undefined;
    document.body.innerHTML = '';
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  /** Renders into the same root each time, as a re-render. */
  const render = async (element: React.ReactElement) => {
    if (!container) {
      container = document.createElement('div');
      document.body.appendChild(container);
      root = createRoot(container);
    }
    await act(async () => root!.render(element));
    return container;
  };
  const button = (name: string) => container!.querySelector(`button[aria-label="${name}"]`) as HTMLButtonElement | null;
  const byText = (text: string) => [...container!.querySelectorAll('button')].find((b) => b.textContent === text);
  const status = () => [...container!.querySelectorAll('[role="status"]')].map((s) => s.textContent).join('|');

  it('says under a reply how many earlier messages were left out to fit the context, and nothing otherwise', async () => {
    const note = () => container!.querySelector('[role="note"]')?.textContent ?? null;
    await render(<MessageView message={reply} userName="Ada" />);
    expect(note()).toBeNull();
    await render(<MessageView message={{ ...reply, left_out_turns: 6 }} userName="Ada" />);
    expect(note()).toBe("6 earlier messages were left out of this answer: the conversation no longer fits the model's context.");
    await render(<MessageView message={{ ...reply, left_out_turns: 1 }} userName="Ada" />);
    expect(note()).toMatch(/^1 earlier message was left out/);
  });

  it('offers Continue only when asked to, next to Regenerate, and continues on click', async () => {
    await render(<MessageView message={reply} userName="Ada" onRegenerate={() => undefined} />);
    expect(byText(' Continue')).toBeUndefined();
    const onContinue = vi.fn();
    await render(<MessageView message={{ ...reply, finish_reason: 'length' }} userName="Ada" onRegenerate={() => undefined} onContinue={onContinue} />);
    const labels = [...container!.querySelectorAll('.message-foot button')].map((b) => b.textContent?.trim());
    expect(labels.slice(0, 3)).toEqual(['Copy text', 'Regenerate', 'Continue']);
    await act(async () => byText(' Continue')!.click());
    expect(onContinue).toHaveBeenCalledOnce();
  });

  it.each([
    ['a reply', reply],
    ['a question', question],
  ])('copies the whole of %s as its raw Markdown and says so for a moment', async (_, message) => {
    vi.useFakeTimers();
    const writeText = vi.fn(async () => undefined);
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    await render(<MessageView message={message} userName="Ada" />);
    const copy = [...container!.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Copy text')!;
    expect(copy.getAttribute('aria-label')).toBeNull();
    await act(async () => copy.click());
    expect(writeText).toHaveBeenCalledWith(message.content);
    expect(copy.textContent?.trim()).toBe('Copied');
    expect(status()).toContain('Copied to the clipboard');
    await act(async () => vi.advanceTimersByTime(2000));
    expect(copy.textContent?.trim()).toBe('Copy text');
  });

  it('offers feedback on a reply only when it can be rated', async () => {
    await render(<MessageView message={question} userName="Ada" />);
    expect(button('Good reply')).toBeNull();
    await render(<MessageView message={reply} userName="Ada" onRate={async () => undefined} />);
    expect(button('Good reply')?.getAttribute('aria-pressed')).toBe('false');
    expect(button('Bad reply')?.getAttribute('aria-pressed')).toBe('false');
  });

  it('rates, takes a rating back, and adds a comment to it', async () => {
    // Stands in for the store: keeps the rating, and the page shows the message with it.
    let feedback: Feedback | null = null;
    const onRate = vi.fn<Rate>(async (rating, comment) => {
      feedback = rating && { rating, comment: comment || null, updated_at: '2026-01-02T00:00:00.000Z' };
    });
    const show = () => render(<MessageView message={{ ...reply, feedback }} userName="Ada" onRate={onRate} />);
    const click = async (target: HTMLButtonElement | null | undefined) => {
      await act(async () => target!.click());
      await show();
    };
    await show();

    await click(button('Bad reply'));
    expect(onRate).toHaveBeenLastCalledWith('down', undefined);
    expect(button('Bad reply')?.getAttribute('aria-pressed')).toBe('true');
    await click(button('Bad reply'));
    expect(onRate).toHaveBeenLastCalledWith(null, undefined);
    expect(button('Bad reply')?.getAttribute('aria-pressed')).toBe('false');

    await click(button('Good reply'));
    await click(byText('Add a comment'));
    const box = container!.querySelector('textarea[aria-label="Feedback comment"]') as HTMLTextAreaElement;
    expect(box.maxLength).toBe(2000);
    await act(async () => {
      const setValue = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!;
      setValue.call(box, '  Clear and short  ');
      box.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await click(byText('Save feedback'));
    expect(onRate).toHaveBeenLastCalledWith('up', 'Clear and short');
    expect(status()).toContain('Thanks for the feedback');
    expect(container!.querySelector('textarea')).toBeNull();
    expect(byText('Edit comment')).toBeTruthy();
  });

  it('shows why a rating failed', async () => {
    const onRate: Rate = async () => {
      throw new Error('offline');
    };
    await render(<MessageView message={reply} userName="Ada" onRate={onRate} />);
    await act(async () => button('Good reply')!.click());
    expect(container!.querySelector('[role="alert"]')?.textContent).toBe('offline');
  });

  const group = () => container!.querySelector('[role="group"][aria-label="Versions"]');
  const position = () => group()?.querySelector('[aria-label^="Version "]');
  const press = (target: Element, init: KeyboardEventInit) =>
    act(async () => {
      target.dispatchEvent(new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init }));
    });

  it('shows which version a message is, and steps to the one before or after it', async () => {
    const onShowVersion = vi.fn();
    await render(<MessageView message={{ ...reply, siblings: ['r0', 'r1', 'r2'] }} userName="Ada" onShowVersion={onShowVersion} />);
    expect(position()?.getAttribute('aria-label')).toBe('Version 2 of 3');
    expect(position()?.textContent).toBe('2 / 3');
    expect(button('Previous version')?.disabled).toBe(false);
    expect(button('Next version')?.disabled).toBe(false);
    await act(async () => button('Previous version')!.click());
    expect(onShowVersion).toHaveBeenLastCalledWith('r0');
    await act(async () => button('Next version')!.click());
    expect(onShowVersion).toHaveBeenLastCalledWith('r2');

    await render(<MessageView message={{ ...reply, id: 'r0', siblings: ['r0', 'r1', 'r2'] }} userName="Ada" onShowVersion={onShowVersion} />);
    expect(position()?.textContent).toBe('1 / 3');
    expect(button('Previous version')?.disabled).toBe(true);
    await render(<MessageView message={{ ...reply, id: 'r2', siblings: ['r0', 'r1', 'r2'] }} userName="Ada" onShowVersion={onShowVersion} />);
    expect(position()?.getAttribute('aria-label')).toBe('Version 3 of 3');
    expect(button('Next version')?.disabled).toBe(true);
    expect(onShowVersion).toHaveBeenCalledTimes(2);
  });

  it('shows no navigator for a single version, and a disabled one while a reply is pending', async () => {
    await render(<MessageView message={{ ...question, siblings: ['m1'] }} userName="Ada" onShowVersion={() => undefined} />);
    expect(group()).toBeNull();
    await render(<MessageView message={question} userName="Ada" onShowVersion={() => undefined} />);
    expect(group()).toBeNull();
    await render(<MessageView message={{ ...question, siblings: ['m0', 'm1'] }} userName="Ada" />);
    expect(position()?.textContent).toBe('2 / 2');
    expect([button('Previous version')?.disabled, button('Next version')?.disabled]).toEqual([true, true]);
  });

  it('steps with ArrowLeft and ArrowRight on its buttons, and keeps the focus there when the other version is shown', async () => {
    const versions = ['r0', 'r1', 'r2'];
    const shown = (id: string) => render(<MessageView message={{ ...reply, id, siblings: versions }} userName="Ada" onShowVersion={onShowVersion} />);
    const onShowVersion = vi.fn((id: string) => void shown(id));
    await shown('r1');
    button('Previous version')!.focus();
    await press(button('Previous version')!, { key: 'ArrowLeft' });
    expect(onShowVersion).toHaveBeenLastCalledWith('r0');
    await act(async () => undefined);
    expect(position()?.textContent).toBe('1 / 3');
    // At the first version its Previous button is disabled: the focus moves to Next.
    expect(document.activeElement).toBe(button('Next version'));
    await press(document.activeElement!, { key: 'ArrowRight' });
    await act(async () => undefined);
    expect(onShowVersion).toHaveBeenLastCalledWith('r1');
    expect(position()?.textContent).toBe('2 / 3');
    expect(document.activeElement).toBe(button('Next version'));
    await press(document.activeElement!, { key: 'ArrowRight' });
    await act(async () => undefined);
    expect(position()?.textContent).toBe('3 / 3');
    expect(document.activeElement).toBe(button('Previous version'));
    // With a modifier the key is the shortcuts' (the page's), not the navigator's.
    await press(document.activeElement!, { key: 'ArrowLeft', ctrlKey: true, altKey: true });
    expect(onShowVersion).toHaveBeenCalledTimes(3);
  });

  describe('editing a sent message', () => {
    const editor = () => container!.querySelector('textarea[aria-label="Edited text"]') as HTMLTextAreaElement | null;
    const type = (text: string) =>
      act(async () => {
        const setValue = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value')!.set!;
        setValue.call(editor(), text);
        editor()!.dispatchEvent(new Event('input', { bubbles: true }));
      });
    const shownText = () => container!.querySelector('.plain')?.textContent;

    it('offers Edit on the user\'s messages only, when they can be edited', async () => {
      await render(<MessageView message={reply} userName="Ada" onEdit={async () => undefined} />);
      expect(button('Edit text')).toBeNull();
      await render(<MessageView message={question} userName="Ada" />);
      expect(button('Edit text')).toBeNull();
      await render(<MessageView message={question} userName="Ada" onEdit={async () => undefined} />);
      expect(button('Edit text')?.textContent?.trim()).toBe('Edit');
    });

    it('edits in place: Enter sends the new text, Shift+Enter does not', async () => {
      const onEdit = vi.fn(async () => undefined);
      await render(<MessageView message={question} userName="Ada" onEdit={onEdit} />);
      await act(async () => button('Edit text')!.click());
      expect(editor()?.value).toBe('How do I *list* files?');
      expect(document.activeElement).toBe(editor());
      expect(shownText()).toBeUndefined();
      await type('  How do I list hidden files?  ');
      await press(editor()!, { key: 'Enter', shiftKey: true });
      expect(onEdit).not.toHaveBeenCalled();
      await press(editor()!, { key: 'Enter' });
      expect(onEdit).toHaveBeenCalledExactlyOnceWith('How do I list hidden files?');
      expect(editor()).toBeNull();
    });

    it('sends with the Send button, and never an empty text', async () => {
      const onEdit = vi.fn(async () => undefined);
      await render(<MessageView message={question} userName="Ada" onEdit={onEdit} />);
      await act(async () => button('Edit text')!.click());
      await type('   ');
      expect(byText('Submit edit')?.disabled).toBe(true);
      await press(editor()!, { key: 'Enter' });
      expect(onEdit).not.toHaveBeenCalled();
      await type('Shorter');
      await act(async () => byText('Submit edit')!.click());
      expect(onEdit).toHaveBeenCalledExactlyOnceWith('Shorter');
    });

    it('Escape or Cancel leaves the message as it was, with the focus back on Edit', async () => {
      const onEdit = vi.fn(async () => undefined);
      await render(<MessageView message={question} userName="Ada" onEdit={onEdit} />);
      await act(async () => button('Edit text')!.click());
      await type('Something else');
      await press(editor()!, { key: 'Escape' });
      expect(editor()).toBeNull();
      expect(shownText()).toBe('How do I *list* files?');
      expect(document.activeElement).toBe(button('Edit text'));
      await act(async () => button('Edit text')!.click());
      expect(editor()?.value).toBe('How do I *list* files?');
      await act(async () => byText('Cancel')!.click());
      expect(editor()).toBeNull();
      expect(onEdit).not.toHaveBeenCalled();
    });

    it('keeps the text when sending it fails', async () => {
      const onEdit = vi.fn(async () => {
        throw new Error('offline');
      });
      await render(<MessageView message={question} userName="Ada" onEdit={onEdit} />);
      await act(async () => button('Edit text')!.click());
      await type('Kept');
      await press(editor()!, { key: 'Enter' });
      expect(onEdit).toHaveBeenCalledOnce();
      expect(editor()?.value).toBe('Kept');
      expect(byText('Submit edit')?.disabled).toBe(false);
    });
  });
});
