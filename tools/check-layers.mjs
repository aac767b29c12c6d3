// Layer check (DESIGN.md "dependencies point down only"): every relative import in src/ must
// stay inside its own layer or point to a layer below it. Run by `npm test`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve('src');
/** What each top-level folder may import (besides itself). */
const ALLOWED = {
  core: [],
  stores: ['core'],
  client: ['core'],
  'resource-server': ['core', 'stores'],
  'authorization-server': ['core', 'stores'],
  cli: ['core', 'stores', 'client', 'resource-server', 'authorization-server', 'demo'],
  '': ['core'], // src/index.ts
};
/** Files of core that must run anywhere: no node: imports (the Node backend is the one exception). */
/** Ports a lower layer may implement: the stores implement the authorization server's Storage, AttemptStore and ReplayQuota. */
const PORTS = new Set(['authorization-server/storage.ts', 'authorization-server/throttle.ts', 'authorization-server/replay-quota.ts']);
const NODE_ALLOWED_IN_CORE = new Set(['core/crypto/node.ts']);
const BROWSER_LAYERS = new Set(['core', 'client']);
/**
 * The library a client or API team installs has no dependencies (package.json lists the server
 * side's packages as optional peers): these files may import only node: built-ins, `#crypto`
 * and each other, and type-only imports of a framework they adapt to.
 */
const ZERO_DEPENDENCY = (rel) => /^(core|client|resource-server)\//.test(rel) || ['index.ts', 'stores/memory.ts', 'stores/memory-throttle.ts', 'stores/memory-storage.ts', 'stores/half-siphash.ts'].includes(rel);

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

const layerOf = (path) => {
  const rel = relative(SRC, path);
  return rel.includes('/') ? rel.split('/')[0] : '';
};

const problems = [];
for (const file of files(SRC)) {
  const rel = relative(SRC, file);
  const layer = layerOf(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = match[1] ?? match[2];
    if (spec.startsWith('.')) {
      const targetFile = resolve(dirname(file), spec);
      const target = layerOf(targetFile);
      if (PORTS.has(relative(SRC, targetFile).replace(/\.js$/, '.ts'))) continue;
      if (target !== layer && !(ALLOWED[layer] ?? []).includes(target)) problems.push(`${rel} imports ${spec} (${layer || 'index'} → ${target || 'index'})`);
    } else if (!spec.startsWith('node:') && !spec.startsWith('#') && ZERO_DEPENDENCY(rel) && !/^\s*(?:import|export)\s+type\b/.test(match[0])) {
      problems.push(`${rel} imports the package ${spec}: the library installs with no dependencies`);
    } else if (spec.startsWith('node:') && BROWSER_LAYERS.has(layer) && !NODE_ALLOWED_IN_CORE.has(rel) && !rel.startsWith('client/key-store/file')) {
      problems.push(`${rel} imports ${spec}: ${layer}/ must run in browsers and edge runtimes`);
    }
  }
}
if (problems.length) {
  console.error(`layer check: ${problems.length} import(s) point the wrong way:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('layer check: every import points down');
