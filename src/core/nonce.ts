/**
 * Server nonces (RFC 9449 §8, §9): the `NonceSource` port and a stateless HMAC implementation.
 *
 * A stateless source derives each nonce from a shared secret and the current time step, so every
 * server of a fleet that shares the secret issues and accepts the same nonces, with no storage.
 * A nonce issued in step `s` is accepted during steps `s` and `s + 1`; comparison is constant
 * time (atproto's `===` leaks timing). Values are 43 base64url characters: valid NQCHAR (§8.1).
 *
 * @module
 */
import { backend } from '#crypto';
import { invalidArgument } from './argument-error.js';

/** The outcome of checking a nonce: when valid, the time (epoch seconds) it stops being valid. */
export type NonceCheck = { valid: true; expiresAt: number } | { valid: false };

export interface NonceSource {
  /** The nonce to hand out now (in `DPoP-Nonce`). */
  current(now?: number): string | Promise<string>;
  /** Whether `nonce` is still acceptable. Never throws for bad input. */
  check(nonce: string, now?: number): NonceCheck | Promise<NonceCheck>;
}

export interface StatelessNonceOptions {
  /** At least 32 bytes of secret, shared by every server that must accept the same nonces. */
  secret: Uint8Array | string;
  /** Length of a time step in seconds (default 60): a nonce lives one to two steps. */
  stepSeconds?: number;
  /** Clock, in epoch seconds (for tests). */
  clock?: () => number;
}

/**
 * How a server role gets its nonces (`dpop.nonce` of `createResourceServer` and
 * `createAuthorizationServer`; RFC 9449 §8, §9):
 *
 * - `false` (the default): no nonces;
 * - a {@link NonceSource} of your own;
 * - `{ secret?, stepSeconds? }`: the stateless HMAC source of {@link createNonceSource}. Give the
 *   same `secret` (at least 32 bytes) to every process that must accept the same nonces; without
 *   one, a random secret is drawn per process, which is right for one process only (a nonce
 *   issued by one process of a fleet would be refused by the next, and none survives a restart).
 */
export type NonceOptions = false | NonceSource | { secret?: string | Uint8Array; stepSeconds?: number };

/**
 * The nonce source `options` describe, or `undefined` for `false`/absent.
 *
 * @param name The option's name in messages (`dpop.nonce`).
 * @param clock The role's clock (epoch seconds).
 * @throws TypeError (`ERR_INVALID_ARG_VALUE`) for anything that is none of the three forms.
 */
export function nonceSourceFrom(options: NonceOptions | undefined, name = 'dpop.nonce', clock?: () => number): NonceSource | undefined {
  if (options === undefined || options === false) return undefined;
  if (options === null || typeof options !== 'object') {
    throw invalidArgument(`${name} must be false, a NonceSource or { secret?, stepSeconds? } (got ${JSON.stringify(options)})`);
  }
  if (typeof (options as NonceSource).current === 'function' && typeof (options as NonceSource).check === 'function') return options as NonceSource;
  const { secret, stepSeconds, ...rest } = options as { secret?: string | Uint8Array; stepSeconds?: number };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw invalidArgument(`${name}: unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')} (use { secret?, stepSeconds? })`);
  if (secret !== undefined && typeof secret !== 'string' && !(secret instanceof Uint8Array)) throw invalidArgument(`${name}.secret must be a string or a Uint8Array`, 'ERR_INVALID_ARG_TYPE');
  return createNonceSource({
    // One process only: a fleet must share a configured secret (see NonceOptions).
    secret: secret ?? backend.randomBytes(32),
    ...(stepSeconds !== undefined ? { stepSeconds } : {}),
    ...(clock ? { clock } : {}),
  });
}

/** RFC 8.1 NQCHAR: %x21 / %x23-5B / %x5D-7E. */
export const NONCE_SYNTAX = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Longest nonce a client or server accepts (draft-dpop #92: bound client caches). */
export const MAX_NONCE_LENGTH = 256;

/**
 * Create a stateless, rotating HMAC nonce source.
 *
 * @example
 * ```ts
 * const nonces = createNonceSource({ secret: process.env.DPOP_NONCE_SECRET! });
 * ```
 */
export function createNonceSource(options: StatelessNonceOptions): NonceSource {
  const secret = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
  if (!(secret instanceof Uint8Array) || secret.length < 32) throw invalidArgument('the nonce secret must be at least 32 bytes');
  const step = options.stepSeconds ?? 60;
  if (!Number.isInteger(step) || step < 1) throw invalidArgument('stepSeconds must be a positive integer');
  const clock = options.clock ?? (() => Date.now() / 1000);
  // The two values that can be valid at once, recomputed only when the step changes.
  const values = new Map<number, string>();

  async function valueFor(counter: number): Promise<string> {
    let value = values.get(counter);
    if (value === undefined) {
      value = backend.base64urlEncode(await backend.hmacSha256(secret, `dpop-nonce:${counter}`));
      values.set(counter, value);
      for (const key of values.keys()) if (key < counter - 1) values.delete(key);
    }
    return value;
  }

  return {
    async current(now = clock()) {
      return valueFor(Math.floor(now / step));
    },
    async check(nonce, now = clock()) {
      if (typeof nonce !== 'string') return { valid: false };
      const counter = Math.floor(now / step);
      // Compare against both candidates, always, so timing reveals neither.
      const matchesCurrent = constantTimeEqual(nonce, await valueFor(counter));
      const matchesPrevious = constantTimeEqual(nonce, await valueFor(counter - 1));
      if (matchesCurrent) return { valid: true, expiresAt: (counter + 2) * step };
      if (matchesPrevious) return { valid: true, expiresAt: (counter + 1) * step };
      return { valid: false };
    },
  };
}

/** Compare two strings in time that depends only on the length of `b` (the secret-derived one). */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i) | 0) ^ b.charCodeAt(i);
  return diff === 0;
}
