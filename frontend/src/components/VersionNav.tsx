import { useLayoutEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';
import type { ShownMessage } from '../state/chatStore';
import { ChevronLeftIcon, ChevronRightIcon } from './icons';

type Way = 'previous' | 'next';

/**
 * `‹ 2 / 3 ›` under a message that has versions (an edited message, a regenerated reply): shows the
 * previous or the next one, with the buttons or, while one of them has the focus, ArrowLeft and
 * ArrowRight. `onShow` absent: shown but disabled (a send or a reply is in flight).
 */
export function VersionNav({ versions, current, onShow }: { versions: string[]; current: string; onShow?: (id: string) => void }) {
  const at = versions.indexOf(current);
  const group = useRef<HTMLDivElement>(null);
  const previous = useRef<HTMLButtonElement>(null);
  const next = useRef<HTMLButtonElement>(null);
  const buttons = { previous, next };
  const going = useRef<Way | null>(null);

  // The other version is shown in this place (the page keeps the navigator): the focus stays on
  // the button of the way it went, or on the other one at the end of the versions.
  useLayoutEffect(() => {
    const way = going.current;
    going.current = null;
    if (!way) return;
    const focus = document.activeElement;
    if (focus && focus !== document.body && !group.current?.contains(focus)) return; // the user went elsewhere
    const there = way === 'previous' ? previous.current : next.current;
    (there?.disabled ? (way === 'previous' ? next.current : previous.current) : there)?.focus();
  }, [current]);

  if (versions.length < 2 || at < 0) return null;
  const target = { previous: versions[at - 1], next: versions[at + 1] };
  const go = (way: Way) => {
    if (!onShow || !target[way]) return;
    going.current = way;
    onShow(target[way]);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLButtonElement>) => {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return; // the shortcuts' keys
    const way: Way | null = e.key === 'ArrowLeft' ? 'previous' : e.key === 'ArrowRight' ? 'next' : null;
    if (!way) return;
    e.preventDefault();
    go(way);
  };
  const button = (way: Way, label: string, icon: ReactNode) => (
    <button
      ref={buttons[way]}
      type="button"
      className="btn btn-icon btn-ghost btn-xs"
      aria-label={label}
      title={label}
      disabled={!onShow || !target[way]}
      onClick={() => go(way)}
      onKeyDown={onKeyDown}
    >
      {icon}
    </button>
  );
  return (
    <div ref={group} className="versions" role="group" aria-label="Versions">
      {button('previous', 'Previous version', <ChevronLeftIcon width={14} height={14} />)}
      <span className="version-count" role="img" aria-label={`Version ${at + 1} of ${versions.length}`}>
        {at + 1} / {versions.length}
      </span>
      {button('next', 'Next version', <ChevronRightIcon width={14} height={14} />)}
    </div>
  );
}

/**
 * The version the shortcuts show, `step` (-1, 1) from the one shown: of the message with the focus
 * in it (`focusedId`) when it has versions, else of the last message of the branch that has some;
 * undefined when there is none that way.
 */
export function versionToShow(messages: ShownMessage[], focusedId: string | undefined, step: -1 | 1): string | undefined {
  const hasVersions = (m: ShownMessage) => (m.siblings?.length ?? 0) > 1;
  const message = messages.find((m) => m.id === focusedId && hasVersions(m)) ?? [...messages].reverse().find(hasVersions);
  const versions = message?.siblings ?? [];
  const at = message ? versions.indexOf(message.id) : -1;
  return at < 0 ? undefined : versions[at + step];
}
