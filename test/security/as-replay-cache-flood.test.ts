/**
 * Attack: the authorization server spent a proof's `jti` before it authenticated the client.
 * 250 token and PAR requests with fresh, valid proofs and no usable client authentication
 * filled its replay cache (which never evicts a live entry), and every legitimate client then
 * got 503 `replay_cache_full`.
 *
 * Defence (RFC 9449 §11.1, DESIGN "the AS spends a proof's jti only for a client it has
 * authenticated"): the proof is checked without spending its `jti`; the client is
 * authenticated; a request that cannot succeed (unsupported grant, missing parameters, unknown
 * client, grant not allowed, unknown code or refresh token) is refused; only then is the `jti`
 * spent, and it counts against a quota of its holder (`dpop.replayQuota`: per confidential
 * client, per key of a public client), so one authenticated client cannot fill the cache
 * either: past its quota it alone gets 429 with `Retry-After` and reason
 * `replay_quota_exceeded`, and everybody else goes on. A public client's proof at PAR is never
 * spent (its client is not authenticated; the proof only names the key to bind the code to).
 */
import * as crypto from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryReplayCache, type MemoryReplayCache } from '../../src/stores/memory.js';
import { basic, decodeJwt, defaultClients, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from '../authorization-server/support/harness.js';

const cc = { grant_type: 'client_credentials' };

describe.each(STORAGES)('replay cache flood on $name', (factory) => {
  const cleanups: Array<() => Promise<void>> = [];
  /** Seconds added to the real clock (proofs are made with the real clock). */
  let skew = 0;

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A server on a storage of its own (so failed-attempt counters of one test never meet another's). */
  async function server(cache: MemoryReplayCache, dpop: Record<string, unknown> = {}, clients?: unknown[]): Promise<Running> {
    const opened = await factory.open();
    cleanups.push(opened.cleanup);
    const s = await startServer(opened.storage, { replayCache: cache, dpop, clock: () => Date.now() / 1000 + skew, ...(clients ? { clients } : {}) });
    cleanups.push(() => s.close());
    return s;
  }

  it('250 requests that cannot succeed spend nothing; a legitimate client is then served (not 503)', async () => {
    const cache = createMemoryReplayCache({ maxEntries: 200 });
    const s = await server(cache);
    const token = `${s.url}/token`;
    const par = `${s.url}/par`;
    const attacker = await dpopKey();
    const p = pkce();
    // Every kind of request that is refused before anything is issued, each with a fresh, valid proof.
    const floods: Array<[Record<string, string>, string, number, string]> = [
      [cc, token, 401, 'invalid_client'], // no client authentication at all
      [{ ...cc, client_id: 'nobody' }, token, 401, 'invalid_client'], // unknown client
      [{ ...cc, client_id: 'spa' }, token, 400, 'unauthorized_client'], // grant not allowed for the client
      [{ grant_type: 'password', client_id: 'spa' }, token, 400, 'unsupported_grant_type'],
      [{ grant_type: 'authorization_code', client_id: 'spa', code: 'guess', redirect_uri: REDIRECT, code_verifier: p.verifier }, token, 400, 'invalid_grant'],
      [{ grant_type: 'authorization_code', client_id: 'spa', redirect_uri: REDIRECT }, token, 400, 'invalid_request'], // missing code
      [{ grant_type: 'refresh_token', client_id: 'spa', refresh_token: 'guess' }, token, 400, 'invalid_grant'],
      [{ response_type: 'code', client_id: 'nobody', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' }, par, 401, 'invalid_client'],
      [{ response_type: 'code', client_id: 'spa', redirect_uri: 'https://evil.example/', code_challenge: p.challenge, code_challenge_method: 'S256' }, par, 400, 'invalid_request'],
      // A valid PAR request of the public client: accepted (201), but its proof is not spent.
      [{ response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' }, par, 201, ''],
    ];
    for (let i = 0; i < 250; i++) {
      const [form, url, status, error] = floods[i % floods.length]!;
      const res = await postForm(url, form, { dpop: await attacker.proof(url) });
      const body = await res.json();
      expect([res.status, body.error ?? '']).toEqual([status, error]);
    }
    expect(cache.size).toBe(0);

    const legit = await dpopKey();
    const ok = await postForm(token, cc, { auth: basic('confidential', SECRET), dpop: await legit.proof(token) });
    expect(ok.status).toBe(200);
    expect(decodeJwt((await ok.json()).access_token).payload.cnf).toEqual({ jkt: legit.jkt });
    expect(cache.size).toBe(1);
  });

  it('the jti is still spent once the request succeeds: a replayed proof is refused (replayed), and the replay does not count twice', async () => {
    const cache = createMemoryReplayCache();
    const s = await server(cache);
    const token = `${s.url}/token`;
    const key = await dpopKey();
    const proof = await key.proof(token);
    expect((await postForm(token, cc, { auth: basic('confidential', SECRET), dpop: proof })).status).toBe(200);
    const replay = await postForm(token, cc, { auth: basic('confidential', SECRET), dpop: proof });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(/^replayed:/) });
    expect(cache.size).toBe(1);
  });

  it('a nonce challenge spends nothing (the proof is checked, then answered use_dpop_nonce)', async () => {
    const cache = createMemoryReplayCache();
    const s = await server(cache, { nonce: { secret: 'n'.repeat(32) } });
    const token = `${s.url}/token`;
    const key = await dpopKey();
    for (let i = 0; i < 20; i++) {
      const res = await postForm(token, cc, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
      expect((await res.json()).error).toBe('use_dpop_nonce');
    }
    expect(cache.size).toBe(0);
  });

  it('per-client quota: an authenticated client over dpop.replayQuota.perClient gets 429 replay_quota_exceeded with Retry-After; other clients are served; it recovers when its proofs expire', async () => {
    const cache = createMemoryReplayCache();
    const s = await server(cache, { replayQuota: { perClient: 5 } });
    const token = `${s.url}/token`;
    const key = await dpopKey();
    const poster = async () => postForm(token, { ...cc, client_id: 'poster', client_secret: SECRET }, { dpop: await key.proof(token) });
    for (let i = 0; i < 5; i++) expect((await poster()).status).toBe(200);
    const over = await poster();
    expect(over.status).toBe(429);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(302);
    const body = await over.json();
    expect(body.error).toBe('temporarily_unavailable'); // as the throttle answers 429
    expect(body.error_description).toMatch(/^replay_quota_exceeded:/);
    expect(cache.size).toBe(5); // the refused proof was not spent

    // Others are not locked out: another client, even with the same key.
    const other = await postForm(token, cc, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
    expect(other.status).toBe(200);

    // Once its proofs can no longer pass (maxAge 300 s), the client is served again.
    skew = 302;
    try {
      const fresh = await dpopKey();
      const again = await postForm(token, { ...cc, client_id: 'poster', client_secret: SECRET }, { dpop: await fresh.proof(token, { iat: Math.floor(Date.now() / 1000) + 302 }) });
      expect(again.status).toBe(200);
    } finally {
      skew = 0;
    }
  });

  it('per-key quota for a public client: one key over dpop.replayQuota.perKey is refused without burning its refresh token; other users of the same client_id are served', async () => {
    const cache = createMemoryReplayCache();
    const s = await server(cache, { replayQuota: { perKey: 2 } });
    const token = `${s.url}/token`;
    const tokensFor = async (key: DPoPKey) => {
      const p = pkce();
      const back = await signIn(s.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read', code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
      const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' }, { dpop: await key.proof(token) });
      expect(res.status).toBe(200);
      return res.json();
    };
    const greedy = await dpopKey();
    const { refresh_token: r1 } = await tokensFor(greedy); // 1 proof of this key on record
    const second = await postForm(token, { grant_type: 'refresh_token', refresh_token: r1, client_id: 'spa' }, { dpop: await greedy.proof(token) });
    expect(second.status).toBe(200); // 2
    const { refresh_token: r2 } = await second.json();
    const third = await postForm(token, { grant_type: 'refresh_token', refresh_token: r2, client_id: 'spa' }, { dpop: await greedy.proof(token) });
    expect(third.status).toBe(429);
    expect((await third.json()).error_description).toMatch(/^replay_quota_exceeded:/);

    // Another user of the same public client, with its own key, is served.
    const other = await dpopKey();
    const { refresh_token: o1 } = await tokensFor(other);
    expect((await postForm(token, { grant_type: 'refresh_token', refresh_token: o1, client_id: 'spa' }, { dpop: await other.proof(token) })).status).toBe(200);

    // The refused refresh token was not burned: after the window it still works.
    skew = 302;
    try {
      const later = await postForm(token, { grant_type: 'refresh_token', refresh_token: r2, client_id: 'spa' }, { dpop: await greedy.proof(token, { iat: Math.floor(Date.now() / 1000) + 302 }) });
      expect(later.status).toBe(200);
    } finally {
      skew = 0;
    }
  });

  it('a confidential client\'s PAR proof is spent after authentication; a failed authentication spends nothing', async () => {
    const cache = createMemoryReplayCache();
    const s = await server(cache);
    const par = `${s.url}/par`;
    const key = await dpopKey();
    const p = pkce();
    const form = { response_type: 'code', client_id: 'confidential', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' };
    const wrong = await postForm(par, form, { auth: basic('confidential', 'wrong-secret'), dpop: await key.proof(par) });
    expect(wrong.status).toBe(401);
    expect(cache.size).toBe(0);
    const proof = await key.proof(par);
    expect((await postForm(par, form, { auth: basic('confidential', SECRET), dpop: proof })).status).toBe(201);
    expect(cache.size).toBe(1);
    const replay = await postForm(par, form, { auth: basic('confidential', SECRET), dpop: proof });
    expect(await replay.json()).toMatchObject({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(/^replayed:/) });
  });

  it('RFC 7523 §3: a private_key_jwt client\'s assertion jtis count against its quota (they live until the assertion expires, up to an hour); a replayed assertion is refused and not counted; it recovers when they expire', async () => {
    const cache = createMemoryReplayCache();
    const signer = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(signer.publicKey)), kid: 'k1', alg: 'ES256' };
    const s = await server(cache, { replayQuota: { perClient: 3 } }, [...defaultClients(), { clientId: 'jwt-client', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] }, grantTypes: ['client_credentials'], scope: 'read' }]);
    const token = `${s.url}/token`;
    const type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
    const assertion = (offset = 0) => {
      const now = Math.floor(Date.now() / 1000) + offset;
      return new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('jwt-client').setSubject('jwt-client')
        .setAudience(s.url).setIssuedAt(now).setExpirationTime(now + 600).sign(signer.privateKey);
    };
    const send = (a: string) => postForm(token, { ...cc, client_assertion_type: type, client_assertion: a });
    const first = await assertion();
    expect((await send(first)).status).toBe(200);
    const replay = await send(first);
    expect([replay.status, (await replay.json()).error_description]).toEqual([401, expect.stringMatching(/used before/)]);
    // The replay was not counted: two more fit under the quota of 3.
    for (let i = 0; i < 2; i++) expect((await send(await assertion())).status).toBe(200);
    expect(cache.size).toBe(3);

    const over = await send(await assertion());
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/^replay_quota_exceeded: this client has 3 live entries/) });
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(590);
    expect(retryAfter).toBeLessThanOrEqual(606);
    expect(cache.size).toBe(3); // nothing recorded for the refused request

    // Another client is served; this one is again once its assertions have expired.
    expect((await postForm(token, cc, { auth: basic('confidential', SECRET) })).status).toBe(200);
    skew = 610;
    try {
      expect((await send(await assertion(610))).status).toBe(200);
    } finally {
      skew = 0;
    }
  });
});
