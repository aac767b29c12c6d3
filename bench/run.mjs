// `npm run bench`: runs every suite in bench/suites/ (each in its own process, one after the
// other, so they never compete for the two cores) and prints their tables.
// Each suite prints ratios measured in one run: ours vs raw node:crypto, ours vs a peer.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const only = process.argv.slice(2);
const suites = readdirSync(new URL('./suites/', import.meta.url))
  .filter((f) => f.endsWith('.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const suite of suites) {
  console.log(`\n### ${suite}`);
  const result = spawnSync(process.execPath, ['--expose-gc', new URL(`./suites/${suite}`, import.meta.url).pathname], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
