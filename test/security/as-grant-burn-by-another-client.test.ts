/**
 * Attack: another client uses up, or revokes, someone else's grant. The token endpoint consumed
 * an authorization code before it compared the client (and the redirect URI, PKCE verifier and
 * key): a client that got hold of another client's code, or the code's own client_id with a
 * wrong verifier, was refused, but the code was gone, and its owner's redemption then counted as
 * reuse and revoked the grant. A used code presented by another client revoked the owner's
 * tokens outright.
 *
 * Defence (RFC 6749 §4.1.3: the code is for the client it was issued to; §4.1.2 / RFC 9700
 * §4.14: reuse revokes): the code is looked up without being used, and client, redirect URI,
 * PKCE verifier and `dpop_jkt` key are checked first; only a request that could redeem the code
 * uses it up (the storage consumes it only for its client) or sets off reuse revocation.
 * Refusals are `invalid_grant` with a reason (`client_mismatch`, `pkce_mismatch`, …). The same
 * holds for refresh tokens: presented by another client, refused (`client_mismatch`), not
 * rotated, family not revoked; at `/revoke`, `unauthorized_client` and nothing revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dpopKey, pkce, postForm, REDIRECT, SECRET, signIn, startServer, STORAGES, type DPoPKey, type Running } from '../authorization-server/support/harness.js';

describe.each(STORAGES)('grants used up by another client on $name', (factory) => {
  let server: Running;
  let cleanup: () => Promise<void>;
  let token: string;
  let key: DPoPKey;

  beforeAll(async () => {
    const opened = await factory.open();
    cleanup = opened.cleanup;
    server = await startServer(opened.storage);
    token = `${server.url}/token`;
    key = await dpopKey();
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  /** A code for the public client "spa", bound to `key`. */
  async function spaCode() {
    const p = pkce();
    const back = await signIn(server.url, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read', code_challenge: p.challenge, code_challenge_method: 'S256', dpop_jkt: key.jkt });
    return { code: back.get('code')!, verifier: p.verifier };
  }
  /** `k: null` sends no proof. */
  const redeem = async (code: string, verifier: string, as: 'spa' | 'confidential' = 'spa', k: DPoPKey | null = key) =>
    postForm(token, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, ...(as === 'spa' ? { client_id: 'spa' } : {}) }, {
      ...(as === 'confidential' ? { auth: basic('confidential', SECRET) } : {}),
      ...(k ? { dpop: await k.proof(token) } : {}),
    });
  const failure = async (res: Response) => {
    const body = await res.json();
    return [res.status, body.error, /^([a-z_]+):/.exec(body.error_description ?? '')?.[1]];
  };

  it('RFC 6749 §4.1.3: another (authenticated) client presenting the code is refused (client_mismatch) and the code still works for its client', async () => {
    const { code, verifier } = await spaCode();
    expect(await failure(await redeem(code, verifier, 'confidential'))).toEqual([400, 'invalid_grant', 'client_mismatch']);
    const ok = await redeem(code, verifier);
    expect(ok.status).toBe(200);
    expect((await ok.json()).token_type).toBe('DPoP');
  });

  it('the code\'s own client_id without the PKCE verifier, with another redirect_uri or another key, cannot use it up', async () => {
    const { code, verifier } = await spaCode();
    const other = await dpopKey();
    expect(await failure(await redeem(code, 'A'.repeat(43)))).toEqual([400, 'invalid_grant', 'pkce_mismatch']);
    const wrongRedirect = await postForm(token, { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:9/other?x=1', code_verifier: verifier, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect(await failure(wrongRedirect)).toEqual([400, 'invalid_grant', 'redirect_uri_mismatch']);
    expect(await failure(await redeem(code, verifier, 'spa', other))).toEqual([400, 'invalid_grant', 'jkt_mismatch']);
    expect(await failure(await redeem(code, verifier, 'spa', null))).toEqual([400, 'invalid_grant', 'missing_proof']);
    expect((await redeem(code, verifier)).status).toBe(200);
  });

  it('a used code presented by another client (or without its verifier) is refused and revokes nothing; replayed by its own client it revokes the grant', async () => {
    const { code, verifier } = await spaCode();
    const first = await redeem(code, verifier);
    const { refresh_token } = await first.json();
    expect(await failure(await redeem(code, verifier, 'confidential'))).toEqual([400, 'invalid_grant', 'client_mismatch']);
    expect(await failure(await redeem(code, 'B'.repeat(43)))).toEqual([400, 'invalid_grant', 'pkce_mismatch']);
    // The grant is intact: its refresh token works.
    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect(refreshed.status).toBe(200);
    const { refresh_token: next } = await refreshed.json();
    // RFC 6749 §4.1.2: a real second redemption (its client, verifier and key) is reuse: refused, grant revoked.
    expect(await failure(await redeem(code, verifier))).toEqual([400, 'invalid_grant', 'code_reused']);
    const after = await postForm(token, { grant_type: 'refresh_token', refresh_token: next, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect(await failure(after)).toEqual([400, 'invalid_grant', 'invalid_refresh_token']);
  });

  it('RFC 6749 §6: a refresh token presented by another client is refused (client_mismatch), neither rotated nor revoked', async () => {
    const { code, verifier } = await spaCode();
    const { refresh_token } = await (await redeem(code, verifier)).json();
    const stolen = await postForm(token, { grant_type: 'refresh_token', refresh_token }, { auth: basic('confidential', SECRET), dpop: await key.proof(token) });
    expect(await failure(stolen)).toEqual([400, 'invalid_grant', 'client_mismatch']);
    // RFC 7009 §2.1: nor can it revoke the token.
    const revoke = await postForm(`${server.url}/revoke`, { token: refresh_token }, { auth: basic('confidential', SECRET) });
    expect([revoke.status, (await revoke.json()).error]).toEqual([400, 'unauthorized_client']);
    const ok = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop: await key.proof(token) });
    expect(ok.status).toBe(200);
  });

  it('a retired refresh token presented by another client does not set off reuse detection (the family stays live)', async () => {
    const { code, verifier } = await spaCode();
    const { refresh_token: r1 } = await (await redeem(code, verifier)).json();
    const { refresh_token: r2 } = await (await postForm(token, { grant_type: 'refresh_token', refresh_token: r1, client_id: 'spa' }, { dpop: await key.proof(token) })).json();
    const stolen = await postForm(token, { grant_type: 'refresh_token', refresh_token: r1 }, { auth: basic('confidential', SECRET) });
    expect(await failure(stolen)).toEqual([400, 'invalid_grant', 'client_mismatch']);
    expect((await postForm(token, { grant_type: 'refresh_token', refresh_token: r2, client_id: 'spa' }, { dpop: await key.proof(token) })).status).toBe(200);
  });
});
