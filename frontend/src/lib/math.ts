import type KaTeX from 'katex';
import type { MarkedExtension, Tokens } from 'marked';

/**
 * TeX in replies: `$…$` and `\(…\)` inline, `$$…$$` and `\[…\]` as a block, the delimiters
 * models write. KaTeX renders MathML only: browsers lay it out natively, so no stylesheet, font
 * or inline style is needed, and the sanitiser's ban on `style` attributes stays.
 *
 * KaTeX is loaded on first use (`loadMath`), so a page without formulas does not download it;
 * until it is there, a formula shows as its source.
 */

let katex: typeof KaTeX | null = null;
let loading: Promise<void> | null = null;

/** Whether `text` may hold a formula (then `loadMath` is worth calling). */
export function mayHoldMath(text: string): boolean {
  return /\$|\\\(|\\\[/.test(text);
}

export function mathLoaded(): boolean {
  return katex !== null;
}

export function loadMath(): Promise<void> {
  loading ??= import('katex').then(
    (module) => {
      katex = module.default;
    },
    () => {
      loading = null; // a later formula tries again
    },
  );
  return loading;
}

// Longer TeX stays text: KaTeX's time grows with its input, and a reply is rendered on every token.
// The patterns below look at most this far for a closing delimiter, so an unclosed one costs little.
const MAX_TEX_CHARS = 4000;

// The sanitiser drops <semantics> and <annotation> (a known mutation-XSS route), which would leave
// the TeX source as stray text inside <math>: unwrap the one and drop the other here. KaTeX escapes
// the annotation's text, so it holds no markup. The source is kept on the wrapper for copying.
const SEMANTICS = /<\/?semantics>/g;
const ANNOTATION = /<annotation encoding="application\/x-tex">[^<]*<\/annotation>/g;

function render(tex: string, displayMode: boolean): string {
  if (katex === null) return `<code class="math-source">${escapeAttribute(tex)}</code>`;
  const html = renderMathML(tex, displayMode).replace(SEMANTICS, '').replace(ANNOTATION, '');
  return html.replace('<span class="katex">', `<span class="katex" data-tex="${escapeAttribute(tex)}">`);
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function renderMathML(tex: string, displayMode: boolean): string {
  return katex!.renderToString(tex, {
    displayMode,
    output: 'mathml',
    throwOnError: false, // an error renders as the source, in red
    trust: false, // no \href, \url, \includegraphics or \htmlClass
    strict: 'ignore',
    maxExpand: 200, // macro expansions: a self-referencing \def stops early
    maxSize: 20,
  });
}

interface MathToken extends Tokens.Generic {
  text: string;
  display: boolean;
}

// Pandoc's rule, so that prices stay text: no space right after the opening `$`, none right
// before the closing one, and no digit right after it ("$5 and $10" is not math).
const INLINE_DOLLAR = /^\$(?!\s)((?:\\.|[^\\$\n]){1,4000}?)(?<!\s)\$(?!\d)/;
const INLINE_PAREN = /^\\\(([\s\S]{1,4000}?)\\\)/;
const DISPLAY_DOLLAR = /^\$\$([\s\S]{1,4000}?)\$\$/;
const BLOCK = /^ {0,3}(?:\$\$([\s\S]{1,4000}?)\$\$|\\\[([\s\S]{1,4000}?)\\\])[^\S\n]*(?:\n|$)/;

function token(type: string, raw: string, tex: string, display: boolean): MathToken | undefined {
  if (tex.length > MAX_TEX_CHARS) return undefined;
  return { type, raw, text: tex.trim(), display };
}

export const mathExtension: MarkedExtension = {
  extensions: [
    {
      name: 'mathBlock',
      level: 'block',
      start: (src: string) => src.match(/^ {0,3}(?:\$\$|\\\[)/m)?.index,
      tokenizer(src: string) {
        const m = BLOCK.exec(src);
        return m ? token('mathBlock', m[0], m[1] ?? m[2], true) : undefined;
      },
      renderer: (t: Tokens.Generic) => `<div class="math-block">${render(t.text, true)}</div>\n`,
    },
    {
      name: 'mathInline',
      level: 'inline',
      start: (src: string) => src.match(/\$|\\\(/)?.index,
      tokenizer(src: string) {
        const display = DISPLAY_DOLLAR.exec(src);
        if (display) return token('mathInline', display[0], display[1], true);
        const m = INLINE_DOLLAR.exec(src) ?? INLINE_PAREN.exec(src);
        return m ? token('mathInline', m[0], m[1], false) : undefined;
      },
      renderer: (t: Tokens.Generic) => render(t.text, (t as MathToken).display),
    },
  ],
};
