/**
 * The browser demo's build, without a browser (runs even where Chromium is absent): the bundle
 * holds only browser code (issue 5: "the browser bundle contains no server code"), and the demo
 * sources typecheck against the client library with DOM types only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
// A build of its own, in a temp dir: demo/dist may be in use by a running server (browser.test.ts).
const DIST = mkdtempSync(join(tmpdir(), 'dpopkit-demo-build-'));

describe('browser demo build', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-demo.mjs')], { cwd: ROOT, stdio: 'pipe', env: { ...process.env, DPOPKIT_QUIET: '1', DPOPKIT_DEMO_OUTDIR: DIST } });
  }, 60_000);
  afterAll(() => rmSync(DIST, { recursive: true, force: true }));

  it('the bundle holds no server code (only demo/, src/client, src/core with the WebCrypto backend)', () => {
    const build = JSON.parse(readFileSync(join(DIST, 'build.json'), 'utf8')) as { inputs: string[]; bytes: number };
    expect(build.inputs).toContain('src/core/crypto/web.ts');
    expect(build.inputs).toContain('src/client/index.ts');
    expect(build.inputs).not.toContain('src/core/crypto/node.ts');
    for (const input of build.inputs) expect(input).toMatch(/^(demo\/src|src\/client|src\/core)\//);
    const bundle = readFileSync(join(DIST, 'main.js'), 'utf8');
    expect(bundle).not.toMatch(/["']node:[a-z_/]+["']/);
    expect(bundle).not.toMatch(/["'](pg|hono|ioredis|@electric-sql\/pglite|pino|jose)["'/]/);
    // One self-contained ES module: no import left for the browser to resolve.
    expect(bundle).not.toMatch(/^\s*import\s/m);
    expect(build.bytes).toBeLessThan(120_000);
  });

  it('the page has no external resources (no CDN scripts, styles or fonts)', () => {
    const html = readFileSync(join(DIST, 'index.html'), 'utf8');
    const css = readFileSync(join(DIST, 'style.css'), 'utf8');
    for (const [, url] of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(url).toMatch(/^(\/|data:)/);
    expect(css).not.toMatch(/url\(|@import/);
  });

  it('the demo sources typecheck against dpopkit/client with DOM types only (no Node types)', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'demo', 'tsconfig.json')], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      output = String((err as { stdout?: Buffer }).stdout ?? err);
    }
    expect(output).toBe('');
  }, 60_000);
});
