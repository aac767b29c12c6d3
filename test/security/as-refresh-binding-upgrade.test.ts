/**
 * Attack: a public client exchanges its code without a proof (a Bearer token and an unbound
 * refresh token), then refreshes with its key A and gets a DPoP-bound access token, but the new
 * refresh token stays unbound; a thief who steals it refreshes with key B and gets a token
 * bound to B.
 *
 * Defence (RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key): once a
 * family issues a DPoP-bound token it is bound to that key, in the storage, in the same
 * transaction as the rotation. Every later refresh must prove that key: `invalid_grant` with
 * reason `jkt_mismatch` (another key) or `missing_proof` (no proof), and the presented refresh
 * token is not burned: its holder goes on with it. A retired token that was issued before the
 * binding still sets off reuse detection (RFC 9700 §4.14.2), so a thief who binds the family
 * first loses it at the holder's next refresh.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, decodeJwt, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from '../authorization-server/support/harness.js';

describe.each(STORAGES)('refresh-token binding upgrade on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let token: string;
  let keyA: DPoPKey;
  let keyB: DPoPKey;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage);
    token = `${server.url}/token`;
    keyA = await dpopKey();
    keyB = await dpopKey();
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  /** The public client signs in and exchanges its code WITHOUT a proof: Bearer, unbound refresh token. */
  async function bearerExchange(): Promise<string> {
    const p = pkce();
    const back = await signIn(server.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read', code_challenge: p.challenge, code_challenge_method: 'S256' });
    const res = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: 'spa' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.token_type).toBe('Bearer');
    return body.refresh_token;
  }

  const refresh = async (refreshToken: string, key?: DPoPKey) =>
    postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'spa' }, key ? { dpop: await key.proof(token) } : {});

  it('RFC 9449 §5: after the first DPoP refresh the family is bound to key A; a thief with key B or no proof gets invalid_grant and the token stays usable', async () => {
    const r1 = await bearerExchange();
    const upgraded = await refresh(r1, keyA);
    expect(upgraded.status).toBe(200);
    const { refresh_token: r2, access_token: a2, token_type } = await upgraded.json();
    expect(token_type).toBe('DPoP');
    expect(decodeJwt(a2).payload.cnf).toEqual({ jkt: keyA.jkt });

    // The new refresh token is bound: introspection reports its key.
    const intro = await postForm(`${server.url}/introspect`, { token: r2, token_type_hint: 'refresh_token' }, { auth: basic('confidential', SECRET) });
    expect(await intro.json()).toMatchObject({ active: true, client_id: 'spa', cnf: { jkt: keyA.jkt } });

    const thief = await refresh(r2, keyB);
    expect(thief.status).toBe(400);
    const thiefBody = await thief.json();
    expect(thiefBody.error).toBe('invalid_grant');
    expect(thiefBody.error_description).toMatch(/^jkt_mismatch:/);
    expect(thiefBody.access_token).toBeUndefined();

    const bare = await refresh(r2);
    expect(bare.status).toBe(400);
    expect(await bare.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^missing_proof:/) });

    // Not burned, family not revoked: the holder of key A refreshes with the same token.
    const legit = await refresh(r2, keyA);
    expect(legit.status).toBe(200);
    const next = await legit.json();
    expect(decodeJwt(next.access_token).payload.cnf).toEqual({ jkt: keyA.jkt });
    expect(typeof next.refresh_token).toBe('string');
    // ... and the binding carries on to the successor.
    const thiefAgain = await refresh(next.refresh_token, keyB);
    expect(await thiefAgain.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^jkt_mismatch:/) });
    expect((await refresh(next.refresh_token, keyA)).status).toBe(200);
  });

  it('a retired token issued while bound, replayed with another key, revokes nothing (its presenter is not its holder)', async () => {
    const r1 = await bearerExchange();
    const { refresh_token: r2 } = await (await refresh(r1, keyA)).json();
    const { refresh_token: r3 } = await (await refresh(r2, keyA)).json();
    const replay = await refresh(r2, keyB); // r2 is retired, and was issued bound to A
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^jkt_mismatch:/) });
    expect((await refresh(r3, keyA)).status).toBe(200);
  });

  it('RFC 9700 §4.14.2: a thief who refreshes the unbound token first binds the family to its key, but the holder\'s next refresh (reuse) revokes it', async () => {
    const r1 = await bearerExchange();
    const stolen = await refresh(r1, keyB);
    expect(stolen.status).toBe(200);
    const { refresh_token: thiefR2 } = await stolen.json();
    const holder = await refresh(r1, keyA);
    expect(await holder.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/^refresh_token_reused:/) });
    const thiefNext = await refresh(thiefR2, keyB);
    expect(await thiefNext.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a refresh without a proof keeps the family unbound (Bearer); a confidential client\'s family is never bound (RFC 9449 §5)', async () => {
    const r1 = await bearerExchange();
    const bearer = await refresh(r1);
    expect(bearer.status).toBe(200);
    const { refresh_token: r2, token_type } = await bearer.json();
    expect(token_type).toBe('Bearer');
    expect((await refresh(r2, keyB)).status).toBe(200); // first DPoP refresh: binds to B now

    const p = pkce();
    const back = await signIn(server.url, { response_type: 'code', client_id: 'confidential', redirect_uri: REDIRECT, scope: 'read', code_challenge: p.challenge, code_challenge_method: 'S256' });
    const exchanged = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier }, { auth: basic('confidential', SECRET) });
    const { refresh_token: c1 } = await exchanged.json();
    const withA = await postForm(token, { grant_type: 'refresh_token', refresh_token: c1 }, { auth: basic('confidential', SECRET), dpop: await keyA.proof(token) });
    const { refresh_token: c2 } = await withA.json();
    const withB = await postForm(token, { grant_type: 'refresh_token', refresh_token: c2 }, { auth: basic('confidential', SECRET), dpop: await keyB.proof(token) });
    expect(withB.status).toBe(200);
    expect(decodeJwt((await withB.json()).access_token).payload.cnf).toEqual({ jkt: keyB.jkt });
  });

  it('concurrency: the holder (key A) and a thief (key B) refresh the unbound token at once: exactly one wins, and the family ends revoked', async () => {
    const r1 = await bearerExchange();
    const [a, b] = await Promise.all([refresh(r1, keyA), refresh(r1, keyB)]);
    const bodies = [await a.json(), await b.json()];
    expect(bodies.filter((x) => x.access_token)).toHaveLength(1);
    const winner = bodies.find((x) => x.access_token)!;
    const winnerKey = winner === bodies[0] ? keyA : keyB;
    expect(await (await refresh(winner.refresh_token, winnerKey)).json()).toMatchObject({ error: 'invalid_grant' });
  });
});
