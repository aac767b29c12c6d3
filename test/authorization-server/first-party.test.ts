/**
 * First-party sign-in without a browser (draft-ietf-oauth-first-party-apps-04) with DPoP on every
 * step (§9.5.1, §9.6.1), on PGlite and PostgreSQL: every step and every error of the authorization
 * challenge endpoint, the code at the token endpoint, the auth_session for step-up (§6.1,
 * RFC 9470), TOTP (RFC 6238), throttling (RFC 6585 §4) and the browser fallback (redirect_to_web).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '../../src/authorization-server/storage.js';
import { decodeJwt, dpopKey, pkce, postForm, REDIRECT, STORAGES, type DPoPKey } from './support/harness.js';
import { ACR_MFA, ACR_PWD, basic, bobCode, challenge, SECRET, startFirstParty, token, type Answer } from './support/first-party.js';

type Server = Awaited<ReturnType<typeof startFirstParty>>;

/** Sign in with every credential at once; the code. */
async function code(s: Server, key: DPoPKey, params: Record<string, string>): Promise<string> {
  const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', ...params });
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  return a.body.authorization_code as string;
}

const redeem = (s: Server, key: DPoPKey | undefined, c: string, extra: Record<string, string> = {}, client = 'cli') =>
  token(s, key, { grant_type: 'authorization_code', code: c, client_id: client, ...extra });

const sha256 = (v: string) => createHash('sha256').update(v).digest('base64url');

describe.each(STORAGES)('first-party sign-in (authorization challenge endpoint) on $name', (factory) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  let s: Server;

  beforeAll(async () => {
    ({ storage, cleanup } = await factory.open());
    s = await startFirstParty(storage, { firstParty: { maxFailures: 4 }, throttle: { username: { freeAttempts: 50 }, address: { freeAttempts: 1000 }, session: { freeAttempts: 50 } } });
  });
  afterAll(async () => {
    await s?.close();
    await cleanup?.();
  });

  it('draft §8: the metadata names authorization_challenge_endpoint and the acr values (RFC 9470)', async () => {
    const meta = (await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.authorization_challenge_endpoint).toBe(`${s.url}/authorize-challenge`);
    expect(meta.acr_values_supported).toEqual([ACR_PWD, ACR_MFA]);
  });

  it('§5.2.1: every credential at once → 200 authorization_code; the token is DPoP-bound with acr, amr, auth_time and the response has an auth_session (§6.1)', async () => {
    const key = await dpopKey();
    const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice', password: 'alice-password', scope: 'read' });
    expect(a.status).toBe(200);
    expect(Object.keys(a.body)).toEqual(['authorization_code']);
    expect(a.headers.get('cache-control')).toBe('no-store');
    // §6: no redirect_uri, no code_verifier (none was sent).
    const t = await redeem(s, key, a.body.authorization_code);
    expect(t.status, JSON.stringify(t.body)).toBe(200);
    expect(t.body.token_type).toBe('DPoP');
    expect(t.body.scope).toBe('read');
    expect(t.body.auth_session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(typeof t.body.refresh_token).toBe('string');
    const claims = decodeJwt(t.body.access_token).payload;
    expect(claims).toMatchObject({ sub: 'alice', client_id: 'cli', cnf: { jkt: key.jkt }, acr: ACR_PWD, amr: ['pwd'], auth_time: s.clock.now() });
    // Refreshed tokens keep the sign-in's context.
    const r = await token(s, key, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'cli' });
    expect(r.status).toBe(200);
    expect(decodeJwt(r.body.access_token).payload).toMatchObject({ acr: ACR_PWD, amr: ['pwd'], auth_time: s.clock.now(), cnf: { jkt: key.jkt } });
    expect(r.body.auth_session).toBeUndefined();
    // Introspection shows them too.
    const i = await postForm(`${s.url}/introspect`, { token: r.body.access_token }, { auth: basic('confidential', SECRET) });
    expect(await i.json()).toMatchObject({ active: true, acr: ACR_PWD, amr: ['pwd'] });
  });

  it('step by step: username → insufficient_authorization next=password; password → next=otp (TOTP user); otp → code; each step a new auth_session, the old one dead', async () => {
    const key = await dpopKey();
    const first = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'bob' });
    // §5.2.2.1: insufficient_authorization is 403.
    expect(first.status).toBe(403);
    expect(first.body).toEqual({ error: 'insufficient_authorization', auth_session: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), next: 'password' });
    const second = await challenge(s, key, { auth_session: first.body.auth_session, password: 'bob-password' });
    expect(second.status).toBe(403);
    expect(second.body).toMatchObject({ error: 'insufficient_authorization', next: 'otp' });
    expect(second.body.auth_session).not.toBe(first.body.auth_session);
    // The first one was used up by the second step.
    const replay = await challenge(s, key, { auth_session: first.body.auth_session, password: 'bob-password' });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_session');
    const third = await challenge(s, key, { auth_session: second.body.auth_session, otp: bobCode(s.clock.now()) });
    expect(third.status, JSON.stringify(third.body)).toBe(200);
    const t = await redeem(s, key, third.body.authorization_code);
    expect(t.status).toBe(200);
    expect(decodeJwt(t.body.access_token).payload).toMatchObject({ sub: 'bob', acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] });
    // After the code the flow's session is gone (single flow).
    expect((await challenge(s, key, { auth_session: second.body.auth_session, otp: bobCode(s.clock.now() + 30) })).body.error).toBe('invalid_session');
  });

  it('the auth_session is 256 random bits, stored only as its SHA-256, and short-lived', async () => {
    const key = await dpopKey();
    const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' });
    const value = a.body.auth_session as string;
    expect(Buffer.from(value, 'base64url')).toHaveLength(32);
    expect(await storage.findAuthSession(value, s.clock.now())).toBeUndefined();
    const stored = await storage.findAuthSession(sha256(value), s.clock.now());
    expect(stored).toMatchObject({ clientId: 'cli', jkt: key.jkt, stage: 'pending', username: 'alice', amr: [] });
    expect(stored!.expiresAt - s.clock.now()).toBe(300);
  });

  it('a TOTP user sends everything at once → 200; the same code again (another sign-in) → otp step again, "already used"', async () => {
    const key = await dpopKey();
    s.clock.advance(90); // a step of its own
    const otp = bobCode(s.clock.now());
    const ok = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'bob', password: 'bob-password', otp });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const again = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'bob', password: 'bob-password', otp });
    expect(again.status).toBe(403);
    expect(again.body).toMatchObject({ error: 'insufficient_authorization', next: 'otp', error_description: 'This code was already used. Wait for the next one.' });
    // An older code (previous step, still in the ±1 window) is refused too: at or before the last accepted step.
    const older = await challenge(s, key, { auth_session: again.body.auth_session, otp: bobCode(s.clock.now() - 30) });
    expect(older.body).toMatchObject({ next: 'otp', error_description: 'This code was already used. Wait for the next one.' });
    // The next step's code (within +1) works.
    const next = await challenge(s, key, { auth_session: older.body.auth_session, otp: bobCode(s.clock.now() + 30) });
    expect(next.status).toBe(200);
  });

  it('a wrong password or code answers the same step again with an error_description; the password is not asked again after it passed', async () => {
    const key = await dpopKey();
    const wrong = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'bob', password: 'nope' });
    expect(wrong).toMatchObject({ status: 403, body: { error: 'insufficient_authorization', next: 'password', error_description: 'Wrong username or password.' } });
    const right = await challenge(s, key, { auth_session: wrong.body.auth_session, password: 'bob-password' });
    expect(right.body.next).toBe('otp');
    const badCode = await challenge(s, key, { auth_session: right.body.auth_session, otp: '000000' === bobCode(s.clock.now()) ? '111111' : '000000' });
    expect(badCode.body).toMatchObject({ error: 'insufficient_authorization', next: 'otp', error_description: 'Wrong one-time code.' });
    s.clock.advance(90); // past the steps earlier tests used
    const done = await challenge(s, key, { auth_session: badCode.body.auth_session, otp: bobCode(s.clock.now()) });
    expect(done.status).toBe(200);
    // An unknown user is answered exactly like a wrong password.
    const unknown = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'mallory', password: 'x' });
    expect({ ...unknown.body, auth_session: undefined }).toEqual({ ...wrong.body, auth_session: undefined });
  });

  it('the OTP is not evaluated before the password has passed (no code oracle without the password)', async () => {
    const key = await dpopKey();
    s.clock.advance(30);
    const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'bob', otp: bobCode(s.clock.now()) });
    expect(a.body.next).toBe('password');
    // The code was not spent: it still works after the password.
    const b = await challenge(s, key, { auth_session: a.body.auth_session, password: 'bob-password', otp: bobCode(s.clock.now()) });
    expect(b.status).toBe(200);
  });

  describe('who may use it', () => {
    it('a client not configured first-party → unauthorized_client, and its proof is not spent', async () => {
      const key = await dpopKey();
      const proof = await key.proof(`${s.url}/authorize-challenge`, { iat: s.clock.now() });
      const a = await challenge(s, key, { response_type: 'code', client_id: 'spa', username: 'alice', password: 'alice-password' }, { proof });
      expect(a.status).toBe(400);
      expect(a.body.error).toBe('unauthorized_client');
      const b = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice', password: 'alice-password' }, { proof });
      expect(b.status).toBe(200);
    });

    it('no DPoP proof → invalid_dpop_proof (missing_proof); a proof for another endpoint → invalid_dpop_proof', async () => {
      const key = await dpopKey();
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' }, { noProof: true });
      expect(a.status).toBe(400);
      expect(a.body.error).toBe('invalid_dpop_proof');
      expect(a.body.error_description).toMatch(/missing_proof/);
      const b = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' }, { proof: await key.proof(`${s.url}/token`, { iat: s.clock.now() }) });
      expect(b.body.error).toBe('invalid_dpop_proof');
      expect(b.body.error_description).toMatch(/htu/);
    });

    it('RFC 9449 §11.1: a replayed challenge proof → invalid_dpop_proof (replayed), nothing evaluated', async () => {
      const key = await dpopKey();
      const proof = await key.proof(`${s.url}/authorize-challenge`, { iat: s.clock.now() });
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' }, { proof });
      expect(a.status).toBe(403);
      const b = await challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' }, { proof });
      expect(b.status).toBe(400);
      expect(b.body.error).toBe('invalid_dpop_proof');
      expect(b.body.error_description).toMatch(/replayed/);
      // The session was not used up by the refused request.
      expect((await challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' })).status).toBe(200);
    });

    it('response_type is required on the first request and must be code; username is required', async () => {
      const key = await dpopKey();
      expect((await challenge(s, key, { client_id: 'cli', username: 'alice' })).body.error).toBe('invalid_request');
      expect((await challenge(s, key, { response_type: 'token', client_id: 'cli', username: 'alice' })).body.error).toBe('unsupported_response_type');
      expect((await challenge(s, key, { response_type: 'code', client_id: 'cli' })).body.error).toBe('invalid_request');
      expect((await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice', scope: 'admin' })).body.error).toBe('invalid_scope');
      expect((await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice', code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' })).body.error).toBe('invalid_request');
    });
  });

  describe('the auth_session is bound to the client and the DPoP key (§9.6.1)', () => {
    it('a proof by another key mid-flow → invalid_session; the session stays usable with its own key', async () => {
      const key = await dpopKey();
      const thief = await dpopKey();
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' });
      const stolen = await challenge(s, thief, { auth_session: a.body.auth_session, password: 'alice-password' });
      expect(stolen.status).toBe(400);
      expect(stolen.body).toEqual({ error: 'invalid_session', error_description: 'the auth_session is bound to another DPoP key' });
      expect((await challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' })).status).toBe(200);
    });

    it('an unknown, expired or foreign auth_session → invalid_session', async () => {
      const key = await dpopKey();
      expect((await challenge(s, key, { auth_session: 'A'.repeat(43), password: 'x' })).body.error).toBe('invalid_session');
      expect((await challenge(s, key, { auth_session: 'short', password: 'x' })).body.error).toBe('invalid_session');
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' });
      // Another first-party client presenting it (same key even).
      const foreign = await challenge(s, key, { client_id: 'cli2', auth_session: a.body.auth_session, password: 'alice-password' });
      expect(foreign.body).toEqual({ error: 'invalid_session', error_description: 'the auth_session was issued to another client' });
      s.clock.advance(301);
      const expired = await challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' });
      expect(expired.status).toBe(400);
      expect(expired.body.error).toBe('invalid_session');
    });

    it('two parallel requests with one auth_session: one continues, the other gets invalid_session', async () => {
      const key = await dpopKey();
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' });
      const both = await Promise.all([1, 2].map(() => challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' })));
      expect(both.map((x) => x.status).sort()).toEqual([200, 400]);
      expect(both.find((x) => x.status === 400)!.body.error).toBe('invalid_session');
    });
  });

  describe('the code at the token endpoint (§6, §9.5.1)', () => {
    it('redeemed without a proof or with another key → invalid_grant; the code stays usable with its key', async () => {
      const key = await dpopKey();
      const other = await dpopKey();
      const c = await code(s, key, { username: 'alice', password: 'alice-password' });
      const noProof = await redeem(s, undefined, c);
      expect(noProof.status).toBe(400);
      expect(noProof.body.error).toBe('invalid_grant');
      expect(noProof.body.error_description).toMatch(/^missing_proof/);
      const wrongKey = await redeem(s, other, c);
      expect(wrongKey.body.error).toBe('invalid_grant');
      expect(wrongKey.body.error_description).toMatch(/^jkt_mismatch/);
      const ok = await redeem(s, key, c);
      expect(ok.status).toBe(200);
      expect(decodeJwt(ok.body.access_token).payload.cnf).toEqual({ jkt: key.jkt });
      // Single use.
      expect((await redeem(s, key, c)).body.error).toBe('invalid_grant');
    });

    it('a redirect_uri with a challenge code → invalid_grant; another client → invalid_grant', async () => {
      const key = await dpopKey();
      const c = await code(s, key, { username: 'alice', password: 'alice-password' });
      expect((await redeem(s, key, c, { redirect_uri: REDIRECT })).body.error_description).toMatch(/^redirect_uri_mismatch/);
      expect((await redeem(s, key, c, {}, 'cli2')).body.error_description).toMatch(/^client_mismatch/);
      expect((await redeem(s, key, c)).status).toBe(200);
    });

    it('RFC 7636: a code_challenge in the flow is required at the token endpoint (missing → invalid_request, wrong → invalid_grant)', async () => {
      const key = await dpopKey();
      const p = pkce();
      const c = await code(s, key, { username: 'alice', password: 'alice-password', code_challenge: p.challenge, code_challenge_method: 'S256' });
      expect((await redeem(s, key, c)).body.error).toBe('invalid_request');
      expect((await redeem(s, key, c, { code_verifier: pkce().verifier })).body.error_description).toMatch(/^pkce_mismatch/);
      expect((await redeem(s, key, c, { code_verifier: p.verifier })).status).toBe(200);
    });

    it('a first-party client\'s refresh needs its key (RFC 9449 §5)', async () => {
      const key = await dpopKey();
      const t = await redeem(s, key, await code(s, key, { username: 'alice', password: 'alice-password' }));
      const none = await token(s, undefined, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'cli' });
      expect(none.status).toBe(400);
      expect(['invalid_grant', 'invalid_dpop_proof']).toContain(none.body.error);
      expect((await token(s, await dpopKey(), { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'cli' })).body.error).toBe('invalid_grant');
    });
  });

  describe('step-up with the auth_session of the token response (§6.1, RFC 9470, draft A.7)', () => {
    async function signedIn(key: DPoPKey, user = 'alice', password = 'alice-password'): Promise<Answer> {
      const params: Record<string, string> = { username: user, password };
      if (user === 'bob') {
        s.clock.advance(30);
        params.otp = bobCode(s.clock.now());
      }
      const t = await redeem(s, key, await code(s, key, params));
      expect(t.status).toBe(200);
      return t;
    }

    it('max_age satisfied → a code at once, no credentials; the token keeps the first auth_time', async () => {
      const key = await dpopKey();
      const t = await signedIn(key);
      const authTime = decodeJwt(t.body.access_token).payload.auth_time;
      s.clock.advance(10);
      const a = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, max_age: '60' });
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      const again = await redeem(s, key, a.body.authorization_code);
      expect(decodeJwt(again.body.access_token).payload).toMatchObject({ sub: 'alice', auth_time: authTime, acr: ACR_PWD });
      // And a new auth_session replaces the used one.
      expect(again.body.auth_session).not.toBe(t.body.auth_session);
      expect((await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session })).body.error).toBe('invalid_session');
    });

    it('max_age exceeded → the user signs in again (password only: the user is known) and the token has a new auth_time', async () => {
      const key = await dpopKey();
      const t = await signedIn(key);
      s.clock.advance(120);
      const a = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, max_age: '60' });
      expect(a.body).toMatchObject({ error: 'insufficient_authorization', next: 'password' });
      const b = await challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' });
      expect(b.status).toBe(200);
      const again = await redeem(s, key, b.body.authorization_code);
      expect(decodeJwt(again.body.access_token).payload.auth_time).toBe(s.clock.now());
    });

    it('a TOTP user re-authenticating gives password and code again; the step-up session is bound to the key', async () => {
      const key = await dpopKey();
      const t = await signedIn(key, 'bob', 'bob-password');
      expect((await challenge(s, await dpopKey(), { response_type: 'code', auth_session: t.body.auth_session, max_age: '0' })).body.error).toBe('invalid_session');
      s.clock.advance(30);
      const a = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, max_age: '0', password: 'bob-password' });
      expect(a.body).toMatchObject({ error: 'insufficient_authorization', next: 'otp' });
      const b = await challenge(s, key, { auth_session: a.body.auth_session, otp: bobCode(s.clock.now()) });
      expect(b.status).toBe(200);
      expect(decodeJwt((await redeem(s, key, b.body.authorization_code)).body.access_token).payload).toMatchObject({ acr: ACR_MFA, auth_time: s.clock.now() });
    });

    it('acr_values the account cannot reach (mfa for a user without a code) → access_denied after the password; a username of another user → invalid_request', async () => {
      const key = await dpopKey();
      const t = await signedIn(key);
      const other = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, username: 'bob' });
      expect(other.body.error).toBe('invalid_request');
      const key2 = await dpopKey();
      const first = await challenge(s, key2, { response_type: 'code', client_id: 'cli', username: 'alice', acr_values: ACR_MFA });
      expect(first.body.next).toBe('password');
      const denied = await challenge(s, key2, { auth_session: first.body.auth_session, password: 'alice-password' });
      expect(denied.status).toBe(400);
      expect(denied.body.error).toBe('access_denied');
    });

    describe('bounded by the grant the auth_session came from', () => {
      /** alice signed in with this scope (the client `cli` may have "read write"). */
      async function signedInFor(key: DPoPKey, scope: string): Promise<Answer> {
        const t = await redeem(s, key, await code(s, key, { username: 'alice', password: 'alice-password', scope }));
        expect(t.status).toBe(200);
        expect(t.body.scope).toBe(scope);
        return t;
      }

      it('a scope beyond the grant → 400 invalid_scope (scope_exceeds_grant), with or without credentials, before anything is used: the auth_session still works', async () => {
        const key = await dpopKey();
        const t = await signedInFor(key, 'read');
        // Nothing more asked of the authentication: no credential, a wider scope.
        const wider = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, scope: 'read write' });
        expect(wider.status).toBe(400);
        expect(wider.body.error).toBe('invalid_scope');
        expect(wider.body.error_description).toMatch(/^scope_exceeds_grant: .*: write$/);
        expect(wider.body.auth_session).toBeUndefined();
        // Re-authenticating does not buy it either (a wider scope is a new sign-in).
        const withPassword = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, scope: 'write', max_age: '0', password: 'alice-password' });
        expect(withPassword.status).toBe(400);
        expect(withPassword.body.error).toBe('invalid_scope');
        expect(withPassword.body.error_description).toMatch(/^scope_exceeds_grant: /);
        // The refused requests used nothing up: the session still gets a code for the grant's scope.
        const ok = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session });
        expect(ok.status, JSON.stringify(ok.body)).toBe(200);
        const again = await redeem(s, key, ok.body.authorization_code);
        expect(again.body.scope).toBe('read');
        expect(decodeJwt(again.body.access_token).payload.scope).toBe('read');
      });

      it('no scope asked → the grant\'s scope (not the client\'s), after re-authentication too', async () => {
        const key = await dpopKey();
        const t = await signedInFor(key, 'read');
        s.clock.advance(5);
        const a = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, max_age: '60' });
        expect(a.status, JSON.stringify(a.body)).toBe(200);
        const again = await redeem(s, key, a.body.authorization_code);
        expect(again.body.scope).toBe('read');
        expect(decodeJwt(again.body.access_token).payload.scope).toBe('read');
        // max_age exceeded: the password again, and still the grant's scope.
        s.clock.advance(120);
        const b = await challenge(s, key, { response_type: 'code', auth_session: again.body.auth_session, max_age: '60' });
        expect(b.body).toMatchObject({ error: 'insufficient_authorization', next: 'password' });
        const c = await challenge(s, key, { auth_session: b.body.auth_session, password: 'alice-password' });
        expect(c.status).toBe(200);
        const fresh = await redeem(s, key, c.body.authorization_code);
        expect(fresh.body.scope).toBe('read');
        expect(decodeJwt(fresh.body.access_token).payload).toMatchObject({ scope: 'read', auth_time: s.clock.now() });
      });

      it('a narrower scope is granted, and the narrowed grant bounds the next step-up', async () => {
        const key = await dpopKey();
        const t = await signedInFor(key, 'read write');
        const a = await challenge(s, key, { response_type: 'code', auth_session: t.body.auth_session, scope: 'read' });
        expect(a.status, JSON.stringify(a.body)).toBe(200);
        const narrowed = await redeem(s, key, a.body.authorization_code);
        expect(narrowed.body.scope).toBe('read');
        expect(decodeJwt(narrowed.body.access_token).payload.scope).toBe('read');
        // Its auth_session holds "read" only now.
        const back = await challenge(s, key, { response_type: 'code', auth_session: narrowed.body.auth_session, scope: 'read write' });
        expect(back.status).toBe(400);
        expect(back.body.error_description).toMatch(/^scope_exceeds_grant: .*: write$/);
      });

      it('an auth_session stored without the grant\'s scope (an earlier version) restores nothing: every factor again, no code without credentials', async () => {
        const key = await dpopKey();
        const now = s.clock.now();
        const value = Buffer.alloc(32, 7).toString('base64url');
        await storage.saveAuthSession({ id: sha256(value), flowId: 'legacy-flow-0001', clientId: 'cli', jkt: key.jkt, stage: 'authenticated', username: 'alice', params: {}, amr: ['pwd'], acr: ACR_PWD, authTime: now, failures: 0, createdAt: now, expiresAt: now + 3600 });
        const a = await challenge(s, key, { response_type: 'code', auth_session: value });
        expect(a.status).toBe(403);
        expect(a.body).toMatchObject({ error: 'insufficient_authorization', next: 'password' });
        const b = await challenge(s, key, { auth_session: a.body.auth_session, password: 'alice-password' });
        expect(b.status, JSON.stringify(b.body)).toBe(200);
        expect(decodeJwt((await redeem(s, key, b.body.authorization_code)).body.access_token).payload).toMatchObject({ sub: 'alice', auth_time: s.clock.now() });
      });

      it('re-use without credentials does not extend the sign-in: its auth_session and refresh tokens end tokens.refreshTokenTtl after auth_time', async () => {
        const short = await startFirstParty(storage, { tokens: { refreshTokenTtl: 3600 } });
        try {
          const key = await dpopKey();
          const t = await redeem(short, key, await code(short, key, { username: 'alice', password: 'alice-password' }));
          expect(t.status).toBe(200);
          const authTime = decodeJwt(t.body.access_token).payload.auth_time as number;
          short.clock.advance(3000);
          const a = await challenge(short, key, { response_type: 'code', auth_session: t.body.auth_session });
          expect(a.status, JSON.stringify(a.body)).toBe(200);
          const reused = await redeem(short, key, a.body.authorization_code);
          expect(decodeJwt(reused.body.access_token).payload.auth_time).toBe(authTime);
          expect((await storage.findAuthSession(sha256(reused.body.auth_session), short.clock.now()))!.expiresAt).toBe(authTime + 3600);
          // Past the sign-in's lifetime: neither the new auth_session nor the new refresh token works.
          short.clock.advance(601);
          const late = await challenge(short, key, { response_type: 'code', auth_session: reused.body.auth_session });
          expect(late.status).toBe(400);
          expect(late.body.error).toBe('invalid_session');
          const refresh = await token(short, key, { grant_type: 'refresh_token', refresh_token: reused.body.refresh_token, client_id: 'cli' });
          expect(refresh.status).toBe(400);
          expect(refresh.body.error).toBe('invalid_grant');
        } finally {
          await short.close();
        }
      });
    });
  });

  describe('redirect_to_web (§5.2.2.1.1)', () => {
    it('a web-only account with a code_challenge → 403 redirect_to_web with a request_uri bound to the key; the browser sign-in ends in a DPoP token for that key', async () => {
      const key = await dpopKey();
      const p = pkce();
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'carol', code_challenge: p.challenge, code_challenge_method: 'S256' });
      expect(a.status).toBe(403);
      expect(a.body).toEqual({ error: 'redirect_to_web', error_description: expect.any(String), request_uri: expect.stringMatching(/^urn:ietf:params:oauth:request_uri:/), expires_in: 60 });
      // The browser: /authorize with the request_uri, the sign-in form, the redirect with a code.
      const page = await fetch(`${s.url}/authorize?${new URLSearchParams({ client_id: 'cli', request_uri: a.body.request_uri })}`, { redirect: 'manual' });
      expect(page.status).toBe(200);
      const html = await page.text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
      const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
      const login = await postForm(`${s.url}/login`, { csrf, username: 'carol', password: 'carol-password', action: 'login' }, { headers: { cookie } });
      expect(login.status).toBe(303);
      const back = new URL(login.headers.get('location')!);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      const browserCode = back.searchParams.get('code')!;
      // Bound to the flow's key (dpop_jkt of the pushed request): another key fails, the flow's key works.
      expect((await token(s, await dpopKey(), { grant_type: 'authorization_code', code: browserCode, client_id: 'cli', redirect_uri: REDIRECT, code_verifier: p.verifier })).body.error_description).toMatch(/^jkt_mismatch/);
      const t = await token(s, key, { grant_type: 'authorization_code', code: browserCode, client_id: 'cli', redirect_uri: REDIRECT, code_verifier: p.verifier });
      expect(t.status).toBe(200);
      expect(decodeJwt(t.body.access_token).payload).toMatchObject({ sub: 'carol', cnf: { jkt: key.jkt }, acr: ACR_PWD, amr: ['pwd'] });
    });

    it('without a code_challenge → redirect_to_web with no request_uri (the draft forbids one)', async () => {
      const key = await dpopKey();
      const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'carol' });
      expect(a.status).toBe(403);
      expect(a.body.error).toBe('redirect_to_web');
      expect(a.body.request_uri).toBeUndefined();
      expect(a.body.expires_in).toBeUndefined();
    });

    it('after repeated failures in one flow (firstParty.maxFailures) → redirect_to_web, and the flow\'s session ends', async () => {
      const key = await dpopKey();
      const p = pkce();
      let a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice', password: 'wrong-1', code_challenge: p.challenge, code_challenge_method: 'S256' });
      for (let i = 2; i <= 3; i++) {
        expect(a.body).toMatchObject({ error: 'insufficient_authorization', next: 'password' });
        a = await challenge(s, key, { auth_session: a.body.auth_session, password: `wrong-${i}` });
      }
      const last = a.body.auth_session;
      a = await challenge(s, key, { auth_session: last, password: 'wrong-4' });
      expect(a.status).toBe(403);
      expect(a.body.error).toBe('redirect_to_web');
      expect(a.body.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
      expect((await challenge(s, key, { auth_session: last, password: 'alice-password' })).body.error).toBe('invalid_session');
    });
  });

  describe('a confidential first-party client authenticates here as at the token endpoint (§4.1)', () => {
    it('without its secret → invalid_client; with it → code; the token request authenticates too', async () => {
      const key = await dpopKey();
      const none = await challenge(s, key, { response_type: 'code', client_id: 'cli-conf', username: 'alice', password: 'alice-password' });
      expect(none.status).toBe(401);
      expect(none.body.error).toBe('invalid_client');
      const wrong = await challenge(s, key, { response_type: 'code', username: 'alice', password: 'alice-password' }, { auth: basic('cli-conf', 'not-the-secret') });
      expect(wrong.status).toBe(401);
      const first = await challenge(s, key, { response_type: 'code', username: 'bob' }, { auth: basic('cli-conf', SECRET) });
      expect(first.body.next).toBe('password');
      // Follow-ups authenticate too (the auth_session alone does not authenticate a confidential client).
      expect((await challenge(s, key, { auth_session: first.body.auth_session, password: 'bob-password' })).status).toBe(401);
      s.clock.advance(30);
      const done = await challenge(s, key, { auth_session: first.body.auth_session, password: 'bob-password', otp: bobCode(s.clock.now()) }, { auth: basic('cli-conf', SECRET) });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
      expect((await token(s, key, { grant_type: 'authorization_code', code: done.body.authorization_code })).status).toBe(401);
      const t = await token(s, key, { grant_type: 'authorization_code', code: done.body.authorization_code }, { auth: basic('cli-conf', SECRET) });
      expect(t.status).toBe(200);
      expect(decodeJwt(t.body.access_token).payload).toMatchObject({ sub: 'bob', client_id: 'cli-conf', cnf: { jkt: key.jkt } });
    });
  });

  it('the sign-in page asks a TOTP user for the code too (no way around the second factor through the browser)', async () => {
    const p = pkce();
    const page = await fetch(`${s.url}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'cli', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    const html = await page.text();
    expect(html).toContain('name="otp"');
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const noCode = await postForm(`${s.url}/login`, { csrf, username: 'bob', password: 'bob-password', action: 'login' }, { headers: { cookie } });
    expect(noCode.status).toBe(401);
    s.clock.advance(30);
    const ok = await postForm(`${s.url}/login`, { csrf, username: 'bob', password: 'bob-password', otp: bobCode(s.clock.now()), action: 'login' }, { headers: { cookie } });
    expect(ok.status).toBe(303);
    const c = new URL(ok.headers.get('location')!).searchParams.get('code')!;
    const t = await token(s, await dpopKey(), { grant_type: 'authorization_code', code: c, client_id: 'cli', redirect_uri: REDIRECT, code_verifier: p.verifier });
    expect(decodeJwt(t.body.access_token).payload).toMatchObject({ sub: 'bob', acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] });
  });
});

describe.each(STORAGES)('first-party sign-in: nonces and throttling on $name', (factory) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  let s: Server;

  beforeAll(async () => {
    ({ storage, cleanup } = await factory.open());
    s = await startFirstParty(storage, {
      dpop: { nonce: { secret: 'n'.repeat(32) } },
      throttle: { username: { freeAttempts: 3, delay: 10 }, session: { freeAttempts: 2, delay: 5 }, address: { freeAttempts: 8, delay: 20 } },
      firstParty: { maxFailures: 50 },
    });
  });
  afterAll(async () => {
    await s?.close();
    await cleanup?.();
  });

  /** A challenge request that answers the nonce demand once (RFC 9449 §8), as a client does. */
  async function ask(key: DPoPKey, params: Record<string, string>): Promise<Answer> {
    const first = await challenge(s, key, params, { nonce: lastNonce ?? 'none' });
    if (first.body.error !== 'use_dpop_nonce') {
      lastNonce = first.headers.get('dpop-nonce') ?? lastNonce;
      return first;
    }
    lastNonce = first.headers.get('dpop-nonce')!;
    const second = await challenge(s, key, params, { nonce: lastNonce });
    lastNonce = second.headers.get('dpop-nonce') ?? lastNonce;
    return second;
  }
  let lastNonce: string | undefined;

  it('RFC 9449 §8: without the server nonce → 400 use_dpop_nonce + DPoP-Nonce; with it the step proceeds; every answer carries the nonce', async () => {
    const key = await dpopKey();
    const a = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' });
    expect(a.status).toBe(400);
    expect(a.body.error).toBe('use_dpop_nonce');
    const nonce = a.headers.get('dpop-nonce')!;
    expect(nonce).toBeTruthy();
    const b = await challenge(s, key, { response_type: 'code', client_id: 'cli', username: 'alice' }, { nonce });
    expect(b.status).toBe(403);
    expect(b.headers.get('dpop-nonce')).toBeTruthy();
    const c = await challenge(s, key, { auth_session: b.body.auth_session, password: 'alice-password' }, { nonce });
    expect(c.status).toBe(200);
    expect(c.headers.get('dpop-nonce')).toBeTruthy();
  });

  it('RFC 6585 §4: per auth_session flow: its failures add up whatever username is typed; blocked → 429 + Retry-After before the password is looked at', async () => {
    const key = await dpopKey();
    // The flow's counter starts with its second request; each request names another username.
    let a = await ask(key, { response_type: 'code', client_id: 'cli', username: 'flow-a', password: 'bad' });
    expect(a.status).toBe(403);
    a = await ask(key, { auth_session: a.body.auth_session, username: 'flow-b', password: 'bad' });
    expect(a.status).toBe(403);
    a = await ask(key, { auth_session: a.body.auth_session, username: 'flow-c', password: 'bad' });
    expect(a.status).toBe(403);
    const blocked = await ask(key, { auth_session: a.body.auth_session, username: 'alice', password: 'alice-password' });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toBe('temporarily_unavailable');
    expect(blocked.headers.get('retry-after')).toBe('5');
    // Another flow of the same user is not blocked.
    expect((await ask(await dpopKey(), { response_type: 'code', client_id: 'cli', username: 'alice' })).status).toBe(403);
    // The session survives the refusal; after the delay the right password passes.
    s.clock.advance(5);
    const ok = await ask(key, { auth_session: a.body.auth_session, username: 'alice', password: 'alice-password' });
    expect(ok.status).toBe(200);
  });

  it('per username: failures across fresh flows add up (the username counter), and a success with the code clears it', async () => {
    const key = await dpopKey();
    s.clock.advance(1000);
    for (let i = 0; i < 3; i++) expect((await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice', password: `bad-${i}` })).status).toBe(403);
    const blocked = await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice', password: 'alice-password' });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('10');
    s.clock.advance(10);
    expect((await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice', password: 'alice-password' })).status).toBe(200);
    // Cleared: the next failure is free again.
    expect((await ask(key, { response_type: 'code', client_id: 'cli', username: 'alice', password: 'bad' })).status).toBe(403);
  });

  it('OTP guessing with the right password counts against the username (a right password does not wipe the count)', async () => {
    const key = await dpopKey();
    s.clock.advance(4000); // the address counter of earlier tests is forgotten (resetAfter 3600)
    const wrongCode = (at: number) => (bobCode(at) === '123456' ? '654321' : '123456');
    for (let i = 0; i < 3; i++) {
      const a = await ask(key, { response_type: 'code', client_id: 'cli', username: 'bob', password: 'bob-password', otp: wrongCode(s.clock.now()) });
      expect(a.body).toMatchObject({ next: 'otp', error_description: 'Wrong one-time code.' });
    }
    const blocked = await ask(key, { response_type: 'code', client_id: 'cli', username: 'bob', password: 'bob-password', otp: bobCode(s.clock.now()) });
    expect(blocked.status).toBe(429);
  });

  it('per client address: many usernames from one address → 429 for a new one too', async () => {
    const key = await dpopKey();
    s.clock.advance(4000);
    let status = 0;
    for (let i = 0; i < 9 && status !== 429; i++) status = (await ask(key, { response_type: 'code', client_id: 'cli', username: `user-${i}`, password: 'x' })).status;
    expect(status).toBe(429);
    const fresh = await ask(key, { response_type: 'code', client_id: 'cli', username: 'somebody-new', password: 'x' });
    expect(fresh.status).toBe(429);
    expect(fresh.body.error_description).toMatch(/^throttled/);
  });
});
