/**
 * The DPoP settings a server role fixes once: `dpop` of `createResourceServer` and of
 * `createAuthorizationServer` (which adds `replayQuota`), named as in `verifyProof`'s
 * expectations, and checked in one place so both roles refuse the same mistakes alike.
 *
 * @module
 */
import { invalidArgument } from './argument-error.js';
import { DEFAULT_ALGORITHMS, isSupportedAlgorithm } from './crypto/algorithms.js';
import { nonceSourceFrom, type NonceOptions, type NonceSource } from './nonce.js';

export interface DPoPOptions {
  /** Accepted proof algorithms (default: every asymmetric one dpopkit supports). */
  algs?: readonly string[];
  /**
   * Server nonces (RFC 9449 §8, §9): `false` (default), a `NonceSource`, or
   * `{ secret?, stepSeconds? }` for the stateless HMAC source; see {@link NonceOptions}.
   */
  nonce?: NonceOptions;
  /** Seconds a proof may be old (default 300). */
  maxAge?: number;
  /** Seconds a proof may be ahead of the server clock (default 5). */
  maxFuture?: number;
  /**
   * Check proof signatures on Node's libuv threadpool (default `true`): the event loop serves
   * other requests meanwhile, so one process uses the machine's spare cores; the same CPU per
   * proof. `false` checks each inline (one process per core, e.g. `--workers`, gains nothing
   * from it). See `createProofVerifier`'s `threadpool`.
   */
  threadpool?: boolean;
}

/** {@link DPoPOptions} with defaults applied and the nonce source built. */
export interface ResolvedDPoPOptions {
  algs: readonly string[];
  nonce: NonceSource | undefined;
  maxAge: number;
  maxFuture: number;
  threadpool: boolean;
}

/**
 * Check `dpop` options and apply the defaults.
 *
 * @param name The option's name in messages (`dpop`).
 * @param clock The role's clock (epoch seconds), for the nonce source.
 * @throws TypeError (`ERR_INVALID_ARG_VALUE`) naming the bad member.
 */
export function resolveDPoPOptions(options: DPoPOptions | undefined, name = 'dpop', clock?: () => number): ResolvedDPoPOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw invalidArgument(`${name} must be an object`, 'ERR_INVALID_ARG_TYPE');
  if (options.algs !== undefined && (!Array.isArray(options.algs) || options.algs.length === 0)) throw invalidArgument(`${name}.algs must be a non-empty array of algorithms`);
  const algs = [...(options.algs ?? DEFAULT_ALGORITHMS)];
  for (const alg of algs) if (!isSupportedAlgorithm(alg)) throw invalidArgument(`${name}.algs: unsupported algorithm ${String(alg)}`);
  const maxAge = options.maxAge ?? 300;
  if (!Number.isInteger(maxAge) || maxAge <= 0) throw invalidArgument(`${name}.maxAge must be a positive integer (seconds)`);
  const maxFuture = options.maxFuture ?? 5;
  if (!Number.isInteger(maxFuture) || maxFuture < 0) throw invalidArgument(`${name}.maxFuture must be a non-negative integer (seconds)`);
  const threadpool = options.threadpool ?? true;
  if (typeof threadpool !== 'boolean') throw invalidArgument(`${name}.threadpool must be a boolean`);
  return { algs, nonce: nonceSourceFrom(options.nonce, `${name}.nonce`, clock), maxAge, maxFuture, threadpool };
}
