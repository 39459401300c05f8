import { beforeAll, describe, expect, it } from 'vitest';
import { renderMarkdown } from './markdown';
import { loadMath } from './math';

function dom(html: string) {
  const el = document.createElement('div');
  el.innerHTML = html;
  return el;
}

const tex = (el: Element) => Array.from(el.querySelectorAll('.katex[data-tex]')).map((k) => k.getAttribute('data-tex'));

describe('math in replies', () => {
  beforeAll(loadMath);

  it('renders inline and block TeX as MathML, in each delimiter models write', () => {
    const el = dom(renderMarkdown('Energy: $E = mc^2$ and \\(a^2 + b^2\\).\n\n$$\\int_0^1 x\\,dx$$\n\n\\[\\frac{1}{2}\\]'));
    expect(tex(el)).toEqual(['E = mc^2', 'a^2 + b^2', '\\int_0^1 x\\,dx', '\\frac{1}{2}']);
    expect(el.querySelectorAll('math')).toHaveLength(4);
    expect(el.querySelectorAll('.math-block math[display="block"]')).toHaveLength(2);
    expect(el.querySelector('msup')).not.toBeNull();
    // The TeX source is not left as stray text beside the formula.
    expect(el.querySelector('math')?.textContent).not.toContain('mc^2');
  });

  it('leaves prices, code and unfinished formulas as text', () => {
    const el = dom(renderMarkdown('It costs $5 and $10 today.\n\n`$x$` in code\n\nstreaming $x^'));
    expect(el.querySelector('math')).toBeNull();
    expect(el.textContent).toContain('It costs $5 and $10 today.');
    expect(el.querySelector('code')?.textContent).toBe('$x$');
    expect(el.textContent).toContain('streaming $x^');
  });

  it('keeps the sanitiser: no script, link or style from TeX or around it', () => {
    const el = dom(
      renderMarkdown(
        '$\\href{javascript:alert(1)}{x}$ $\\htmlStyle{color:red}{y}$ $<img src=x onerror=alert(1)>$\n\n$$\\url{javascript:alert(2)}$$\n\n<math><mi href="javascript:alert(3)">z</mi></math>',
      ),
    );
    expect(el.querySelector('a, script, img, [href], [style], [onerror]')).toBeNull();
    for (const node of Array.from(el.querySelectorAll('*'))) {
      for (const attr of Array.from(node.attributes)) expect(attr.value).not.toMatch(/^\s*javascript:/i);
    }
    expect(el.querySelectorAll('math').length).toBeGreaterThanOrEqual(4); // shown as TeX errors, in red
  });

  it('shows TeX it cannot parse as its source instead of failing the message', () => {
    const el = dom(renderMarkdown('Broken: $\\frac{1}{$ and fine: $x_1$'));
    expect(el.textContent).toContain('Broken:');
    expect(tex(el)).toContain('x_1');
  });
});
