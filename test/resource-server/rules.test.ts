/**
 * RFC 9449 §7.1/§7.2 and RFC 6750 §3/§3.1 through real HTTP, through the node:http and Hono
 * adapters: statuses, `WWW-Authenticate` parameters and the logged `reason`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof, findChallenge, generateKeyPair, parseChallenges } from '../../src/index.js';
import { startAuthServer, type AuthServer } from './support/auth-server.js';
import { call, newKey, raw, startHonoApi, startNodeApi, type Running } from './support/http.js';
import { testRs, type TestRs } from './support/rs.js';

const ADAPTERS = [['node:http', startNodeApi], ['Hono', startHonoApi]] as const;
const ALL_ALGS = 'ES256 ES384 ES512 EdDSA Ed25519 RS256 RS384 RS512 PS256 PS384 PS512';

function challenges(res: { headers: Record<string, string | string[] | undefined> }) {
  const header = res.headers['www-authenticate'] as string | undefined;
  return { header, dpop: findChallenge(header, 'DPoP'), bearer: findChallenge(header, 'Bearer'), all: parseChallenges(header) };
}

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

describe.each(ADAPTERS)('resource server rules through %s', (_name, start) => {
  let t: TestRs;
  let api: Running;
  let key: Awaited<ReturnType<typeof newKey>>;
  let bound: string;

  beforeAll(async () => {
    t = testRs(as);
    api = await start(t.rs);
    key = await newKey();
    bound = await as.mint({ cnf: { jkt: key.jkt } });
  });
  afterAll(async () => {
    await api.close();
  });

  it('RFC 9449 §7.1: a DPoP-bound JWT with a valid proof (ath, binding) is accepted; the principal carries sub, client_id, scopes, jkt', async () => {
    const res = await call(api.base, '/resource', bound, { key });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ subject: 'alice', clientId: 'app', scopes: ['read', 'write'], jkt: key.jkt, scheme: 'DPoP' });
  });

  it('RFC 6750 §3.1 / RFC 9449 §7.1: no credentials → 401 with Bearer and DPoP challenges, no error code, algs listed', async () => {
    const res = await raw(api.base, '/resource', 'GET', []);
    expect(res.status).toBe(401);
    const c = challenges(res);
    expect(c.all.map((x) => x.scheme)).toEqual(['Bearer', 'DPoP']);
    // RFC 9728 §5.1: the challenge also points at the resource's metadata.
    expect(c.dpop!.params).toEqual({ algs: ALL_ALGS, resource_metadata: 'https://api.example.com/.well-known/oauth-protected-resource' });
    expect(c.bearer!.params.error).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    expect(t.lastReason()).toBe('missing_credentials');
  });

  it('RFC 6750 §3.1: an unsupported scheme (Basic) is answered like no credentials (401, no error)', async () => {
    const res = await raw(api.base, '/resource', 'GET', [['Authorization', 'Basic YTpi']]);
    expect(res.status).toBe(401);
    expect(challenges(res).dpop!.params.error).toBeUndefined();
    expect(t.lastReason()).toBe('unsupported_scheme');
  });

  it('RFC 9449 §7.1: DPoP scheme without a DPoP header → 401 invalid_dpop_proof', async () => {
    const res = await call(api.base, '/resource', bound, { key: null });
    expect(res.status).toBe(401);
    const c = challenges(res);
    expect(c.dpop!.params.error).toBe('invalid_dpop_proof');
    expect(c.dpop!.params.algs).toBe(ALL_ALGS);
    expect(c.bearer!.params.error).toBeUndefined(); // §7.2: the error goes in the scheme used
    expect(t.lastReason()).toBe('missing_proof');
  });

  it('Duende CVE-2024-49755 / RFC 9449 §7.1: a valid proof from ANOTHER key → 401 invalid_token (key binding)', async () => {
    const thief = await newKey();
    const res = await call(api.base, '/resource', bound, { key: thief });
    expect(res.status).toBe(401);
    expect(challenges(res).dpop!.params.error).toBe('invalid_token');
    expect(res.json().error).toBe('invalid_token');
    expect(t.lastReason()).toBe('jkt_mismatch');
  });

  it('RFC 9449 §4.3 (12): a proof whose ath hashes another token → 401 invalid_dpop_proof ath_mismatch', async () => {
    const res = await call(api.base, '/resource', bound, { key, athToken: 'some-other-token' });
    expect(res.status).toBe(401);
    expect(challenges(res).dpop!.params.error).toBe('invalid_dpop_proof');
    expect(t.lastReason()).toBe('ath_mismatch');
  });

  it('RFC 9449 §4.3 (8): a proof for another method → htm_mismatch', async () => {
    const proof = await createProof(key, { htm: 'POST', htu: `${api.base}/resource`, accessToken: bound });
    const res = await call(api.base, '/resource', bound, { proof });
    expect(res.status).toBe(401);
    expect(t.lastReason()).toBe('htm_mismatch');
  });

  it('RFC 9449 §4.3 (9): a proof for another endpoint → htu_mismatch, and the log names expected and received URIs', async () => {
    const res = await call(api.base, '/resource', bound, { key, htu: `${api.base}/other` });
    expect(res.status).toBe(401);
    expect(challenges(res).dpop!.params.error).toBe('invalid_dpop_proof');
    const entry = [...t.logs].reverse().find((l) => l.obj.reason === 'htu_mismatch')!;
    expect(entry.obj.detail).toMatchObject({ expected: `${api.base}/resource`, received: `${api.base}/other` });
    // never the token or the proof
    expect(JSON.stringify(t.logs)).not.toContain(bound);
    expect(JSON.stringify(t.logs)).not.toContain(res.proof!);
  });

  it('RFC 9449 §4.3 (9): query and fragment are ignored in htu', async () => {
    const res = await call(api.base, '/resource?x=1', bound, { key, htu: `${api.base}/resource` });
    expect(res.status).toBe(200);
  });

  it('RFC 9449 §11.1: the same proof twice → the second is refused as a replay', async () => {
    const first = await call(api.base, '/resource', bound, { key });
    expect(first.status).toBe(200);
    const second = await call(api.base, '/resource', bound, { proof: first.proof! });
    expect(second.status).toBe(401);
    expect(challenges(second).dpop!.params.error).toBe('invalid_dpop_proof');
    expect(t.lastReason()).toBe('replayed');
  });

  it('RFC 9449 §7.2 (bearer downgrade, giantswarm/mcp-oauth #383): a DPoP-bound token sent as Bearer → 401 invalid_token', async () => {
    const res = await call(api.base, '/resource', bound, { scheme: 'Bearer', key: null });
    expect(res.status).toBe(401);
    const c = challenges(res);
    expect(c.bearer!.params.error).toBe('invalid_token');
    expect(c.dpop!.params.algs).toBe(ALL_ALGS);
    expect(t.lastReason()).toBe('bearer_downgrade');
  });

  it('RFC 9449 §7.2: a proof sent with the Bearer scheme → 400 invalid_request (no downgrade by scheme)', async () => {
    const res = await call(api.base, '/resource', bound, { scheme: 'Bearer', key });
    expect(res.status).toBe(400);
    expect(challenges(res).bearer!.params.error).toBe('invalid_request');
    expect(t.lastReason()).toBe('bearer_with_proof');
  });

  it('RFC 6750 §2.1: an unbound token with the Bearer scheme is accepted when bearer is allowed', async () => {
    const token = await as.mint({});
    const res = await call(api.base, '/resource', token, { scheme: 'Bearer', key: null });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ scheme: 'Bearer', subject: 'alice' });
    expect(res.json().jkt).toBeUndefined();
  });

  it('bearer: allow — an unbound token with the DPoP scheme and a valid proof is accepted as a bearer token', async () => {
    const token = await as.mint({});
    const res = await call(api.base, '/resource', token, { key });
    expect(res.status).toBe(200);
    expect(res.json().scheme).toBe('Bearer');
  });

  it('bearer: allow — an unbound token with the DPoP scheme and a BAD proof is still refused', async () => {
    const token = await as.mint({});
    const res = await call(api.base, '/resource', token, { key, athToken: 'x' });
    expect(res.status).toBe(401);
    expect(t.lastReason()).toBe('ath_mismatch');
  });

  it('RFC 9449 §7.2 / RFC 6750 §3.1: two Authorization headers → 400 invalid_request', async () => {
    const proof = await createProof(key, { htm: 'GET', htu: `${api.base}/resource`, accessToken: bound });
    const res = await raw(api.base, '/resource', 'GET', [['Authorization', `DPoP ${bound}`], ['Authorization', `Bearer ${bound}`], ['DPoP', proof]]);
    expect(res.status).toBe(400);
    expect(challenges(res).dpop!.params.error).toBe('invalid_request');
    expect(t.lastReason()).toBe('multiple_authorization');
  });

  it('RFC 9449 §4.3 (1): two DPoP headers → 400 invalid_request', async () => {
    const p1 = await createProof(key, { htm: 'GET', htu: `${api.base}/resource`, accessToken: bound });
    const p2 = await createProof(key, { htm: 'GET', htu: `${api.base}/resource`, accessToken: bound });
    const res = await raw(api.base, '/resource', 'GET', [['Authorization', `DPoP ${bound}`], ['DPoP', p1], ['DPoP', p2]]);
    expect(res.status).toBe(400);
    expect(challenges(res).dpop!.params.error).toBe('invalid_request');
    expect(t.lastReason()).toBe('multiple_proofs');
  });

  it('RFC 6750 §3.1: a malformed Authorization value (no token) → 400 invalid_request', async () => {
    const res = await raw(api.base, '/resource', 'GET', [['Authorization', 'DPoP']]);
    expect(res.status).toBe(400);
    expect(t.lastReason()).toBe('malformed_authorization');
  });

  it('auth0 node-oauth2-jwt-bearer #254: extra members in cnf are accepted', async () => {
    const token = await as.mint({ cnf: { jkt: key.jkt, 'kc-jkt-type': 'x' } });
    const res = await call(api.base, '/resource', token, { key });
    expect(res.status).toBe(200);
    expect(res.json().jkt).toBe(key.jkt);
  });

  it('RFC 9449 §6 / RFC 8705: cnf without jkt (another binding) is refused, never treated as bearer', async () => {
    const token = await as.mint({ cnf: { 'x5t#S256': 'abc' } });
    const res = await call(api.base, '/resource', token, { scheme: 'Bearer', key: null });
    expect(res.status).toBe(401);
    expect(t.lastReason()).toBe('unsupported_binding');
  });

  it('RFC 9449 §7.1: the scheme name is case-insensitive (RFC 9110 §11.1)', async () => {
    const proof = await createProof(key, { htm: 'GET', htu: `${api.base}/resource`, accessToken: bound });
    const res = await raw(api.base, '/resource', 'GET', [['Authorization', `dpop ${bound}`], ['DPoP', proof]]);
    expect(res.status).toBe(200);
  });

  it('RFC 9068 §4: a token signed by a key the issuer does not publish → 401 invalid_token', async () => {
    const rogue = as.addKey('rogue');
    as.removeKey('rogue');
    const token = await as.mint({ cnf: { jkt: key.jkt } }, { key: rogue });
    const res = await call(api.base, '/resource', token, { key });
    expect(res.status).toBe(401);
    expect(challenges(res).dpop!.params.error).toBe('invalid_token');
    expect(t.lastReason()).toBe('token_unknown_kid');
  });
});

describe.each(ADAPTERS)('options through %s', (_name, start) => {
  it('RFC 6750 §3.1 insufficient_scope: 403 with the needed scope in the challenge', async () => {
    const t = testRs(as);
    const api = await start(t.rs, { scopes: ['admin'] });
    try {
      const key = await newKey();
      const res = await call(api.base, '/resource', await as.mint({ cnf: { jkt: key.jkt } }), { key });
      expect(res.status).toBe(403);
      const dpop = findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!;
      expect(dpop.params).toMatchObject({ error: 'insufficient_scope', scope: 'admin' });
      expect(res.json()).toMatchObject({ error: 'insufficient_scope', scope: 'admin' });
      expect(t.rs.metrics().rejected.insufficient_scope).toBe(1);
    } finally {
      await api.close();
    }
  });

  it('bearer: reject — only a DPoP challenge; Bearer scheme unsupported; unbound token refused even with a proof', async () => {
    const t = testRs(as, { bearer: 'reject', dpop: { algs: ['ES256'] } });
    const api = await start(t.rs);
    try {
      const none = await raw(api.base, '/resource', 'GET', []);
      expect(parseChallenges(none.headers['www-authenticate'] as string)).toEqual([{ scheme: 'DPoP', params: { algs: 'ES256', resource_metadata: 'https://api.example.com/.well-known/oauth-protected-resource' } }]);
      const unbound = await as.mint({});
      const asBearer = await call(api.base, '/resource', unbound, { scheme: 'Bearer', key: null });
      expect(asBearer.status).toBe(401);
      expect(t.lastReason()).toBe('unsupported_scheme');
      const key = await newKey();
      const withProof = await call(api.base, '/resource', unbound, { key });
      expect(withProof.status).toBe(401);
      expect(findChallenge(withProof.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('invalid_token');
      expect(t.lastReason()).toBe('token_not_bound');
    } finally {
      await api.close();
    }
  });

  it('RFC 9449 §4.3 (5) / §7.1 algs: a proof alg outside dpop.algs is refused, and algs lists dpop.algs', async () => {
    const t = testRs(as, { dpop: { algs: ['ES256', 'PS256'] } });
    const api = await start(t.rs);
    try {
      const ed = await generateKeyPair('EdDSA', { extractable: true });
      const { keyThumbprint } = await import('../../src/index.js');
      const token = await as.mint({ cnf: { jkt: await keyThumbprint(ed) } });
      const res = await call(api.base, '/resource', token, { key: ed });
      expect(res.status).toBe(401);
      expect(findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!.params).toMatchObject({ error: 'invalid_dpop_proof', algs: 'ES256 PS256' });
      expect(t.lastReason()).toBe('alg_not_allowed');
    } finally {
      await api.close();
    }
  });
});

describe('dpop.threadpool: where proof signatures are checked', () => {
  it('by default on the threadpool, inline with threadpool: false; the same outcomes either way (accepted, bad_signature)', async () => {
    const { backend } = await import('../../src/core/crypto/node.js');
    const { vi } = await import('vitest');
    const offThread = vi.spyOn(backend, 'verifyCompactOffThread');
    const inline = vi.spyOn(backend, 'verifyCompact');
    try {
      const key = await newKey();
      const token = await as.mint({ cnf: { jkt: key.jkt } });
      for (const [threadpool, expected] of [[undefined, 'offThread'], [false, 'inline']] as const) {
        const t = testRs(as, threadpool === undefined ? {} : { dpop: { threadpool } });
        const api = await startNodeApi(t.rs);
        try {
          offThread.mockClear();
          inline.mockClear();
          expect((await call(api.base, '/resource', token, { key })).status).toBe(200);
          // A proof made with another key for the same token: signature checked, and refused.
          const other = await newKey();
          const forged = await createProof(other, { htm: 'GET', htu: `${api.base}/resource`, accessToken: token });
          const legit = await createProof(key, { htm: 'GET', htu: `${api.base}/resource`, accessToken: token });
          // The bound key's header on the other key's payload and signature.
          const swapped = `${legit.split('.')[0]}.${forged.split('.')[1]}.${forged.split('.')[2]}`;
          const res = await raw(api.base, '/resource', 'GET', [['authorization', `DPoP ${token}`], ['dpop', swapped]]);
          expect(res.status).toBe(401);
          expect(t.lastReason()).toBe('bad_signature');
          // Two proofs; the access token's own signature is checked inline, once (then cached).
          expect({ threadpool, offThread: offThread.mock.calls.length, inline: inline.mock.calls.length })
            .toEqual({ threadpool, offThread: expected === 'offThread' ? 2 : 0, inline: expected === 'inline' ? 3 : 1 });
        } finally {
          await api.close();
        }
      }
      expect(() => testRs(as, { dpop: { threadpool: 1 as unknown as boolean } })).toThrow(/dpop\.threadpool must be a boolean/);
    } finally {
      offThread.mockRestore();
      inline.mockRestore();
    }
  });
});
