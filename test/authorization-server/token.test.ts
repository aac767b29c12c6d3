/**
 * The token endpoint over real HTTP on PGlite and PostgreSQL: client_credentials with every
 * client authentication method, DPoP binding (RFC 9449 §5, §6), nonces (§8) and errors
 * (RFC 6749 §5.2).
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '../../src/authorization-server/storage.js';
import { basic, decodeJwt, dpopKey, ODD_SECRET, postForm, SECRET, startServer, STORAGES, type DPoPKey, type Running } from './support/harness.js';

const jwtClient = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe.each(STORAGES)('token endpoint on $name', (factory) => {
  let server: Running;
  let nonceServer: Running;
  let storage: Storage;
  let storage2: Storage;
  let cleanups: (() => Promise<void>)[] = [];
  let key: DPoPKey;
  let token: string;

  beforeAll(async () => {
    const a = await factory.open();
    const b = await factory.open();
    storage = a.storage;
    storage2 = b.storage;
    cleanups = [a.cleanup, b.cleanup];
    const jwk = { ...(await exportJWK(jwtClient.publicKey)), kid: 'k1', alg: 'ES256' };
    const { defaultClients } = await import('./support/harness.js');
    server = await startServer(storage, {
      clients: [...defaultClients(), { clientId: 'jwt-client', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] }, grantTypes: ['client_credentials'], scope: 'read' }],
    });
    nonceServer = await startServer(storage2, { dpop: { nonce: { secret: 'x'.repeat(32) } } });
    key = await dpopKey();
    token = `${server.url}/token`;
  });
  afterAll(async () => {
    await server?.close();
    await nonceServer?.close();
    for (const c of cleanups) await c();
  });

  const cc = (extra: Record<string, string> = {}) => ({ grant_type: 'client_credentials', ...extra });

  it('RFC 9449 §5, §6.1: a valid proof gets a JWT access token (RFC 9068 typ at+jwt) with cnf.jkt and token_type DPoP', async () => {
    const res = await postForm(token, cc({ scope: 'read' }), { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toMatchObject({ token_type: 'DPoP', expires_in: 600, scope: 'read' });
    expect(body.refresh_token).toBeUndefined(); // RFC 6749 §4.4.3
    const { header, payload } = decodeJwt(body.access_token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(typeof header.kid).toBe('string');
    expect(payload).toMatchObject({ iss: server.url, sub: 'confidential', aud: server.url, client_id: 'confidential', scope: 'read', cnf: { jkt: key.jkt } });
    expect(payload.exp).toBe((payload.iat as number) + 600);
    expect(typeof payload.jti).toBe('string');
  });

  it('dpop.threadpool (default on): the proof is checked and the token signed on the threadpool; off, both inline; the same answer', async () => {
    const { backend } = await import('../../src/core/crypto/node.js');
    const { vi } = await import('vitest');
    const spies = { verifyOff: vi.spyOn(backend, 'verifyCompactOffThread'), verify: vi.spyOn(backend, 'verifyCompact'), signOff: vi.spyOn(backend, 'signOffThread'), sign: vi.spyOn(backend, 'sign') };
    const calls = () => Object.fromEntries(Object.entries(spies).map(([name, spy]) => [name, spy.mock.calls.length]));
    const { storage, cleanup } = await factory.open();
    const inline = await startServer(storage, { dpop: { threadpool: false } });
    try {
      for (const [s, expected] of [[server, { verifyOff: 1, verify: 0, signOff: 1, sign: 0 }], [inline, { verifyOff: 0, verify: 1, signOff: 0, sign: 1 }]] as const) {
        const url = `${s.url}/token`;
        const proof = await key.proof(url); // (signed by the client before counting)
        for (const spy of Object.values(spies)) spy.mockClear();
        const res = await postForm(url, cc({ scope: 'read' }), { auth: basic('confidential', SECRET), dpop: proof });
        expect(res.status).toBe(200);
        expect(decodeJwt((await res.json()).access_token).payload).toMatchObject({ cnf: { jkt: key.jkt } });
        expect(calls()).toEqual(expected);
      }
    } finally {
      for (const spy of Object.values(spies)) spy.mockRestore();
      await inline.close();
      await cleanup();
    }
  });

  it('RFC 9449 §5: without a proof a client gets a Bearer token (no cnf)', async () => {
    const res = await postForm(token, cc(), { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.token_type).toBe('Bearer');
    expect(decodeJwt(body.access_token).payload.cnf).toBeUndefined();
  });

  it('RFC 9449 §5.2 dpop_bound_access_tokens: such a client without a proof gets invalid_dpop_proof', async () => {
    const res = await postForm(token, cc(), { auth: basic('strict', SECRET) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toBe('invalid_dpop_proof');
    expect(body.error_description).toMatch(/^missing_proof/);
    const ok = await postForm(token, cc(), { auth: basic('strict', SECRET), dpop: await key.proof(token) });
    expect(ok.status).toBe(200);
    expect((await ok.json()).token_type).toBe('DPoP');
  });

  it('RFC 9449 §4.3 (9), §5: a proof for another URL is invalid_dpop_proof 400 with the reason', async () => {
    const res = await postForm(token, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(`${server.url}/other`) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toBe('invalid_dpop_proof');
    expect(body.error_description).toMatch(/^htu_mismatch/);
  });

  it('RFC 9449 §4.3 (8): a proof for GET is refused at the POST token endpoint (htm_mismatch)', async () => {
    const res = await postForm(token, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(token, { htm: 'GET' }) });
    expect((await res.json()).error_description).toMatch(/^htm_mismatch/);
  });

  it('RFC 9449 §11.1: a replayed proof is refused (replayed)', async () => {
    const proof = await key.proof(token);
    expect((await postForm(token, cc(), { auth: basic('confidential', SECRET), dpop: proof })).status).toBe(200);
    const res = await postForm(token, cc(), { auth: basic('confidential', SECRET), dpop: proof });
    expect(res.status).toBe(400);
    expect((await res.json()).error_description).toMatch(/^replayed/);
  });

  it('RFC 9449 §4.3 (1): two DPoP headers are refused (multiple_proofs)', async () => {
    const res = await postForm(token, cc(), { auth: basic('confidential', SECRET), dpop: `${await key.proof(token)}, ${await key.proof(token)}` });
    expect(res.status).toBe(400);
    expect((await res.json()).error_description).toMatch(/^multiple_proofs/);
  });

  it('RFC 9449 §4.3 (11): a stale iat is refused (iat_out_of_window)', async () => {
    const res = await postForm(token, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(token, { iat: Math.floor(Date.now() / 1000) - 3600 }) });
    expect((await res.json()).error_description).toMatch(/^iat_out_of_window/);
  });

  it('RFC 9449 §5.1: a proof algorithm outside dpop.algs is refused (alg_not_allowed)', async () => {
    const ed = await dpopKey('EdDSA');
    const s = await startServer(storage, { dpop: { algs: ['ES256'] } });
    try {
      const t = `${s.url}/token`;
      const res = await postForm(t, cc(), { auth: basic('confidential', SECRET), dpop: await ed.proof(t) });
      expect((await res.json()).error_description).toMatch(/^alg_not_allowed/);
    } finally {
      await s.close();
    }
  });

  it('RFC 6749 §2.3.1 client_secret_post', async () => {
    const res = await postForm(token, cc({ client_id: 'poster', client_secret: SECRET }), { dpop: await key.proof(token) });
    expect(res.status).toBe(200);
    expect(decodeJwt((await res.json()).access_token).payload.client_id).toBe('poster');
  });

  it('RFC 6749 §2.3.1: client_id and secret are form-urlencoded inside Basic (":" "+" "%" space, UTF-8)', async () => {
    const form = (v: string) => new URLSearchParams({ v }).toString().slice(2); // space → "+"
    const header = `Basic ${Buffer.from(`${form('odd id:1')}:${form(ODD_SECRET)}`).toString('base64')}`;
    const res = await postForm(token, cc(), { auth: header });
    expect(res.status).toBe(200);
    expect(decodeJwt((await res.json()).access_token).payload.client_id).toBe('odd id:1');
    // Percent-encoded space works as well; the raw (unencoded) secret does not decode to the same value.
    expect((await postForm(token, cc(), { auth: basic('odd id:1', ODD_SECRET) })).status).toBe(200);
    const raw = await postForm(token, cc(), { auth: `Basic ${Buffer.from(`odd%20id%3A1:${ODD_SECRET}`).toString('base64')}` });
    expect(raw.status).toBe(401);
  });

  it('RFC 6749 §5.2 invalid_client with Basic: 401 and WWW-Authenticate: Basic', async () => {
    const res = await postForm(token, cc(), { auth: basic('confidential', 'wrong') });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Basic realm="${server.url}"`);
    expect((await res.json()).error).toBe('invalid_client');
  });

  it('RFC 6749 §5.2 invalid_client: unknown client, wrong method, wrong post secret', async () => {
    for (const [body, auth] of [
      [cc({ client_id: 'nobody', client_secret: 'x' }), undefined],
      [cc({ client_id: 'confidential', client_secret: SECRET }), undefined], // registered for basic
      [cc({ client_id: 'poster', client_secret: 'wrong' }), undefined],
      [cc(), undefined],
      [cc(), 'Basic !!!notbase64'],
    ] as const) {
      const res = await postForm(token, body, auth ? { auth } : {});
      expect(res.status).toBe(401);
      expect((await res.json()).error).toBe('invalid_client');
    }
  });

  it('RFC 6749 §2.3: two authentication methods in one request are invalid_request', async () => {
    const res = await postForm(token, cc({ client_secret: SECRET }), { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('invalid_request');
  });

  it('RFC 7523 private_key_jwt: a signed assertion authenticates; its jti is single-use; aud and exp are checked', async () => {
    const assertion = (aud: string = server.url, exp: string | number = '2m') => new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('jwt-client').setSubject('jwt-client')
      .setAudience(aud).setIssuedAt().setExpirationTime(exp).sign(jwtClient.privateKey);
    const type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
    const a = await assertion();
    const ok = await postForm(token, cc({ client_assertion_type: type, client_assertion: a }), { dpop: await key.proof(token) });
    expect(ok.status).toBe(200);
    expect(decodeJwt((await ok.json()).access_token).payload.sub).toBe('jwt-client');
    const replay = await postForm(token, cc({ client_assertion_type: type, client_assertion: a }));
    expect(replay.status).toBe(401);
    expect((await replay.json()).error_description).toMatch(/used before/);
    const wrongAud = await postForm(token, cc({ client_assertion_type: type, client_assertion: await assertion('https://elsewhere') }));
    expect(wrongAud.status).toBe(401);
    const expired = await postForm(token, cc({ client_assertion_type: type, client_assertion: await assertion(server.url, Math.floor(Date.now() / 1000) - 60) }));
    expect(expired.status).toBe(401);
    const tokenAud = await new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('jwt-client').setSubject('jwt-client')
      .setAudience(token).setIssuedAt().setExpirationTime('1m').sign(jwtClient.privateKey);
    expect((await postForm(token, cc({ client_assertion_type: type, client_assertion: tokenAud }))).status).toBe(200);
    const badType = await postForm(token, cc({ client_assertion_type: 'urn:other', client_assertion: await assertion() }));
    expect(badType.status).toBe(400);
  });

  it('RFC 6749 §5.2 unsupported_grant_type, unauthorized_client, invalid_scope, invalid_request', async () => {
    const res1 = await postForm(token, { grant_type: 'password' }, { auth: basic('confidential', SECRET) });
    expect([res1.status, (await res1.json()).error]).toEqual([400, 'unsupported_grant_type']);
    const res2 = await postForm(token, { grant_type: 'refresh_token', refresh_token: 'x' }, { auth: basic('poster', SECRET) });
    expect((await res2.json()).error).toBe('invalid_client'); // poster is client_secret_post
    const res3 = await postForm(token, { grant_type: 'authorization_code', code: 'x', client_id: 'poster', client_secret: SECRET });
    expect([res3.status, (await res3.json()).error]).toEqual([400, 'unauthorized_client']);
    const res4 = await postForm(token, cc({ scope: 'admin' }), { auth: basic('confidential', SECRET) });
    expect([res4.status, (await res4.json()).error]).toEqual([400, 'invalid_scope']);
    const res5 = await postForm(token, {}, { auth: basic('confidential', SECRET) });
    const b5 = await res5.json();
    expect([res5.status, b5.error]).toEqual([400, 'invalid_request']);
    expect(b5.error_description).toMatch(/grant_type/);
  });

  it('RFC 6749 §3.1: a repeated parameter is invalid_request', async () => {
    const res = await postForm(token, 'grant_type=client_credentials&scope=read&scope=write', { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(/more than once/);
  });

  it('RFC 6749 §3.2: wrong content type, JSON body, huge body, GET and bad percent-encoding get specific errors, never 500', async () => {
    const json = await fetch(token, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('confidential', SECRET) }, body: '{"grant_type":' });
    expect([json.status, (await json.json()).error]).toEqual([400, 'invalid_request']);
    const none = await fetch(token, { method: 'POST', body: 'grant_type=client_credentials' });
    expect(none.status).toBe(400);
    const huge = await postForm(token, `grant_type=client_credentials&x=${'a'.repeat(200_000)}`, { auth: basic('confidential', SECRET) });
    expect([huge.status, (await huge.json()).error]).toEqual([413, 'invalid_request']);
    // A chunked body (no Content-Length) over the cap gets its 413 answer, not a reset connection.
    const chunk = new TextEncoder().encode(`x=${'a'.repeat(16 * 1024)}`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const chunked = await fetch(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: stream, duplex: 'half' } as RequestInit);
    expect([chunked.status, (await chunked.json()).error]).toEqual([413, 'invalid_request']);
    const get = await fetch(token);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const pct = await postForm(token, 'grant_type=client_credentials&scope=%E0%A4%A', { auth: basic('confidential', SECRET) });
    expect(pct.status).toBeLessThan(500);
    const binary = await fetch(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new Uint8Array([0xff, 0xfe, 0x00]) });
    expect([binary.status, (await binary.json()).error]).toEqual([400, 'invalid_request']);
    const notFound = await fetch(`${server.url}/nope`);
    expect(notFound.status).toBe(404);
  });

  describe('RFC 9449 §8 nonces (nonce: required)', () => {
    it('the first request without a nonce gets 400 use_dpop_nonce with DPoP-Nonce; the retry succeeds and carries the next nonce', async () => {
      const t = `${nonceServer.url}/token`;
      const first = await postForm(t, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(t) });
      expect(first.status).toBe(400);
      expect((await first.json()).error).toBe('use_dpop_nonce');
      const nonce = first.headers.get('dpop-nonce');
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const second = await postForm(t, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(t, { nonce: nonce! }) });
      expect(second.status).toBe(200);
      expect(second.headers.get('dpop-nonce')).toBe(nonce);
      expect((await second.json()).token_type).toBe('DPoP');
    });

    it('draft-dpop #91: an unknown nonce is use_dpop_nonce (not invalid_dpop_proof); every error carries DPoP-Nonce', async () => {
      const t = `${nonceServer.url}/token`;
      const res = await postForm(t, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(t, { nonce: 'made-up' }) });
      expect((await res.json()).error).toBe('use_dpop_nonce');
      expect(res.headers.get('dpop-nonce')).toBeTruthy();
      const bad = await postForm(t, { grant_type: 'nope' }, { auth: basic('confidential', SECRET) });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('dpop-nonce')).toBeTruthy();
    });

    it('a private_key_jwt assertion is not spent by a nonce challenge (the proof is checked first)', async () => {
      // The same basic-auth request retried after the challenge succeeds: nothing was consumed.
      const t = `${nonceServer.url}/token`;
      const first = await postForm(t, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(t) });
      const nonce = first.headers.get('dpop-nonce')!;
      expect((await postForm(t, cc(), { auth: basic('confidential', SECRET), dpop: await key.proof(t, { nonce }) })).status).toBe(200);
    });
  });
});
