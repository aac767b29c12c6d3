/**
 * Attack: online guessing of client secrets (22–55 guesses a second at the token endpoint,
 * each one an scrypt run) and of `private_key_jwt` assertions, wherever a client authenticates:
 * token, PAR, introspection, revocation.
 *
 * Defence (RFC 6585 §4): failed client authentications are counted per `client_id` and per
 * client address in the storage; past the free attempts the endpoint answers 429 with
 * `Retry-After` and `{"error":"temporarily_unavailable","error_description":"throttled: …"}`
 * before evaluating the credential (no scrypt, and no comparison with the cached secret, which
 * would tell the attacker the right guess). Refresh tokens are not burned by a refusal.
 */
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPostgresStorage } from '../../src/stores/postgres.js';
import { basic, defaultClients, dpopKey, PG_URL, postForm, REDIRECT, SECRET, signIn, pkce, startServer, STORAGES, type Running, dropSchemas } from '../authorization-server/support/harness.js';
import { serverWithClock, testClock } from './throttle-support.js';

/** Each test starts servers on a storage of its own and runs scrypt: minutes on a loaded machine, seconds otherwise. */
const SLOW = 120_000;

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const cc = { grant_type: 'client_credentials' };

async function jwtClient() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const assertion = (aud: string) => new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('jwt-client').setSubject('jwt-client')
    .setAudience(aud).setIssuedAt().setExpirationTime('2m').sign(privateKey);
  const client = { clientId: 'jwt-client', tokenEndpointAuthMethod: 'private_key_jwt' as const, jwks: { keys: [jwk] }, grantTypes: ['client_credentials' as const], scope: 'read' };
  return { client, assertion };
}

/** `n` requests in a row; their statuses. */
async function statuses(n: number, send: (i: number) => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await send(i);
    await res.text();
    out.push(res.status);
  }
  return out;
}

describe.each(STORAGES)('client secret guessing on $name', (factory) => {
  let jwt: Awaited<ReturnType<typeof jwtClient>>;
  const running: Running[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    jwt = await jwtClient();
  });
  afterEach(async () => {
    for (const s of running.splice(0)) await s.close();
    for (const c of cleanups.splice(0)) await c();
  });
  /** A server on a storage of its own (counters start clean), with the test's clock. */
  const start = async (clock = testClock()) => {
    const { storage, cleanup } = await factory.open();
    cleanups.push(cleanup);
    const s = await serverWithClock(storage, clock, { clients: [...defaultClients(), jwt.client] });
    running.push(s);
    return s;
  };

  it('after 10 wrong secrets: 429 + Retry-After; the RIGHT secret is refused while blocked (even cached); it works after the delay', async () => {
    const clock = testClock();
    const s = await start(clock);
    const token = `${s.url}/token`;
    // The right secret is verified once: later it would be recognised from a cache without scrypt.
    expect((await postForm(token, cc, { auth: basic('confidential', SECRET) })).status).toBe(200);
    expect(await statuses(10, (i) => postForm(token, cc, { auth: basic('confidential', `guess-${i}`) }))).toEqual(Array(10).fill(401));

    const blocked = await postForm(token, cc, { auth: basic('confidential', SECRET) });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('1');
    expect(blocked.headers.get('cache-control')).toBe('no-store');
    const body = await blocked.json();
    expect(body.error).toBe('temporarily_unavailable');
    expect(body.error_description).toMatch(/^throttled: .*try again in 1 s/);

    clock.advance(1);
    expect((await postForm(token, cc, { auth: basic('confidential', SECRET) })).status).toBe(200);
  });

  it('the delay doubles per further failure (1, 2, 4, 8 s)', async () => {
    const clock = testClock();
    const s = await start(clock);
    const token = `${s.url}/token`;
    await statuses(10, () => postForm(token, { ...cc, client_id: 'poster', client_secret: 'wrong' }));
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await postForm(token, { ...cc, client_id: 'poster', client_secret: SECRET });
      expect(res.status).toBe(429);
      waits.push(Number(res.headers.get('retry-after')));
      clock.advance(waits[i]!);
      expect((await postForm(token, { ...cc, client_id: 'poster', client_secret: 'wrong' })).status).toBe(401);
    }
    expect(waits).toEqual([1, 2, 4, 8]);
  });

  it('token, PAR, introspection and revocation share one counter per client_id', async () => {
    const clock = testClock();
    const s = await start(clock);
    const wrong = { auth: basic('confidential', 'wrong') };
    const par = { response_type: 'code', client_id: 'confidential', redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' };
    const sends = [
      () => postForm(`${s.url}/token`, cc, wrong),
      () => postForm(`${s.url}/par`, par, wrong),
      () => postForm(`${s.url}/introspect`, { token: 'x' }, wrong),
      () => postForm(`${s.url}/revoke`, { token: 'x' }, wrong),
    ];
    expect(await statuses(10, (i) => sends[i % 4]!())).toEqual(Array(10).fill(401));
    for (const send of sends) {
      const res = await send();
      expect(res.status).toBe(429);
      expect((await res.json()).error_description).toMatch(/^throttled:/);
    }
    const right = await postForm(`${s.url}/introspect`, { token: 'x' }, { auth: basic('confidential', SECRET) });
    expect(right.status).toBe(429);
  });

  it('private_key_jwt: 10 rejected assertions block the client; a valid assertion is refused until the delay ends', async () => {
    const clock = testClock();
    const s = await start(clock);
    const token = `${s.url}/token`;
    const form = async (aud: string) => ({ ...cc, client_assertion_type: JWT_BEARER, client_assertion: await jwt.assertion(aud) });
    expect(await statuses(10, async () => postForm(token, await form('https://elsewhere.example')))).toEqual(Array(10).fill(401));
    const blocked = await postForm(token, await form(s.url));
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('1');
    clock.advance(1);
    expect((await postForm(token, await form(s.url))).status).toBe(200);
  });

  it('grants survive: a confidential client\'s refresh token is not burned by a 429 and works after the delay', async () => {
    const clock = testClock();
    const s = await start(clock);
    const token = `${s.url}/token`;
    const p = pkce();
    const back = await signIn(s.url, { response_type: 'code', client_id: 'confidential', redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' });
    const issued = await postForm(token, { grant_type: 'authorization_code', code: back.get('code')!, redirect_uri: REDIRECT, code_verifier: p.verifier }, { auth: basic('confidential', SECRET) });
    const { refresh_token } = await issued.json();
    expect(refresh_token).toBeTruthy();

    await statuses(10, () => postForm(token, cc, { auth: basic('confidential', 'wrong') }));
    const refused = await postForm(token, { grant_type: 'refresh_token', refresh_token }, { auth: basic('confidential', SECRET) });
    expect(refused.status).toBe(429);
    clock.advance(1);
    const key = await dpopKey();
    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token }, { auth: basic('confidential', SECRET), dpop: await key.proof(token, { iat: clock.t }) });
    expect(refreshed.status).toBe(200);
    expect((await refreshed.json()).refresh_token).toBeTruthy();
  });

  it('one address spraying many client ids is blocked after 20 failures, for every client', async () => {
    const clock = testClock();
    const s = await start(clock);
    const token = `${s.url}/token`;
    expect(await statuses(20, (i) => postForm(token, cc, { auth: basic(`client-${i}`, 'guess') }))).toEqual(Array(20).fill(401));
    const res = await postForm(token, cc, { auth: basic('confidential', SECRET) });
    expect(res.status).toBe(429);
  });

  it('public clients (no credential) are not throttled: nothing to guess', async () => {
    const clock = testClock();
    const s = await start(clock);
    const token = `${s.url}/token`;
    await statuses(20, (i) => postForm(token, cc, { auth: basic(`client-${i}`, 'guess') }));
    // The address is blocked for credentials, yet a public client's request is still answered on its merits.
    const res = await postForm(token, { grant_type: 'refresh_token', refresh_token: 'unknown', client_id: 'spa' });
    expect([res.status, (await res.json()).error]).toEqual([400, 'invalid_grant']);
  });
}, SLOW);

describe('a fleet: two authorization servers on one PostgreSQL database', () => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  const storages = [createPostgresStorage({ connectionString: PG_URL, schema }), createPostgresStorage({ connectionString: PG_URL, schema })];
  let a: Running;
  let b: Running;
  const clock = testClock();
  beforeAll(async () => {
    a = await startServer(storages[0]!, { clock: clock.now });
    b = await startServer(storages[1]!, { clock: clock.now });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const s of storages) await s.close();
    await dropSchemas(schema);
  });

  it('5 failures at A and 5 at B block the client at both', async () => {
    const wrong = { auth: basic('confidential', 'wrong') };
    expect(await statuses(5, () => postForm(`${a.url}/token`, cc, wrong))).toEqual(Array(5).fill(401));
    expect(await statuses(5, () => postForm(`${b.url}/token`, cc, wrong))).toEqual(Array(5).fill(401));
    for (const s of [a, b]) expect((await postForm(`${s.url}/token`, cc, { auth: basic('confidential', SECRET) })).status).toBe(429);
  });

  it('the hot path reads the counters once a second per key; a wrong guess is always decided by the shared store; a block set at B reaches A at its first wrong guess, or a second later', async () => {
    clock.advance(10_000); // the block and the counts of the test above are forgotten
    const right = { auth: basic('confidential', SECRET) };
    const wrong = { auth: basic('confidential', 'wrong') };
    // A verifies the right secret once (scrypt; later requests match its cached digest).
    expect(await statuses(1, () => postForm(`${a.url}/token`, cc, right))).toEqual([200]);
    clock.advance(1);
    const peeks = vi.spyOn(storages[0]!.attempts!, 'peek');
    try {
      // A known client presenting its right secret: one read for three requests in a second.
      expect(await statuses(3, () => postForm(`${a.url}/token`, cc, right))).toEqual([200, 200, 200]);
      expect(peeks).toHaveBeenCalledTimes(1);
      clock.advance(1);
      expect(await statuses(1, () => postForm(`${a.url}/token`, cc, right))).toEqual([200]);
      expect(peeks).toHaveBeenCalledTimes(2);

      // B blocks the client. Within A's second, the one request that can pass the block unseen is
      // one carrying the right secret (bounded: it is not a guess the attacker learns from).
      expect(await statuses(10, () => postForm(`${b.url}/token`, cc, wrong))).toEqual(Array(10).fill(401));
      expect(await statuses(1, () => postForm(`${a.url}/token`, cc, right))).toEqual([200]);
      // A wrong guess at A meets the block in the store's atomic count: 429, and A forgets its read.
      const refused = await postForm(`${a.url}/token`, cc, wrong);
      expect(refused.status).toBe(429);
      expect((await refused.json()).error_description).toMatch(/^throttled: /);
      expect(await statuses(1, () => postForm(`${a.url}/token`, cc, right))).toEqual([429]);
      expect(peeks).toHaveBeenCalledTimes(3);
    } finally {
      peeks.mockRestore();
    }
  });
}, SLOW);
