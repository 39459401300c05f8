import { useEffect, type RefObject } from 'react';

/** Grows a textarea with its text, up to `maxPx` (then it scrolls). */
export function useAutosize(area: RefObject<HTMLTextAreaElement | null>, text: string, maxPx: number): void {
  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, maxPx)}px`;
  }, [area, text, maxPx]);
}
