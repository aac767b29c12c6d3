/**
 * indexedDbKeyStore in real headless Chromium (Node has no IndexedDB): the browser bundle of
 * dpopkit/client served from a local origin; the key survives a reload as the same
 * non-extractable CryptoKey (RFC 9449 §11.4), rotateKey replaces it, clear removes it, and
 * keyName keeps separate keys apart.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/client/indexeddb-key-store.test.ts: SKIPPED, ${CHROMIUM} is absent (.ci/run installs it)`);

const root = process.cwd();
let server: Server;
let origin: string;
let browser: Browser;
let page: Page;

/** Run `body` in the page with the client module as `m`. */
async function inPage<T>(body: string): Promise<T> {
  return page.evaluate(`(async () => { const m = window.dpopkit; ${body} })()`) as Promise<T>;
}

describe.skipIf(!HAVE_CHROMIUM)('indexedDbKeyStore in Chromium', () => {
  beforeAll(async () => {
    const bundle = (await build({
      entryPoints: [join(root, 'src/client/index.ts')],
      bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent',
      plugins: [{ name: 'web-crypto', setup(b) { b.onResolve({ filter: /^#crypto$/ }, () => ({ path: resolve(root, 'src/core/crypto/web.ts') })); } }],
    })).outputFiles[0]!.text;
    const html = '<!doctype html><title>keystore</title><script type="module">import * as m from "/client.js"; window.dpopkit = m; document.title = "ready";</script>';
    server = createServer((req, res) => {
      if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    page = await (await browser.newContext()).newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.title === 'ready');
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  });

  it('RFC 9449 §11.4: a generated key is stored as a non-extractable CryptoKey and survives a reload (same jkt)', async () => {
    const first = await inPage<{ jkt: string; extractable: boolean; exportRejected: boolean }>(`
      const store = m.indexedDbKeyStore();
      const client = m.createDPoPClient({ keyStore: store });
      const jkt = await client.thumbprint();
      const pair = await store.load();
      let exportRejected = false;
      try { await crypto.subtle.exportKey('jwk', pair.privateKey); } catch { exportRejected = true; }
      return { jkt, extractable: pair.privateKey.extractable, exportRejected };
    `);
    expect(first.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.extractable).toBe(false);
    expect(first.exportRejected).toBe(true);
    await page.reload();
    await page.waitForFunction(() => document.title === 'ready');
    const again = await inPage<{ jkt: string; proofAlg: string }>(`
      const client = m.createDPoPClient({ keyStore: m.indexedDbKeyStore() });
      const proof = await client.proof('GET', 'https://api.example/x');
      return { jkt: await client.thumbprint(), proofAlg: JSON.parse(atob(proof.split('.')[0].replace(/-/g, '+').replace(/_/g, '/'))).alg };
    `);
    expect(again.jkt).toBe(first.jkt);
    expect(again.proofAlg).toBe('ES256');
  });

  it('rotateKey stores the new key; clear() empties the store; keyName keeps keys apart', async () => {
    const out = await inPage<{ before: string; after: string; reloaded: string; other: string; cleared: boolean }>(`
      const client = m.createDPoPClient({ keyStore: m.indexedDbKeyStore() });
      const before = await client.thumbprint();
      await client.rotateKey();
      const after = await client.thumbprint();
      const reloaded = await m.createDPoPClient({ keyStore: m.indexedDbKeyStore() }).thumbprint();
      const other = await m.createDPoPClient({ keyStore: m.indexedDbKeyStore({ keyName: 'second' }) }).thumbprint();
      const store = m.indexedDbKeyStore();
      await store.clear();
      return { before, after, reloaded, other, cleared: (await store.load()) === undefined };
    `);
    expect(out.after).not.toBe(out.before);
    expect(out.reloaded).toBe(out.after);
    expect(out.other).not.toBe(out.after);
    expect(out.cleared).toBe(true);
  });
});
