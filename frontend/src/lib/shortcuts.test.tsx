import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ShortcutsDialog } from '../components/ShortcutsDialog';
import { isMac, useShortcuts, type ShortcutName } from './shortcuts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

type Handlers = Partial<Record<ShortcutName, () => boolean | void>>;

function Listener({ handlers }: { handlers: Handlers }) {
  useShortcuts(handlers);
  return null;
}

function press(init: KeyboardEventInit): KeyboardEvent {
  const event = new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init });
  document.body.dispatchEvent(event);
  return event;
}

describe('keyboard shortcuts', () => {
  let container: HTMLDivElement;
  let root: Root;
  beforeEach(() => {
    container = document.createElement('div');
    document.body.appendChild(container);
    root = createRoot(container);
  });
  afterEach(() => {
    act(() => root.unmount());
    container.remove();
    document.querySelectorAll('dialog').forEach((d) => d.remove());
  });

  it('runs the handler of each shortcut and keeps the key from the page', async () => {
    const handlers = { newChat: vi.fn(), focusSearch: vi.fn(), focusMessage: vi.fn(), help: vi.fn() };
    await act(async () => root.render(<Listener handlers={handlers} />));
    expect(press({ key: 'O', ctrlKey: true, shiftKey: true }).defaultPrevented).toBe(true);
    expect(press({ key: 'k', metaKey: true }).defaultPrevented).toBe(true);
    press({ key: 'Escape', shiftKey: true });
    press({ key: '/', ctrlKey: true });
    expect(handlers.newChat).toHaveBeenCalledTimes(1);
    expect(handlers.focusSearch).toHaveBeenCalledTimes(1);
    expect(handlers.focusMessage).toHaveBeenCalledTimes(1);
    expect(handlers.help).toHaveBeenCalledTimes(1);
    expect(press({ key: 'k' }).defaultPrevented).toBe(false); // typing a k is not a shortcut
  });

  it('Mod+Alt+ArrowLeft and ArrowRight step through the versions of a message; the arrows alone do not', async () => {
    const handlers = { previousVersion: vi.fn(), nextVersion: vi.fn() };
    await act(async () => root.render(<Listener handlers={handlers} />));
    expect(press({ key: 'ArrowLeft', ctrlKey: true, altKey: true }).defaultPrevented).toBe(true);
    expect(press({ key: 'ArrowRight', metaKey: true, altKey: true }).defaultPrevented).toBe(true);
    expect(handlers.previousVersion).toHaveBeenCalledTimes(1);
    expect(handlers.nextVersion).toHaveBeenCalledTimes(1);
    for (const init of [{ key: 'ArrowLeft' }, { key: 'ArrowLeft', altKey: true }, { key: 'ArrowRight', ctrlKey: true }, { key: 'ArrowRight', ctrlKey: true, altKey: true, shiftKey: true }]) {
      expect(press(init).defaultPrevented).toBe(false);
    }
    expect(handlers.previousVersion).toHaveBeenCalledTimes(1);
    expect(handlers.nextVersion).toHaveBeenCalledTimes(1);
  });

  it('Escape stops a reply, unless a field being typed in, a dialog or the phone drawer takes it', async () => {
    const stop = vi.fn();
    await act(async () => root.render(<Listener handlers={{ stop }} />));
    press({ key: 'Escape' });
    expect(stop).toHaveBeenCalledTimes(1);
    const comment = document.createElement('textarea');
    document.body.appendChild(comment);
    const typed = new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true });
    comment.dispatchEvent(typed);
    comment.remove();
    expect(typed.defaultPrevented).toBe(false);
    expect(stop).toHaveBeenCalledTimes(1);
    const dialog = document.createElement('dialog');
    dialog.setAttribute('open', '');
    document.body.appendChild(dialog);
    expect(press({ key: 'Escape' }).defaultPrevented).toBe(false);
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it('lets the key through when there is nothing to do', async () => {
    await act(async () => root.render(<Listener handlers={{ stop: undefined, help: () => false }} />));
    expect(press({ key: 'Escape' }).defaultPrevented).toBe(false);
    expect(press({ key: '/', ctrlKey: true }).defaultPrevented).toBe(false);
  });

  it('lists every shortcut and the composer keys in the help dialog', async () => {
    await act(async () => root.render(<ShortcutsDialog onClose={() => undefined} />));
    const rows = Array.from(document.querySelectorAll('.shortcuts th')).map((th) => th.textContent);
    expect(rows).toEqual([
      'New chat',
      'Search conversations',
      'Write a message',
      'Stop the reply',
      'Show the previous version',
      'Show the next version',
      'Show these shortcuts',
      'Send',
      'New line',
    ]);
    const keys = (row: string) =>
      [...document.querySelectorAll('.shortcuts tr')].find((tr) => tr.querySelector('th')?.textContent === row)?.querySelectorAll('kbd');
    expect([...keys('Show the next version')!].slice(1).map((k) => k.textContent)).toEqual([isMac() ? '⌥' : 'Alt', '→']);
    expect(document.querySelector('.shortcuts kbd')?.textContent).toMatch(/^(Ctrl|⌘)$/);
  });
});
