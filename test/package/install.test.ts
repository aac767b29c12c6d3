/**
 * The package as a client or API team installs it: packed as `npm publish` would, installed
 * from the tarball in a scratch project with production settings. The library has no
 * dependencies (like jose and oauth4webapi); the server side's packages are optional peers.
 * Needs `npm run build` first (npm test builds).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script shared with the install-size benchmark
import { LIBRARY_ENTRY_POINTS, packAndInstall } from '../../scripts/pack-install.mjs';

interface Installed {
  tarballBytes: number;
  installedBytes: number;
  packages: string[];
  loaded: Record<string, string>;
  dir: string;
  cleanup(): void;
}

let installed: Installed;
beforeAll(() => {
  installed = packAndInstall() as Installed;
}, 120_000);
afterAll(() => installed?.cleanup());

describe('npm install dpopkit (production, from the packed tarball)', () => {
  it('installs no other package, within 3 MB', () => {
    expect(installed.packages).toEqual(['dpopkit']);
    expect(installed.installedBytes).toBeLessThanOrEqual(3 * 1024 * 1024);
  });

  it('every library entry point loads with nothing else installed', () => {
    expect(Object.keys(installed.loaded)).toEqual(LIBRARY_ENTRY_POINTS);
    for (const [entry, outcome] of Object.entries(installed.loaded)) expect(`${entry}: ${outcome}`).toBe(`${entry}: ok`);
  });

  it('ships the license and the README; a source map only where it carries its sources', () => {
    const listing = execFileSync('find', ['node_modules/dpopkit', '-type', 'f'], { cwd: installed.dir, encoding: 'utf8' }).split('\n');
    expect(listing).toContain('node_modules/dpopkit/LICENSE');
    expect(listing).toContain('node_modules/dpopkit/README.md');
    // The library's JavaScript ships without maps; the demo bundle's map embeds its sources.
    expect(listing.filter((f) => f.endsWith('.map'))).toEqual(['node_modules/dpopkit/demo/dist/main.js.map']);
    const map = JSON.parse(readFileSync(join(installed.dir, 'node_modules/dpopkit/demo/dist/main.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    expect(map.sourcesContent?.filter(Boolean).length).toBe(map.sources.length);
    expect(listing.filter((f) => f.includes('/src/') || f.includes('/test/'))).toEqual([]);
  });

  it('the command line names the packages it needs instead of a stack trace', () => {
    let stderr = '';
    let status = 0;
    try {
      execFileSync('node_modules/.bin/dpopkit', ['keygen'], { cwd: installed.dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      ({ stderr, status } = err as { stderr: string; status: number });
    }
    expect(status).toBe(1);
    expect(stderr).toBe('dpopkit: this command needs the package "commander", which is not installed: npm install commander\n');
  });

  it('PostgreSQL storage without pg says which package to install', () => {
    const script = `
      const { createPostgresStorage } = await import('dpopkit/stores/postgres');
      try { await createPostgresStorage({ connectionString: 'postgres://127.0.0.1:1/none' }).migrate(); }
      catch (err) { console.log(err.code, err.message); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: installed.dir, encoding: 'utf8' });
    expect(out.trim()).toBe('ERR_DPOPKIT_MISSING_PEER PostgreSQL storage needs the package "pg", which is not installed: npm install pg');
  });
});
