/**
 * "Works in the browser and in Node 20 without polyfills; the browser bundle contains no server
 * code" (issue 5): dpopkit/client bundled by esbuild for the browser with the WebCrypto backend,
 * checked for Node/server code, then run as is in Node 20 (globalThis.fetch + crypto.subtle only)
 * against a real server that demands nonces and verifies each proof with core's verifyProof.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as ClientModule from '../../src/client/index.js';
import { controlledNonces, startResourceServer } from './support/servers.js';

const root = process.cwd();
let dir: string;
let bundle: string;
let inputs: string[];
let client: typeof ClientModule;

beforeAll(async () => {
  const result = await build({
    entryPoints: [join(root, 'src/client/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [{
      name: 'web-crypto',
      setup(b) { b.onResolve({ filter: /^#crypto$/ }, () => ({ path: resolve(root, 'src/core/crypto/web.ts') })); },
    }],
  });
  bundle = result.outputFiles[0]!.text;
  inputs = Object.keys(result.metafile.inputs).map((p) => relative(root, resolve(root, p)));
  dir = mkdtempSync(join(tmpdir(), 'dpopkit-bundle-'));
  const file = join(dir, 'client.mjs');
  writeFileSync(file, bundle);
  client = (await import(pathToFileURL(file).href)) as typeof ClientModule;
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the browser bundle of dpopkit/client', () => {
  it('contains only client and core code (no Node backend, no file key store, no servers, no node: modules)', () => {
    expect(inputs.length).toBeGreaterThan(5);
    for (const input of inputs) expect(input, input).toMatch(/^src\/(client|core)\//);
    expect(inputs).not.toContain('src/core/crypto/node.ts');
    expect(inputs.some((p) => p.startsWith('src/client/key-store/file'))).toBe(false);
    expect(bundle).not.toMatch(/["']node:[a-z_/]+["']/);
  });

  it('runs with the WebCrypto backend: non-extractable key, nonce retry, proofs accepted by verifyProof', async () => {
    const nonces = controlledNonces('web');
    const rs = await startResourceServer({ nonces, token: 'tok' });
    try {
      const c = client.createDPoPClient();
      const res = await c.fetch(`${rs.url}/data?q=1`, { accessToken: 'tok' });
      expect(res.status).toBe(200);
      expect(rs.seen).toHaveLength(2);
      expect(rs.proofs[0]!.jkt).toBe(await c.thumbprint());
      expect(rs.proofs[0]!.claims.nonce).toBe(nonces.value);
      // The generated private key is a WebCrypto CryptoKey that cannot be exported (RFC 9449 §11.4).
      const pair = await client.generateKeyPair('ES256');
      expect(pair.privateKey).toBeInstanceOf(CryptoKey);
      expect((pair.privateKey as CryptoKey).extractable).toBe(false);
      await expect(crypto.subtle.exportKey('jwk', pair.privateKey as CryptoKey)).rejects.toThrow();
      const pkce = await client.createPkce();
      expect(pkce.codeVerifier).toHaveLength(43);
    } finally {
      await rs.close();
    }
  });
});
