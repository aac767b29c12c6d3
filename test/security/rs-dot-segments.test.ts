/**
 * Attack: dot segments make the `htu` check and the application's router see two resources.
 *
 * URL normalisation (RFC 3986 §6.2.2.3, WHATWG URL) removes dot segments, so "/api/../hello"
 * and "/api/%2e%2e/hello" compare equal to "/hello"; Express, Fastify and node:http route the
 * raw path, so the same request runs the handler mounted under "/api". A proof signed for
 * "/hello" then authorises a request the application treats as one for "/api/…"; and a proof
 * for "/api/../hello" that the server refused is still unspent, ready to be replayed at
 * "/hello". Encoded separators ("%2F", "%5C") and backslashes are the same class: proxies and
 * routers disagree about whether they separate segments.
 *
 * Defence: the resource server refuses such a request target before anything else, 400
 * invalid_request with reason `dot_segment` or `encoded_separator`, on every adapter (Hono and
 * the Web adapter check the raw target, since their `Request.url` is already normalised); and
 * core `htu` comparison never normalises dot segments into a match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof, findChallenge, htuMatches } from '../../src/index.js';
import { createResourceServer, type ResourceServer } from '../../src/resource-server/index.js';
import { ADAPTERS } from '../resource-server/support/adapters.js';
import { startAuthServer, type AuthServer } from '../resource-server/support/auth-server.js';
import { newKey, raw, type RawResponse, type Running } from '../resource-server/support/http.js';

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

const errorOf = (res: RawResponse) => findChallenge(res.headers['www-authenticate'] as string, 'DPoP')?.params.error;

const DOT_TARGETS = [
  '/api/../resource',
  '/api/./../resource',
  '/api/%2e%2e/resource',
  '/api/%2E%2E/resource',
  '/api/.%2e/resource',
  '/api/%2e./resource',
  '/api/%2E./resource',
  '/./resource',
  '/api/..',
  '/api/..?x=/resource',
  '/api/..;/resource',
];
const SEPARATOR_TARGETS = ['/api/..%2fresource', '/api/..%2Fresource', '/api%2F..%2Fresource', '/api/..%5cresource', '/api/%5C..%5Cresource'];

describe.each(ADAPTERS)('dot segments through %s', (name, start) => {
  let api: Running;
  let rs: ResourceServer;
  let key: Awaited<ReturnType<typeof newKey>>;
  let token: string;
  const reasons: unknown[] = [];
  beforeAll(async () => {
    const logger = { info: (o: object) => void reasons.push((o as { reason?: unknown }).reason), warn: () => {}, debug: () => {}, error: () => {} };
    rs = createResourceServer({ issuer: as.url, audience: 'https://api.example.com', allowedHosts: ['127.0.0.1'], jwksUri: `${as.url}/jwks`, logger });
    api = await start(rs);
    key = await newKey();
    token = await as.mint({ cnf: { jkt: key.jkt } });
  });
  afterAll(async () => {
    await api.close();
  });

  async function send(target: string, htu: string, proof?: string): Promise<RawResponse> {
    proof ??= await createProof(key, { htm: 'GET', htu, accessToken: token });
    return raw(api.base, target, 'GET', [['Authorization', `DPoP ${token}`], ['DPoP', proof]]);
  }

  it('the honest request for /resource → 200', async () => {
    const res = await send('/resource', `${api.base}/resource`);
    expect(res.status).toBe(200);
  });

  it.each(DOT_TARGETS)('a proof for /resource sent to %s → 400 dot_segment (never the handler)', async (target) => {
    const res = await send(target, `${api.base}/resource`);
    expect(res.status).toBe(400);
    expect(errorOf(res)).toBe('invalid_request');
    expect(res.json().error).toBe('invalid_request');
    expect(reasons.at(-1)).toBe('dot_segment');
  });

  it.each(SEPARATOR_TARGETS)('encoded separators: %s → 400 encoded_separator', async (target) => {
    const res = await send(target, `${api.base}/resource`);
    expect(res.status).toBe(400);
    expect(reasons.at(-1)).toBe('encoded_separator');
  });

  it('a raw backslash in the path → 400 (refused by dpopkit, or by the runtime before it)', async () => {
    const res = await send('/api\\..\\resource', `${api.base}/resource`);
    expect(res.status).toBe(400);
    if (name !== 'Hono' && name !== 'Web Request') expect(reasons.at(-1)).toBe('encoded_separator');
  });

  it('a proof whose htu has dot segments is refused where it was sent, and cannot be replayed at the normalised URL', async () => {
    const proof = await createProof(key, { htm: 'GET', htu: `${api.base}/api/../resource`, accessToken: token });
    const first = await send('/api/../resource', '', proof);
    expect(first.status).toBe(400);
    const replay = await send('/resource', '', proof);
    expect(replay.status).toBe(401);
    expect(errorOf(replay)).toBe('invalid_dpop_proof');
    expect(reasons.at(-1)).toBe('htu_mismatch');
    for (const htu of [`${api.base}/api/%2e%2e/resource`, `${api.base}/api/%2E./resource`, `${api.base}/./resource`]) {
      const res = await send('/resource', htu);
      expect(res.status, htu).toBe(401);
      expect(reasons.at(-1)).toBe('htu_mismatch');
    }
  });

  it('dots that are not whole segments are ordinary characters → 200', async () => {
    for (const path of ['/resource/..hidden', '/resource/a.b', '/resource/...', '/.well-known-ish']) {
      const res = await send(path, `${api.base}${path}`);
      expect(res.status, path).toBe(200);
    }
  });
});

describe('core htu comparison (RFC 9449 §4.3 (9)) never removes dot segments to find a match', () => {
  it.each([
    ['https://api.example.com/api/../hello', 'https://api.example.com/hello'],
    ['https://api.example.com/hello', 'https://api.example.com/api/../hello'],
    ['https://api.example.com/api/%2e%2e/hello', 'https://api.example.com/hello'],
    ['https://api.example.com/api/.%2E/hello', 'https://api.example.com/hello'],
    ['https://api.example.com/./hello', 'https://api.example.com/hello'],
    ['https://api.example.com/api\\..\\hello', 'https://api.example.com/hello'],
  ])('%s ≠ %s', (claimed, request) => {
    expect(htuMatches(claimed, request)).toBe(false);
  });
});
