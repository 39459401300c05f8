import { memo, useMemo, type MouseEvent } from 'react';
import { COPIED_MS, copyText } from '../lib/clipboard';
import { renderMarkdown } from '../lib/markdown';

/** Sanitised Markdown; code blocks carry a Copy button handled here by delegation. */
export const Markdown = memo(function Markdown({ source }: { source: string }) {
  const html = useMemo(() => renderMarkdown(source), [source]);
  const onClick = async (e: MouseEvent<HTMLDivElement>) => {
    const button = (e.target as HTMLElement).closest('button.copy-code') as HTMLButtonElement | null;
    if (!button) return;
    const code = button.closest('.code-block')?.querySelector('code');
    if (!code) return;
    await copyText(code.textContent ?? '');
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = 'Copy'), COPIED_MS);
  };
  return <div className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
});
