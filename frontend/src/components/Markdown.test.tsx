import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Markdown } from './Markdown';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

describe('Markdown', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('copies the code of a block with its Copy button', async () => {
    const writeText = vi.fn(async () => undefined);
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    const container = document.createElement('div');
    document.body.appendChild(container);
    await act(async () => createRoot(container).render(<Markdown source={'Try:\n\n```bash\necho "hi" && ls\n```'} />));
    const button = container.querySelector('button.copy-code') as HTMLButtonElement;
    expect(button.textContent).toBe('Copy code');
    await act(async () => button.click());
    expect(writeText).toHaveBeenCalledWith('echo "hi" && ls');
    expect(button.textContent).toBe('Copied');
    container.remove();
  });

  it('shows a formula as its source, then as MathML once the renderer has loaded', async () => {
    const container = document.createElement('div');
    document.body.appendChild(container);
    await act(async () => createRoot(container).render(<Markdown source={'Area: $\\pi r^2$'} />));
    await vi.waitFor(() => expect(container.querySelector('math')).not.toBeNull());
    expect(container.querySelector('.katex')?.getAttribute('data-tex')).toBe('\\pi r^2');
    expect(container.querySelector('.math-source')).toBeNull();
    container.remove();
  });
});
