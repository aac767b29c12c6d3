/**
 * State lives in instances, never in module-level caches (DESIGN: "two servers in one process
 * share nothing"). A header cache shared by every verifier of a process lets one server's
 * traffic decide what another skips checking, and a client-side memo keyed by raw access tokens
 * keeps one client's tokens in memory another client reaches. Each test counts the crypto
 * backend's calls: a header seen by one verifier is parsed and its key imported again by the
 * next; an access token hashed by one client is hashed again by the next; each client draws its
 * own jti randomness.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backend } from '#crypto';
import { createProof, createProofSigner, createProofVerifier, exportPublicJwk, generateKeyPair, verifyProof } from '../../src/index.js';
import { createDPoPClient } from '../../src/client/index.js';
import type { RequestLike } from '../../src/resource-server/index.js';
import { type AuthServer, type AuthServerFixture, useAuthServer } from '../resource-server/support/auth-server.js';
import { testRs } from '../resource-server/support/rs.js';

const URL = 'https://api.example.com/items';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('core: createProofVerifier owns its header cache; verifyProof keeps none', () => {
  it('a header seen by one verifier is a cache hit there only; a second verifier (and verifyProof) imports the key again', async () => {
    const key = await generateKeyPair('ES256', { extractable: true });
    const proof = () => createProof(key, { htm: 'GET', htu: URL });
    const imports = vi.spyOn(backend, 'importPublicJwk');
    const a = createProofVerifier();
    const b = createProofVerifier();
    const first = await a.verify(await proof(), { method: 'GET', url: URL, replayCache: false });
    const again = await a.verify(await proof(), { method: 'GET', url: URL, replayCache: false });
    expect(imports).toHaveBeenCalledTimes(1);
    // The hit returns the very header A resolved before.
    expect(again.header).toBe(first.header);
    const other = await b.verify(await proof(), { method: 'GET', url: URL, replayCache: false });
    expect(imports).toHaveBeenCalledTimes(2);
    expect(other.header).not.toBe(first.header);
    expect(other.jkt).toBe(first.jkt);
    // The plain function remembers nothing: every call imports.
    await verifyProof(await proof(), { method: 'GET', url: URL, replayCache: false });
    await verifyProof(await proof(), { method: 'GET', url: URL, replayCache: false });
    expect(imports).toHaveBeenCalledTimes(4);
  });

  it('headerCacheSize: 0 turns the cache off; a negative size is a caller mistake', async () => {
    const key = await generateKeyPair('ES256', { extractable: true });
    const imports = vi.spyOn(backend, 'importPublicJwk');
    const uncached = createProofVerifier({ headerCacheSize: 0 });
    for (let i = 0; i < 3; i++) await uncached.verify(await createProof(key, { htm: 'GET', htu: URL }), { method: 'GET', url: URL, replayCache: false });
    expect(imports).toHaveBeenCalledTimes(3);
    expect(() => createProofVerifier({ headerCacheSize: -1 })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('createProofSigner owns its ath memo and jti randomness; createProof keeps none', async () => {
    const key = await generateKeyPair('ES256', { extractable: true });
    const token = 'an-access-token';
    const hashes = vi.spyOn(backend, 'sha256');
    const random = vi.spyOn(backend, 'randomBytes');
    const a = createProofSigner();
    const b = createProofSigner();
    await a.sign(key, { htm: 'GET', htu: URL, accessToken: token });
    await a.sign(key, { htm: 'GET', htu: URL, accessToken: token });
    expect(hashes).toHaveBeenCalledTimes(1);
    expect(random.mock.calls.map(([n]) => n)).toEqual([4096]); // one block, then drawn from it
    await b.sign(key, { htm: 'GET', htu: URL, accessToken: token });
    expect(hashes).toHaveBeenCalledTimes(2);
    expect(random.mock.calls.map(([n]) => n)).toEqual([4096, 4096]);
    await createProof(key, { htm: 'GET', htu: URL, accessToken: token });
    expect(hashes).toHaveBeenCalledTimes(3);
    expect(random.mock.calls.map(([n]) => n)).toEqual([4096, 4096, 16]);
  });
});

describe('two resource servers in one process share nothing', () => {
  let as: AuthServer;
  let key: AuthServerFixture['key'];
  let token: string;
  useAuthServer((f) => ({ as, key, token } = f));
  const request = async (): Promise<RequestLike> => ({
    method: 'GET', url: '/items', protocol: 'https',
    headers: { host: 'api.example.com', authorization: `DPoP ${token}`, dpop: await createProof(key, { htm: 'GET', htu: URL, accessToken: token }) },
  });

  it('a proof header cached by one is parsed and its key imported again by the other', async () => {
    const { x } = await exportPublicJwk(key);
    const a = testRs(as, { jwksUri: `${as.url}/jwks` }).rs;
    const b = testRs(as, { jwksUri: `${as.url}/jwks` }).rs;
    const imports = vi.spyOn(backend, 'importPublicJwk');
    const proofKeyImports = () => imports.mock.calls.filter(([jwk]) => (jwk as { x?: unknown }).x === x).length;
    expect((await a.verify(await request())).ok).toBe(true);
    expect((await a.verify(await request())).ok).toBe(true);
    expect(proofKeyImports()).toBe(1); // A: once, then its cache
    expect((await b.verify(await request())).ok).toBe(true);
    expect(proofKeyImports()).toBe(2); // B: A's cache is not B's
    expect((await b.verify(await request())).ok).toBe(true);
    expect(proofKeyImports()).toBe(2);
  });

  it('a proof spent at one is not spent at the other (separate default replay caches)', async () => {
    const a = testRs(as, { jwksUri: `${as.url}/jwks` }).rs;
    const b = testRs(as, { jwksUri: `${as.url}/jwks` }).rs;
    const r = await request();
    expect((await a.verify(r)).ok).toBe(true);
    const replay = await a.verify(r);
    expect(replay.ok ? 'accepted' : replay.reason).toBe('replayed');
    // Each server its own replay cache: share one deliberately (replayCache) for a fleet.
    expect((await b.verify(r)).ok).toBe(true);
  });
});

describe('two DPoP clients in one process share nothing', () => {
  it('each hashes an access token itself (separate ath memos) and draws its own jti randomness', async () => {
    const sent: Request[] = [];
    const fetch = async (input: RequestInfo | URL) => {
      sent.push(input as Request);
      return new Response('{}', { status: 200 });
    };
    const key = await generateKeyPair('ES256', { extractable: true });
    const random = vi.spyOn(backend, 'randomBytes');
    const a = createDPoPClient({ key, fetch });
    const b = createDPoPClient({ key, fetch });
    // Warm both (key resolved, header encoded); each draws its own block of jti randomness.
    await a.fetch(URL, { accessToken: 'shared-token' });
    await b.fetch(URL, { accessToken: 'another-token' });
    expect(random.mock.calls.map(([n]) => n)).toEqual([4096, 4096]);
    const hashes = vi.spyOn(backend, 'sha256');
    await a.fetch(URL, { accessToken: 'shared-token' });
    expect(hashes).not.toHaveBeenCalled(); // in A's memo
    await b.fetch(URL, { accessToken: 'shared-token' });
    expect(hashes).toHaveBeenCalledTimes(1); // not in B's: B hashes it itself
    await b.fetch(URL, { accessToken: 'shared-token' });
    expect(hashes).toHaveBeenCalledTimes(1);
    expect(random).toHaveBeenCalledTimes(2); // both still drawing from their own blocks
    const aths = sent.map((r) => JSON.parse(Buffer.from(r.headers.get('dpop')!.split('.')[1]!, 'base64url').toString()).ath);
    expect(new Set(aths.slice(2)).size).toBe(1); // the same token, the same ath, whoever hashed it
  });
});
