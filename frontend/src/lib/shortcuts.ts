import { useEffect, useRef } from 'react';

/** The keyboard shortcuts, as the help dialog lists them. `Mod` is ⌘ on a Mac, Ctrl elsewhere. */
export type ShortcutName = 'newChat' | 'focusSearch' | 'focusMessage' | 'stop' | 'previousVersion' | 'nextVersion' | 'help';

interface Shortcut {
  name: ShortcutName;
  keys: string[];
  does: string;
  matches: (e: KeyboardEvent) => boolean;
}

const mod = (e: KeyboardEvent) => e.ctrlKey || e.metaKey;
const key = (e: KeyboardEvent) => e.key.toLowerCase();

export const SHORTCUTS: Shortcut[] = [
  { name: 'newChat', keys: ['Mod', 'Shift', 'O'], does: 'New chat', matches: (e) => mod(e) && e.shiftKey && key(e) === 'o' },
  { name: 'focusSearch', keys: ['Mod', 'K'], does: 'Search conversations', matches: (e) => mod(e) && !e.shiftKey && key(e) === 'k' },
  { name: 'focusMessage', keys: ['Shift', 'Esc'], does: 'Write a message', matches: (e) => e.shiftKey && e.key === 'Escape' },
  { name: 'stop', keys: ['Esc'], does: 'Stop the reply', matches: (e) => !e.shiftKey && !mod(e) && e.key === 'Escape' },
  // Of the message with the focus in it, else of the last one with versions.
  { name: 'previousVersion', keys: ['Mod', 'Alt', '←'], does: 'Show the previous version', matches: (e) => mod(e) && e.altKey && !e.shiftKey && e.key === 'ArrowLeft' },
  { name: 'nextVersion', keys: ['Mod', 'Alt', '→'], does: 'Show the next version', matches: (e) => mod(e) && e.altKey && !e.shiftKey && e.key === 'ArrowRight' },
  { name: 'help', keys: ['Mod', '/'], does: 'Show these shortcuts', matches: (e) => mod(e) && e.key === '/' },
];

/** Not shortcuts, listed beside them. */
export const COMPOSER_KEYS = [
  { keys: ['Enter'], does: 'Send' },
  { keys: ['Shift', 'Enter'], does: 'New line' },
];

export const isMac = () => /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
export const keyLabel = (k: string) => (k === 'Mod' ? (isMac() ? '⌘' : 'Ctrl') : k === 'Alt' && isMac() ? '⌥' : k);

/** Escape belongs to whatever has it first: a dialog or the phone drawer (its scrim) open on top,
 * or the field being typed in (a comment box cancels its edit with it). */
function escapeTakenElsewhere(e: KeyboardEvent): boolean {
  const target = e.target instanceof HTMLElement ? e.target : null;
  const typing = target !== null && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
  return typing || document.querySelector('dialog[open], .scrim') !== null;
}

/**
 * Runs `handlers[name]` when its shortcut is pressed anywhere on the page. A handler returning
 * `false` lets the key through (the shortcut had nothing to do).
 */
export function useShortcuts(handlers: Partial<Record<ShortcutName, () => boolean | void>>): void {
  const current = useRef(handlers);
  current.current = handlers;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.isComposing) return;
      const shortcut = SHORTCUTS.find((s) => s.matches(e));
      const handler = shortcut && current.current[shortcut.name];
      if (!shortcut || !handler) return;
      if (shortcut.name === 'stop' && escapeTakenElsewhere(e)) return;
      if (handler() === false) return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
