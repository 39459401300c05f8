import DOMPurify from 'dompurify';
import { Marked, type Tokens } from 'marked';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { mathExtension } from './math';

// A few common languages keep the bundle small; others render as plain escaped code.
const languages = { bash, css, javascript, json, python, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);
hljs.registerAliases(['sh', 'shell', 'console'], { languageName: 'bash' });
hljs.registerAliases(['js', 'jsx'], { languageName: 'javascript' });
hljs.registerAliases(['ts', 'tsx'], { languageName: 'typescript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['yml'], { languageName: 'yaml' });

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function highlight(code: string, lang: string): string {
  if (lang && hljs.getLanguage(lang)) return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  return escapeHtml(code);
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    code({ text, lang }: Tokens.Code) {
      const language = (lang ?? '').trim().split(/\s+/)[0].toLowerCase();
      const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : '<span class="code-lang">code</span>';
      return (
        `<div class="code-block">` +
        `<div class="code-head">${label}<button type="button" class="copy-code">Copy code</button></div>` +
        `<pre tabindex="0"><code class="hljs${language ? ` language-${escapeHtml(language)}` : ''}">${highlight(text, language)}</code></pre>` +
        `</div>`
      );
    },
  },
});
marked.use(mathExtension);

let hooked = false;
function purifier() {
  if (!hooked) {
    // Links from model output open in a new tab and never get the opener.
    DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A' && node.getAttribute('href')) {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer nofollow');
      }
    });
    hooked = true;
  }
  return DOMPurify;
}

/**
 * Whether an image may load: only from this site or inline (`data:`). A reply renders while it
 * streams, so a remote image would be fetched with no click, and its URL can carry whatever the
 * model was led to put there (other conversations' memory, say).
 */
export function loadableImage(src: string): boolean {
  try {
    const url = new URL(src, window.location.href);
    return url.protocol === 'data:' || url.origin === window.location.origin;
  } catch {
    return false;
  }
}

/** A remote image becomes a link to it (named by its alt text), which loads nothing until clicked. */
function imagesAsLinks(root: DocumentFragment): void {
  for (const img of Array.from(root.querySelectorAll('img'))) {
    const src = img.getAttribute('src') ?? '';
    if (src && loadableImage(src)) continue;
    const label = img.getAttribute('alt') || img.getAttribute('title') || src || 'image';
    let replacement: Node = document.createTextNode(label);
    const href = src ? new URL(src, window.location.href) : null;
    if (href && (href.protocol === 'https:' || href.protocol === 'http:')) {
      const link = document.createElement('a');
      link.href = href.href;
      link.textContent = `Image: ${label}`;
      link.className = 'remote-image';
      link.target = '_blank';
      link.rel = 'noopener noreferrer nofollow';
      replacement = link;
    }
    img.replaceWith(replacement);
  }
}

/**
 * Markdown → sanitised HTML (scripts, event handlers and javascript: URLs removed; remote images
 * as links; nothing else that fetches by itself: no media, srcset, inline styles or backgrounds).
 */
export function renderMarkdown(source: string): string {
  const html = marked.parse(source, { async: false }) as string;
  const fragment = purifier().sanitize(html, {
    ADD_ATTR: ['target'],
    FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select', 'audio', 'video', 'source', 'picture', 'track', 'image', 'link'],
    FORBID_ATTR: ['style', 'srcset', 'background', 'poster', 'ping'],
    RETURN_DOM_FRAGMENT: true,
  });
  imagesAsLinks(fragment);
  const out = document.createElement('div');
  out.appendChild(fragment);
  return out.innerHTML;
}
