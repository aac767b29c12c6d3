/**
 * Throttling of password and client-secret guessing: failed attempts are counted per username,
 * per client address and per `client_id`, and after a number of free failures each key is
 * blocked for a delay that doubles with every further failure, up to a cap. While a key is
 * blocked, requests that carry it are refused with 429 and `Retry-After` (RFC 6585 §4) BEFORE
 * any credential is evaluated: no scrypt run, no comparison with a cached secret (that would
 * be a free oracle for the right guess). A key read as clean is taken as clean for one second
 * (the token endpoint's hot path reads no database); every wrong guess is still decided by the
 * store's atomic count, so a block set elsewhere in a fleet is never an oracle.
 *
 * The counters live behind the {@link AttemptStore} port, by default the authorization
 * server's own database (`Storage.attempts`), so every server of a fleet sees every failure.
 * Each counted attempt is ONE atomic store operation that both checks the block and counts, so
 * concurrent guesses cannot slip past the limit; scrypt work is counted before it starts.
 *
 * A success clears the account's counter (the username, or the `client_id`) but only takes
 * back its own attempt from the address counter: an attacker who owns one account must not be
 * able to wipe the failures of the address it sprays from.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createMemoryAttemptStore } from '../stores/memory-throttle.js';
import { createAddressResolver, peerAddress, type AddressResolver, type ConnectionInfo, type TrustProxyOptions } from './client-address.js';
import type { Logger } from './context.js';
import { OAuthError } from './errors.js';
import { createScryptGate, ScryptBusyError, type ScryptGate, type ScryptGateOptions } from './passwords.js';
import { invalidArgument } from '../core/argument-error.js';
import type { AsRequest } from './as-request.js';

/** How one kind of key is throttled. All durations in seconds. */
export interface ThrottleRule {
  /** Failures allowed before the first delay. */
  freeAttempts: number;
  /** The first delay, after `freeAttempts` failures; each further failure doubles it. */
  delay: number;
  /** The longest delay. */
  maxDelay: number;
  /** A key's count is forgotten this long after its last block ends (a quiet period). */
  resetAfter: number;
}

/** A key's live state. */
export interface AttemptState {
  /** Attempts counted (failures, plus attempts whose outcome is not known yet). */
  count: number;
  /** Epoch seconds; the key is blocked while `now < blockedUntil`; 0 when no delay applies. */
  blockedUntil: number;
}

export interface AttemptResult extends AttemptState {
  /** False when the key was blocked: nothing was counted and the attempt must be refused. */
  counted: boolean;
}

/**
 * Where failed attempts are counted: the port the SQL storage, the memory store (and any
 * other backend a fleet shares) implement; every implementation passes
 * `test/contracts/attempt-store.ts`. Times are epoch seconds passed in by the caller.
 *
 * An entry is live while `now < expiresAt`; a forgotten entry behaves as absent.
 */
export interface AttemptStore {
  /** The live entries among `keys`. */
  peek(keys: readonly string[], now: number): Promise<Map<string, AttemptState>>;
  /**
   * ATOMICALLY: if `key` is blocked at `now`, change nothing and answer `counted: false` with its
   * state; otherwise count one attempt (from 1 when absent or forgotten), set `blockedUntil =
   * now + delay(count)` (see {@link delayFor}), or 0 when that delay is 0, and `expiresAt = now +
   * delay(count) + resetAfter`, and answer `counted: true` with the new state. Two concurrent
   * callers never both pass a block. (0 rather than `now`: a server of the fleet whose clock is
   * behind must not mistake "no delay" for a block.)
   */
  hit(key: string, now: number, rule: ThrottleRule): Promise<AttemptResult>;
  /**
   * Take back one counted attempt (it succeeded). Below `freeAttempts` again, a block ends
   * (`blockedUntil` 0).
   * Nothing happens to an absent or forgotten key.
   */
  refund(key: string, now: number, rule: ThrottleRule): Promise<void>;
  /** Forget `key`. */
  clear(key: string): Promise<void>;
  /** Delete forgotten entries. */
  purge(now: number): Promise<void>;
}

/** The delay after the `count`-th counted failure: none before `freeAttempts`, then doubling. */
export function delayFor(count: number, rule: ThrottleRule): number {
  if (count < rule.freeAttempts) return 0;
  return Math.min(rule.maxDelay, rule.delay * 2 ** Math.min(count - rule.freeAttempts, 30));
}

/** The defaults (seconds). Guessing one password is held to about 110 tries a day. */
export const THROTTLE_DEFAULTS: Readonly<Record<'username' | 'address' | 'client' | 'session', Readonly<ThrottleRule>>> = {
  username: { freeAttempts: 5, delay: 2, maxDelay: 900, resetAfter: 86_400 },
  address: { freeAttempts: 20, delay: 1, maxDelay: 300, resetAfter: 3_600 },
  client: { freeAttempts: 10, delay: 1, maxDelay: 300, resetAfter: 3_600 },
  session: { freeAttempts: 2, delay: 2, maxDelay: 60, resetAfter: 600 },
};

/** The `throttle` option of `createAuthorizationServer`. */
export interface ThrottleOptions {
  /** `false` turns counting off (scrypt work stays bounded). Default `true`. */
  enabled?: boolean;
  /**
   * Where the counters live. Default: `storage.attempts` (the SQL storage's table, shared by
   * every server on the same database), else a per-process memory store (a warning is logged).
   */
  store?: AttemptStore;
  /** Failed sign-ins per username (unknown usernames count alike). */
  username?: Partial<ThrottleRule>;
  /** Failed sign-ins and client authentications per client address (IPv6: per /64). */
  address?: Partial<ThrottleRule>;
  /** Failed client authentications (secret or `private_key_jwt`) per `client_id`. */
  client?: Partial<ThrottleRule>;
  /** Failed passwords and one-time codes per first-party sign-in flow (its `auth_session`s). */
  session?: Partial<ThrottleRule>;
  /** Behind a reverse proxy: the header it sets and its addresses. Default: the socket address only. */
  trustProxy?: TrustProxyOptions;
  /** Bound on concurrent scrypt verifications (password and client secret). */
  scrypt?: ScryptGateOptions;
}

type Kind = 'username' | 'address' | 'client' | 'session';

/** Seconds a read of "no failures on this key" is reused by `check()` (see `clean` below). */
export const CLEAN_READ_LIFETIME = 1;
/** Bound on the keys remembered as clean (the memo is emptied when full). */
const CLEAN_READ_ENTRIES = 10_000;

/** Why an attempt is refused before any credential is evaluated. */
export class ThrottledError extends Error {
  override readonly name = 'ThrottledError';
  constructor(
    /** `blocked`: too many failures (429); `busy`: the scrypt queue is full (503). */
    readonly reason: 'blocked' | 'busy',
    /** Whole seconds to wait (`Retry-After`). */
    readonly retryAfter: number,
  ) {
    super(reason === 'blocked' ? `too many failed attempts; try again in ${retryAfter} s` : 'the server is busy verifying credentials; try again shortly');
  }
}

/**
 * The token-endpoint form of a refusal. RFC 6749 §5.2 has no code for "too many attempts":
 * the status says it, 429 with `Retry-After` (RFC 6585 §4), and the code is
 * `temporarily_unavailable` (registered, RFC 6749 §4.1.2.1: retry later), as for the replay
 * quota; `invalid_client` would tell a well-configured client its secret is wrong. The scrypt
 * queue being full is the server's condition: 503. The stable reason leads the description.
 */
export function throttledOAuthError(err: ThrottledError): OAuthError {
  const headers = { 'Retry-After': String(err.retryAfter) };
  return err.reason === 'blocked'
    ? new OAuthError('temporarily_unavailable', 'throttled', `too many failed client authentications; try again in ${err.retryAfter} s`, { status: 429, headers })
    : new OAuthError('temporarily_unavailable', 'busy', err.message, { status: 503, headers });
}

/** One request's attempt at a credential, over its keys (account and address). */
export interface Attempt {
  /** Refuse ({@link ThrottledError}) while any key is blocked: call before evaluating anything. */
  check(): Promise<void>;
  /**
   * Run one scrypt verification: in the scrypt gate, counted (atomically refused if a key got
   * blocked meanwhile) before it starts; a success clears the account and refunds the address.
   * With `partial` (a password that still needs a one-time code), a success only takes back its
   * own count on every key: the sign-in is decided by the next factor.
   */
  verify(task: () => Promise<boolean>, options?: { partial?: boolean }): Promise<boolean>;
  /** A failure found without scrypt (bad assertion, unknown client): count it. */
  failed(): Promise<void>;
  /** A success found without scrypt (cached secret, valid assertion): clear the account's count. */
  succeeded(): Promise<void>;
}

export interface Throttle {
  /** Remember the peer address the transport passed with a request (`as.fetch(request, info)`). */
  observe(request: AsRequest, info: ConnectionInfo | undefined): void;
  /**
   * The sign-in form and the authorization challenge endpoint: keys are the username (known or
   * not), the client address and, for a first-party flow under way, its flow id.
   */
  signIn(request: AsRequest, username: string, now: number, flow?: string): Attempt;
  /** Client authentication: keys are the `client_id` and the client address. */
  client(request: AsRequest, clientId: string, now: number): Attempt;
  /**
   * Count one event of kind `name` from the request's client address under `rule` (client
   * registrations, RFC 7591); throws {@link ThrottledError} while that address is blocked. A
   * request whose address is unknown, or throttling off, is not counted.
   */
  perAddress(request: AsRequest, name: string, rule: ThrottleRule, now: number): Promise<void>;
  purge(now: number): Promise<void>;
  /** The scrypt gate (also used where no throttling applies). */
  readonly gate: ScryptGate;
}

function rule(given: Partial<ThrottleRule> | undefined, base: ThrottleRule, name: string): ThrottleRule {
  const out = { ...base, ...given };
  for (const key of ['freeAttempts', 'delay', 'maxDelay', 'resetAfter'] as const) {
    const v = out[key];
    if (!Number.isInteger(v) || v < 1 || v > 366 * 86_400) throw invalidArgument(`throttle.${name}.${key} must be a positive integer (seconds or a count)`);
  }
  if (out.maxDelay < out.delay) throw invalidArgument(`throttle.${name}.maxDelay must be at least throttle.${name}.delay`);
  return out;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** Counter keys: usernames and client ids hashed (fixed length; no typed password kept in clear). */
export function attemptKey(kind: Kind, value: string): string {
  if (kind === 'address') return `a:${value}`;
  return `${kind === 'username' ? 'u' : kind === 'client' ? 'c' : 's'}:${sha256(value)}`;
}

/** Errors of a store (a database outage) do not switch throttling off: the process counts alone. */
function resilient(primary: AttemptStore, log: Logger): AttemptStore {
  const local = createMemoryAttemptStore();
  let reported = 0;
  const fallback = <T>(op: string, run: (s: AttemptStore) => Promise<T>): Promise<T> =>
    run(primary).catch((err: unknown) => {
      const at = Date.now();
      if (at - reported > 60_000) {
        reported = at;
        log.error({ err, op }, 'throttle store failure: counting failed attempts in this process only');
      }
      return run(local);
    });
  return {
    peek: (keys, now) => fallback('peek', (s) => s.peek(keys, now)),
    hit: (key, now, r) => fallback('hit', (s) => s.hit(key, now, r)),
    refund: (key, now, r) => fallback('refund', (s) => s.refund(key, now, r)),
    clear: (key) => fallback('clear', (s) => s.clear(key)),
    purge: async (now) => {
      await Promise.all([primary.purge(now).catch(() => {}), local.purge(now)]);
    },
  };
}

export interface ThrottleDeps {
  /** `storage.attempts`, when the storage offers one. */
  storageStore: AttemptStore | undefined;
  log: Logger;
}

/** Build the throttle of one server from its options (validated here: TypeError naming the key). */
export function createThrottle(options: ThrottleOptions | undefined, deps: ThrottleDeps): Throttle {
  const o = options ?? {};
  if (typeof o !== 'object') throw invalidArgument('throttle must be an object');
  const enabled = o.enabled ?? true;
  const rules: Record<Kind, ThrottleRule> = {
    username: rule(o.username, THROTTLE_DEFAULTS.username, 'username'),
    address: rule(o.address, THROTTLE_DEFAULTS.address, 'address'),
    client: rule(o.client, THROTTLE_DEFAULTS.client, 'client'),
    session: rule(o.session, THROTTLE_DEFAULTS.session, 'session'),
  };
  const resolveAddress: AddressResolver = createAddressResolver(o.trustProxy);
  const gate = createScryptGate(o.scrypt);
  const { log } = deps;
  let chosen = o.store ?? deps.storageStore;
  if (enabled && chosen === undefined) {
    log.warn({}, 'throttle: the storage has no attempt store; failed attempts are counted per process (give throttle.store to share them)');
    chosen = createMemoryAttemptStore();
  }
  const store = enabled && chosen ? resilient(chosen, log) : undefined;

  // Keys this server read as clean (no live entry) a moment ago: key → epoch seconds until which
  // that read stands. The hot path, a known client presenting its right secret, then reads the
  // store once per key per CLEAN_READ_LIFETIME instead of on every request (one database round
  // trip per token request otherwise). Safe for a fleet: a wrong guess is never decided from
  // this memo, only by the store's atomic hit (which refuses a blocked key and drops the memo),
  // so a block set by another server lets through, before this server sees it, at most the
  // requests carrying the one right secret: one guess per server, not an oracle.
  const clean = new Map<string, number>();
  const forget = (key: string) => clean.delete(key);
  const remember = (key: string, now: number) => {
    if (clean.size >= CLEAN_READ_ENTRIES) clean.clear();
    clean.set(key, now + CLEAN_READ_LIFETIME);
  };

  const peers = new WeakMap<AsRequest, string>();
  let warnedNoAddress = false;
  let warnedProxy = false;
  const addressOf = (request: AsRequest): string | undefined => {
    const peer = peers.get(request);
    const address = resolveAddress(request, peer);
    if (!o.trustProxy && !warnedProxy && (request.headers.has('x-forwarded-for') || request.headers.has('forwarded'))) {
      warnedProxy = true;
      log.warn({}, 'throttle: requests carry X-Forwarded-For/Forwarded but throttle.trustProxy is not set: every client behind the proxy shares its address counter');
    }
    if (address === undefined && !warnedNoAddress) {
      warnedNoAddress = true;
      log.warn({}, 'throttle: the client address is unknown (serve it with dpopkit/authorization-server/node or /express, pass { remoteAddress } to as.fetch, or set throttle.trustProxy): no counting by address');
    }
    return address;
  };

  const attempt = (request: AsRequest, kind: 'username' | 'client', value: string, now: number, flow?: string): Attempt => {
    if (!store) {
      return {
        check: async () => {},
        verify: (task) => runGated(task),
        failed: async () => {},
        succeeded: async () => {},
      };
    }
    const address = addressOf(request);
    const keys: Array<{ key: string; kind: Kind }> = [{ key: attemptKey(kind, value), kind }];
    if (address !== undefined) keys.push({ key: attemptKey('address', address), kind: 'address' });
    if (flow !== undefined) keys.push({ key: attemptKey('session', flow), kind: 'session' });
    let seen: Map<string, AttemptState> | undefined;
    let counted = false;

    const report = (results: AttemptResult[]) => {
      results.forEach((r, i) => {
        if (r.counted && r.blockedUntil > now) {
          const { kind: k } = keys[i]!;
          // Usernames are not logged (people type passwords into that field); addresses and client ids are.
          const subject = k === 'address' ? { address } : k === 'client' ? { clientId: value } : {};
          log.warn({ throttle: k, ...subject, failures: r.count, retryAfter: r.blockedUntil - now }, 'failed attempts: blocked');
        }
      });
    };
    /** Count one attempt on every key; when one is blocked, take back the others and refuse. */
    const hitAll = async (): Promise<void> => {
      for (const { key } of keys) forget(key);
      const results = await Promise.all(keys.map(({ key, kind: k }) => store.hit(key, now, rules[k])));
      const refused = results.filter((r) => !r.counted);
      if (refused.length > 0) {
        await Promise.all(results.map((r, i) => (r.counted ? store.refund(keys[i]!.key, now, rules[keys[i]!.kind]) : undefined)));
        throw new ThrottledError('blocked', Math.max(1, Math.max(...refused.map((r) => r.blockedUntil)) - now));
      }
      report(results);
    };

    return {
      async check() {
        if (keys.every(({ key }) => (clean.get(key) ?? 0) > now)) return;
        seen = await store.peek(keys.map((k) => k.key), now);
        let until = 0;
        for (const state of seen.values()) until = Math.max(until, state.blockedUntil);
        if (until > now) throw new ThrottledError('blocked', until - now);
        // Clean: no entry, or one whose attempts were all taken back (a refunded address).
        for (const { key } of keys) {
          const state = seen.get(key);
          if (state === undefined || (state.count === 0 && state.blockedUntil <= now)) remember(key, now);
        }
      },
      async verify(task, options = {}) {
        counted = true;
        // Counted inside the gate, right before the work: a queued guess meets the newest block.
        const ok = await runGated(async () => {
          await hitAll();
          return task();
        });
        if (ok) {
          await Promise.all(keys.map(({ key, kind: k }) => (k === 'address' || options.partial ? store.refund(key, now, rules[k]) : store.clear(key))));
        }
        return ok;
      },
      async failed() {
        if (counted) return;
        counted = true;
        for (const { key } of keys) forget(key);
        const results = await Promise.all(keys.map(({ key, kind: k }) => store.hit(key, now, rules[k])));
        report(results);
      },
      async succeeded() {
        if (counted) return;
        // The account (and a first-party flow, which ends here); never the address. Only a key
        // that has failures costs a write: the hot path (a known client) writes nothing.
        const cleared = keys.filter(({ key, kind: k }) => k !== 'address' && seen?.has(key));
        await Promise.all(cleared.map(({ key }) => store.clear(key)));
      },
    };
  };

  async function runGated(task: () => Promise<boolean>): Promise<boolean> {
    try {
      return await gate.run(task);
    } catch (err) {
      if (err instanceof ScryptBusyError) throw new ThrottledError('busy', 1);
      throw err;
    }
  }

  return {
    gate,
    observe(request, info) {
      const peer = peerAddress(info);
      if (peer !== undefined) peers.set(request, peer);
    },
    signIn: (request, username, now, flow) => attempt(request, 'username', username, now, flow),
    client: (request, clientId, now) => attempt(request, 'client', clientId, now),
    async perAddress(request, name, r, now) {
      const address = store ? addressOf(request) : undefined;
      if (!store || address === undefined) return;
      const result = await store.hit(`${name}:${address}`, now, r);
      if (!result.counted) throw new ThrottledError('blocked', Math.max(1, result.blockedUntil - now));
      if (result.blockedUntil > now) log.warn({ throttle: name, address, count: result.count, retryAfter: result.blockedUntil - now }, 'events from one address: blocked');
    },
    purge: async (now) => {
      await store?.purge(now);
    },
  };
}
