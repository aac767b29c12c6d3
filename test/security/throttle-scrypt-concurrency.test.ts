/**
 * Attack: CPU exhaustion through credential checks. Every password or client-secret guess is
 * an scrypt run (~16 MiB, tens of milliseconds of a libuv thread), so a flood of guesses, even
 * refused ones, starved the thread pool and the CPU; and concurrent guesses raced past any
 * check-then-count limit.
 *
 * Defence: scrypt runs through a gate (a few at a time, a short queue, 503 + `Retry-After`
 * beyond it), a blocked key costs no scrypt run at all, and each run is counted atomically
 * before it starts, so N concurrent guesses get exactly the free attempts and no more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createScryptGate, ScryptBusyError } from '../../src/authorization-server/passwords.js';
import { attemptKey, createThrottle, ThrottledError } from '../../src/authorization-server/throttle.js';
import { createMemoryAttemptStore } from '../../src/stores/memory.js';
import { basic, postForm, SECRET, STORAGES, type Running } from '../authorization-server/support/harness.js';
import { openSignIn, serverWithClock, testClock } from './throttle-support.js';

/** Each test starts servers on a storage of its own and runs scrypt: minutes on a loaded machine, seconds otherwise. */
const SLOW = 120_000;

const SILENT = { info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the scrypt gate', () => {
  it('runs at most maxConcurrent tasks at once, queues maxQueue more, refuses the rest at once', async () => {
    const gate = createScryptGate({ maxConcurrent: 2, maxQueue: 3 });
    let running = 0;
    let peak = 0;
    const task = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(20);
      running--;
      return true;
    };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => gate.run(task)));
    expect(peak).toBe(2);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(5);
    expect(refused.every((r) => r.reason instanceof ScryptBusyError)).toBe(true);
    expect([gate.running, gate.waiting]).toEqual([0, 0]);
    // A failing task frees its slot too.
    await expect(gate.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(gate.running).toBe(0);
  });

  it('a blocked username costs no scrypt run: the verification is never started', async () => {
    const store = createMemoryAttemptStore();
    const throttle = createThrottle({ store }, { storageStore: undefined, log: SILENT });
    const request = new Request('http://as.test/login', { method: 'POST' });
    let runs = 0;
    const scrypt = async () => {
      runs++;
      return false;
    };
    const now = 1_700_000_000;
    for (let i = 0; i < 5; i++) {
      const attempt = throttle.signIn(request, 'alice', now);
      await attempt.check();
      expect(await attempt.verify(scrypt)).toBe(false);
    }
    expect(runs).toBe(5);
    for (let i = 0; i < 100; i++) {
      const attempt = throttle.signIn(request, 'alice', now + 1);
      await expect(attempt.check()).rejects.toBeInstanceOf(ThrottledError);
      // Even a caller that skipped check() is refused by the atomic count before the work.
      await expect(attempt.verify(scrypt)).rejects.toMatchObject({ reason: 'blocked', retryAfter: 1 });
    }
    expect(runs).toBe(5);
    expect((await store.peek([attemptKey('username', 'alice')], now + 1)).get(attemptKey('username', 'alice'))?.count).toBe(5);
  });
}, SLOW);

describe.each(STORAGES)('concurrent guessing on $name', (factory) => {
  const running: Running[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.close();
    for (const c of cleanups.splice(0)) await c();
  });
  /** A server on a storage of its own (counters start clean). */
  const start = async (options = {}) => {
    const { storage, cleanup } = await factory.open();
    cleanups.push(cleanup);
    const s = await serverWithClock(storage, testClock(), options);
    running.push(s);
    return s;
  };

  it('30 concurrent wrong passwords for one username: exactly 5 are evaluated, 25 are refused with 429 (no race past the limit)', async () => {
    const s = await start();
    const form = await openSignIn(s.url);
    const answers = await Promise.all(Array.from({ length: 30 }, () => form.post('alice', 'guess')));
    const codes = answers.map((r) => r.status);
    await Promise.all(answers.map((r) => r.text()));
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(25);
  });

  it('30 concurrent wrong client secrets: exactly 10 are evaluated, 20 are refused with 429', async () => {
    const s = await start();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', `guess-${i}`) })));
    const codes = answers.map((r) => r.status);
    await Promise.all(answers.map((r) => r.text()));
    expect(codes.filter((c) => c === 401)).toHaveLength(10);
    expect(codes.filter((c) => c === 429)).toHaveLength(20);
  });

  it('a flood beyond the scrypt queue is answered 503 + Retry-After at once, for sign-in and client secrets', async () => {
    const generous = { freeAttempts: 1000 };
    const s = await start({ throttle: { username: generous, address: generous, client: generous, scrypt: { maxConcurrent: 1, maxQueue: 2 } } });
    const form = await openSignIn(s.url);
    const signIns = await Promise.all(Array.from({ length: 20 }, (_, i) => form.post(`user-${i}`, 'guess')));
    const busy = signIns.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThanOrEqual(10);
    expect(signIns.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(3);
    expect(busy[0]!.headers.get('retry-after')).toBe('1');
    expect(await busy[0]!.text()).toContain('The server is busy');
    await Promise.all(signIns.map((r) => r.bodyUsed || r.text()));

    const secrets = await Promise.all(Array.from({ length: 20 }, (_, i) => postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', `guess-${i}`) })));
    const refused = secrets.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(10);
    expect(refused[0]!.headers.get('retry-after')).toBe('1');
    expect(await refused[0]!.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/^busy:/) });
    await Promise.all(secrets.map((r) => r.bodyUsed || r.text()));

    // The flood over, the right secret is verified as usual.
    expect((await postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { auth: basic('confidential', SECRET) })).status).toBe(200);
  });
}, SLOW);
