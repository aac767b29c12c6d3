/**
 * Attack: online password guessing on the sign-in form (48 wrong passwords a second were
 * accepted for evaluation, with no lockout, and the right password still worked after).
 *
 * Defence (RFC 6585 §4, OWASP Authentication Cheat Sheet): failures are counted per username
 * and per client address in the storage; past the free attempts the form answers 429 with
 * `Retry-After` and "try again in …", without looking at the password, for a delay that doubles
 * per failure. Unknown usernames behave exactly like known ones. Grants already issued stay
 * valid. A fleet on one database shares the counts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStorage } from '../../src/stores/postgres.js';
import { dpopKey, PG_URL, postForm, REDIRECT, startServer, STORAGES, type Running, dropSchemas } from '../authorization-server/support/harness.js';
import { openSignIn, serverWithClock, statuses, testClock } from './throttle-support.js';

/** Each test starts servers on a storage of its own and runs scrypt: minutes on a loaded machine, seconds otherwise. */
const SLOW = 120_000;

describe.each(STORAGES)('password guessing on $name', (factory) => {
  const running: Running[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.close();
    for (const c of cleanups.splice(0)) await c();
  });
  /** A server on a storage of its own (counters start clean), with the test's clock. */
  const start = async (clock = testClock(), options = {}) => {
    const { storage, cleanup } = await factory.open();
    cleanups.push(cleanup);
    const s = await serverWithClock(storage, clock, options);
    running.push(s);
    return s;
  };
  const fresh = (clock: ReturnType<typeof testClock>) => start(clock);

  it('after 5 wrong passwords: 429 + Retry-After, the RIGHT password is refused while blocked, and works after the delay', async () => {
    const clock = testClock();
    const s = await fresh(clock);
    const form = await openSignIn(s.url);
    expect(await statuses(5, () => form.post('alice', 'guess'))).toEqual([401, 401, 401, 401, 401]);

    const blocked = await form.post('alice', 'alice-password');
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('2');
    expect(blocked.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await blocked.text();
    expect(page).toContain('Too many failed sign-in attempts. Try again in 2 seconds.');
    expect(page).toContain('name="password"'); // the form is there to try again

    clock.advance(2);
    const ok = await form.post('alice', 'alice-password');
    expect(ok.status).toBe(303);
    expect(new URL(ok.headers.get('location')!).searchParams.get('code')).toBeTruthy();
  });

  it('the delay doubles with each further failure (2, 4, 8 … s) and Retry-After says so', async () => {
    const clock = testClock();
    const s = await fresh(clock);
    const form = await openSignIn(s.url);
    const user = 'alice';
    await statuses(5, () => form.post(user, 'guess'));
    const waits: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await form.post(user, 'guess');
      await res.text();
      expect(res.status).toBe(429);
      const wait = Number(res.headers.get('retry-after'));
      waits.push(String(wait));
      clock.advance(wait);
      // The block is over: this guess is evaluated (401) and blocks for twice as long.
      expect((await form.post(user, 'guess')).status).toBe(401);
    }
    expect(waits).toEqual(['2', '4', '8', '16']);
  });

  it('an unknown username is answered exactly like a known one (no user enumeration through the throttle)', async () => {
    const clock = testClock();
    const s = await fresh(clock);
    const form = await openSignIn(s.url);
    const run = async (username: string, at = form, origin = s.url) => {
      const out: Array<[number, string | null, string]> = [];
      for (let i = 0; i < 7; i++) {
        const res = await at.post(username, 'guess');
        // Everything but the echoed username, the form's CSRF token and the server's own URL.
        const text = (await res.text()).replaceAll(username, 'USER').replaceAll(origin, 'ORIGIN').replace(/name="csrf" value="[^"]+"/, '');
        out.push([res.status, res.headers.get('retry-after'), text]);
      }
      return out;
    };
    const known = await run('alice');
    // The same again on a server of its own (clean address counter), for a username nobody has.
    const t = await fresh(clock);
    const unknown = await run('mallory-does-not-exist', await openSignIn(t.url), t.url);
    expect(unknown.map(([st, ra]) => [st, ra])).toEqual([[401, null], [401, null], [401, null], [401, null], [401, null], [429, '2'], [429, '2']]);
    expect(unknown).toEqual(known);
  });

  it('grants survive: while alice\'s username is blocked her refresh token still works', async () => {
    const clock = testClock();
    const s = await fresh(clock);
    const key = await dpopKey();
    const token = `${s.url}/token`;
    const form = await openSignIn(s.url);
    const signedIn = await form.post('alice', 'alice-password');
    const code = new URL(signedIn.headers.get('location')!).searchParams.get('code')!;
    const first = await postForm(token, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: form.verifier, client_id: 'spa' }, { dpop: await key.proof(token, { iat: clock.t }) });
    const { refresh_token } = await first.json();
    expect(refresh_token).toBeTruthy();

    const attacker = await openSignIn(s.url);
    await statuses(5, () => attacker.post('alice', 'guess'));
    expect((await attacker.post('alice', 'alice-password')).status).toBe(429);

    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token, client_id: 'spa' }, { dpop: await key.proof(token, { iat: clock.t }) });
    expect(refreshed.status).toBe(200);
    expect((await refreshed.json()).access_token).toBeTruthy();
  });

  it('a successful sign-in resets the username counter, not the address counter', async () => {
    const clock = testClock();
    const s = await start(clock, { throttle: { address: { freeAttempts: 8 } } });
    const form = await openSignIn(s.url);
    expect(await statuses(4, () => form.post('alice', 'guess'))).toEqual([401, 401, 401, 401]);
    expect((await form.post('alice', 'alice-password')).status).toBe(303);
    // Reset: alice has 5 free failures again (without the reset the first one would block her).
    const again = await openSignIn(s.url);
    expect(await statuses(3, () => again.post('alice', 'guess'))).toEqual([401, 401, 401]);
    // Not reset: the address has 4 + 4 = 8 failures and is blocked, for every username.
    expect(await statuses(1, () => again.post('alice', 'guess'))).toEqual([401]);
    const res = await again.post('bob', 'guess');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('the address counter catches password spraying: one guess for each of many usernames', async () => {
    const clock = testClock();
    const s = await start(clock);
    const form = await openSignIn(s.url);
    const answers = await statuses(21, (() => {
      let i = 0;
      return () => form.post(`user-${i++}`, 'Winter2024!');
    })());
    expect(answers.slice(0, 20).every((x) => x === 401)).toBe(true);
    expect(answers[20]).toBe(429);
  });

  it('X-Forwarded-For is not believed by default: a guesser cannot rotate it to get a fresh address', async () => {
    const clock = testClock();
    const s = await start(clock);
    const form = await openSignIn(s.url);
    const answers = await statuses(21, (() => {
      let i = 0;
      return () => { i++; return form.post(`user-${i}`, 'guess', { 'x-forwarded-for': `203.0.113.${i}` }); };
    })());
    expect(answers[20]).toBe(429);
  });

  it('behind a configured proxy (trustProxy), each forwarded client address has its own counter', async () => {
    const clock = testClock();
    const s = await start(clock, { throttle: { trustProxy: { header: 'x-forwarded-for', addresses: ['127.0.0.1', '::1'] } } });
    const form = await openSignIn(s.url);
    // 20 failures from one client behind the proxy; the client's own injected entry is ignored.
    await statuses(20, (() => {
      let i = 0;
      return () => form.post(`sprayed-${i++}`, 'guess', { 'x-forwarded-for': `6.6.6.${i}, 198.51.100.7` });
    })());
    const same = await form.post('someone', 'guess', { 'x-forwarded-for': '198.51.100.7' });
    expect(same.status).toBe(429);
    const other = await form.post('someone-else', 'guess', { 'x-forwarded-for': '198.51.100.8' });
    expect(other.status).toBe(401);
  });
}, SLOW);

describe('a fleet: two authorization servers on one PostgreSQL database', () => {
  const schema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
  const storages = [createPostgresStorage({ connectionString: PG_URL, schema }), createPostgresStorage({ connectionString: PG_URL, schema })];
  let a: Running;
  let b: Running;
  const clock = testClock();
  beforeAll(async () => {
    // One public issuer in front of both (as behind a load balancer); each server its own pool.
    a = await startServer(storages[0]!, { issuer: 'https://as.fleet.test', clock: clock.now });
    b = await startServer(storages[1]!, { issuer: 'https://as.fleet.test', clock: clock.now });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const s of storages) await s.close();
    await dropSchemas(schema);
  });

  it('failures at one server count at the other: 3 at A + 2 at B block alice at both', async () => {
    const atA = await openSignIn(a.url);
    const atB = atA.at(b.url);
    expect(await statuses(3, () => atA.post('alice', 'guess'))).toEqual([401, 401, 401]);
    expect(await statuses(2, () => atB.post('alice', 'guess'))).toEqual([401, 401]);
    expect((await atA.post('alice', 'alice-password')).status).toBe(429);
    expect((await atB.post('alice', 'alice-password')).status).toBe(429);
    clock.advance(2);
    expect((await atB.post('alice', 'alice-password')).status).toBe(303);
  });
}, SLOW);
