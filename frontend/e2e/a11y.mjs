// axe-core in the page under test: `await expectAccessible(page, 'documents page')` throws a
// readable list of every WCAG 2.1 A/AA and best-practice violation in what the page shows now.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
export const A11Y_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
// Rules whose findings inside a rendered reply are the model's choice, not the app's: a reply that
// starts with `### ` jumps heading levels whatever the page does.
const WRITTEN_BY_THE_MODEL = { 'heading-order': '.markdown' };

/**
 * Runs axe-core on the page as it is now; throws naming each violation (rule, impact, help, the
 * elements' selectors and what is wrong with them). `exclude`: selectors of parts not to check
 * (say why at the call). axe is evaluated through the DevTools protocol, which the page's
 * Content-Security-Policy does not govern: the app's policy stays as users get it.
 */
export async function expectAccessible(page, view, { exclude = [] } = {}) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  // A sliding drawer or a fading button measured mid-transition would give colours nobody sees.
  await page.evaluate(() => Promise.all(document.getAnimations().filter((a) => a.effect?.getComputedTiming().iterations !== Infinity).map((a) => a.finished.catch(() => undefined))));
  const violations = await page.evaluate(
    async ({ tags, exclude, modelWritten }) => {
      const context = exclude.length ? { exclude: exclude.map((selector) => [selector]) } : document;
      const results = await window.axe.run(context, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      const ours = (id, node) => !modelWritten[id] || !document.querySelector(node.target[0])?.closest(modelWritten[id]);
      return results.violations
        .map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          helpUrl: v.helpUrl,
          nodes: v.nodes.filter((n) => ours(v.id, n)).map((n) => ({ target: n.target.join(' '), summary: n.failureSummary ?? '' })),
        }))
        .filter((v) => v.nodes.length);
    },
    { tags: A11Y_TAGS, exclude, modelWritten: WRITTEN_BY_THE_MODEL },
  );
  if (violations.length) throw new Error(`axe-core: ${violations.length} accessibility violation(s) in the ${view}:\n${violations.map(describe).join('\n')}`);
}

function describe({ id, impact, help, helpUrl, nodes }) {
  const elements = nodes.map(({ target, summary }) => `    ${target}\n${summary.split('\n').map((line) => `      ${line.trim()}`).join('\n')}`);
  return `- ${id} (${impact}): ${help} (${helpUrl})\n${elements.join('\n')}`;
}
