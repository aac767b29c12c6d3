/**
 * Property test: whatever arrives at an endpoint (random bodies, content types, credentials,
 * DPoP headers, query strings), the answer is a specific client error or success, never a 5xx
 * or a dropped connection (RFC 6749 §5.2; "bad input never crashes anything").
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, SECRET, startServer, STORAGES, type Running } from './support/harness.js';

describe('fuzzed requests (PGlite)', () => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let goodProof: () => Promise<string>;

  beforeAll(async () => {
    const opened = await STORAGES[0]!.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage);
    const key = await dpopKey();
    goodProof = () => key.proof(`${server.url}/token`);
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  const printable = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~'.split('')), maxLength: 80 });
  const names = fc.constantFrom('grant_type', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'refresh_token', 'scope', 'token', 'token_type_hint', 'response_type', 'code_challenge', 'code_challenge_method', 'dpop_jkt', 'request_uri', 'state', 'csrf', 'username', 'password');
  const values = fc.oneof(printable, fc.constantFrom('client_credentials', 'authorization_code', 'refresh_token', 'confidential', 'spa', SECRET, 'S256', 'code', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'a.b.c', '%', '%E0%A4%A'));
  const body = fc.oneof(
    fc.array(fc.tuple(names, values), { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v.includes('%') ? v : encodeURIComponent(v)}`).join('&')),
    printable,
  );
  const contentType = fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain', 'multipart/form-data', undefined);
  const authorization = fc.oneof(fc.constant(undefined), fc.constant(basic('confidential', SECRET)), printable.map((p) => `Basic ${p}`), printable.map((p) => `Basic ${Buffer.from(p).toString('base64')}`));
  const dpop = fc.oneof(fc.constant(undefined), fc.constant('good'), printable, printable.map((p) => `${Buffer.from(p).toString('base64url')}.e30.AAAA`));
  const path = fc.constantFrom('/token', '/par', '/introspect', '/revoke', '/login');

  it('POST endpoints: random forms, content types, credentials and proofs never give a 5xx', async () => {
    await fc.assert(fc.asyncProperty(path, body, contentType, authorization, dpop, async (p, b, type, auth, proof) => {
      const headers: Record<string, string> = {};
      if (type) headers['content-type'] = type;
      if (auth) headers.authorization = auth;
      if (proof) headers.dpop = proof === 'good' ? await goodProof() : proof;
      const res = await fetch(server.url + p, { method: 'POST', headers, body: b, redirect: 'manual' });
      const text = await res.text();
      expect(res.status, `${p} ${b} → ${text}`).toBeLessThan(500);
      if (p !== '/login' && res.status >= 400) expect(JSON.parse(text).error).toMatch(/^[a-z_]+$/);
    }), { numRuns: 250 });
  });

  it('GET /authorize: random query strings never give a 5xx or a redirect to an unregistered URI', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(names, values), { maxLength: 8 }), async (pairs) => {
      const query = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      const res = await fetch(`${server.url}/authorize?${query}`, { redirect: 'manual' });
      await res.text();
      expect(res.status).toBeLessThan(500);
      const location = res.headers.get('location');
      if (location) expect(location.startsWith('http://127.0.0.1:9/')).toBe(true);
    }), { numRuns: 150 });
  });
});
