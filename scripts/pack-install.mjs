// Pack the package as `npm publish` would (after a build), install the tarball in a scratch
// project with production settings, and report what a user gets: the packages and bytes that
// land in node_modules, and whether each library entry point loads there. Used by the install
// size benchmark (bench/suites/05-install-size.mjs) and the packaging test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('..', import.meta.url).pathname);

/** The entry points a client or API team imports: each must load with no other package. */
export const LIBRARY_ENTRY_POINTS = [
  'dpopkit',
  'dpopkit/client',
  'dpopkit/resource-server',
  'dpopkit/resource-server/node',
  'dpopkit/resource-server/express',
  'dpopkit/resource-server/fastify',
  'dpopkit/resource-server/hono',
  'dpopkit/resource-server/web',
  'dpopkit/stores/memory',
];

function bytesUnder(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    total += st.isDirectory() ? bytesUnder(path) : st.size;
  }
  return total;
}

function packagesUnder(modules) {
  const names = [];
  for (const name of readdirSync(modules)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) for (const sub of readdirSync(join(modules, name))) names.push(`${name}/${sub}`);
    else names.push(name);
  }
  return names;
}

/**
 * @returns {{ tarballBytes: number, installedBytes: number, packages: string[], loaded: Record<string, string>, dir: string, cleanup(): void }}
 */
export function packAndInstall() {
  const dir = mkdtempSync(join(tmpdir(), 'dpopkit-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  const [{ filename, size }] = JSON.parse(out);
  const project = join(dir, 'app');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  // --omit=dev --omit=optional --omit=peer: what `npm install dpopkit` puts in production
  // (optional peers are never installed unless asked for).
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--omit=peer', '--omit=optional', join(dir, filename)], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
  const modules = join(project, 'node_modules');
  const loaded = {};
  for (const entry of LIBRARY_ENTRY_POINTS) {
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(entry)}); if (!Object.keys(m).length) throw new Error('no exports');`], { cwd: project, stdio: 'pipe' });
      loaded[entry] = 'ok';
    } catch (err) {
      loaded[entry] = String(err.stderr ?? err.message).split('\n').find((l) => l.includes('Error')) ?? 'failed';
    }
  }
  return {
    tarballBytes: size,
    installedBytes: bytesUnder(modules),
    packages: packagesUnder(modules),
    loaded,
    dir: project,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
