// Prints the gzipped size of the JavaScript the first page load needs (entry + its static
// imports, read from index.html) and fails the build when it exceeds the budget.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET_KB = 300;
const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
const gz = (file) => gzipSync(readFileSync(join(dist, file))).length;

const initialBytes = initial.reduce((sum, f) => sum + gz(f), 0);
const all = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js'));
const allBytes = all.reduce((sum, f) => sum + gz(join('assets', f)), 0);
const kb = (n) => (n / 1024).toFixed(1);
console.log(`initial JS: ${kb(initialBytes)} KB gzipped (${initial.length} files, budget ${BUDGET_KB} KB); all JS: ${kb(allBytes)} KB gzipped`);
if (initialBytes > BUDGET_KB * 1024) {
  console.error(`initial JS exceeds the ${BUDGET_KB} KB budget`);
  process.exit(1);
}
