import { memo, useEffect, useMemo, useState, type MouseEvent } from 'react';
import { COPIED_MS, copyText } from '../lib/clipboard';
import { renderMarkdown } from '../lib/markdown';
import { loadMath, mathLoaded, mayHoldMath } from '../lib/math';

/** True once the formula renderer is loaded; starts loading it when `source` may hold a formula. */
function useMathReady(source: string): boolean {
  const [ready, setReady] = useState(mathLoaded);
  const wanted = !ready && mayHoldMath(source);
  useEffect(() => {
    if (!wanted) return;
    let live = true;
    void loadMath().then(() => live && setReady(true));
    return () => {
      live = false;
    };
  }, [wanted]);
  return ready;
}

/** Sanitised Markdown; code blocks carry a Copy button handled here by delegation. */
export const Markdown = memo(function Markdown({ source }: { source: string }) {
  const mathReady = useMathReady(source);
  // `mathReady` is not read inside: the source renders again once formulas can be.
  const html = useMemo(() => renderMarkdown(source), [source, mathReady]);
  const onClick = async (e: MouseEvent<HTMLDivElement>) => {
    const button = (e.target as HTMLElement).closest('button.copy-code') as HTMLButtonElement | null;
    if (!button) return;
    const code = button.closest('.code-block')?.querySelector('code');
    if (!code) return;
    await copyText(code.textContent ?? '');
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = 'Copy code'), COPIED_MS);
  };
  return <div className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
});
