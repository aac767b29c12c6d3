/**
 * Errors of the DPoP core.
 *
 * A rejected proof throws {@link DPoPError}: `error` is the RFC's own error name, `reason` a
 * stable machine code (a closed union, so `switch (err.reason)` narrows), `message` says exactly
 * what was wrong. A mistake by the *caller* (bad options, unsupported key) throws a `TypeError`
 * with a `code`, made by `invalidArgument` (argument-error.ts).
 *
 * @module
 */

/** RFC 9449 §5, §7.1, §8, §9 and RFC 6750 §3.1 error names, plus a temporary failure. */
export type DPoPErrorName =
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'invalid_token'
  | 'invalid_request'
  | 'temporarily_unavailable';

/** Stable machine codes for every way a proof (or the request around it) can be refused. */
export type DPoPReason =
  // RFC 9449 §4.3 (1) and §7.1: the header itself
  | 'missing_proof'
  | 'multiple_proofs'
  // input limits (§11.1: memory exhaustion)
  | 'proof_too_large'
  | 'header_too_many_members'
  | 'json_too_deep'
  // §4.3 (2): one well-formed compact JWS
  | 'malformed'
  // §4.3 (3): required claims with the right JSON types
  | 'missing_claim'
  | 'bad_claim'
  // §4.3 (4)–(7)
  | 'bad_typ'
  | 'alg_not_allowed'
  | 'bad_jwk'
  | 'jwk_private'
  | 'jwk_alg_mismatch'
  // a key that verifies signatures made without it (small-order point, RSA e = 1, …): weak-keys.ts
  | 'weak_key'
  | 'bad_signature'
  // §4.3 (8)–(12)
  | 'htm_mismatch'
  | 'htu_mismatch'
  | 'nonce_missing'
  | 'nonce_invalid'
  | 'iat_out_of_window'
  | 'ath_missing'
  | 'ath_mismatch'
  | 'ath_unexpected'
  | 'jkt_mismatch'
  // §11.1 replay
  | 'replayed'
  | 'replay_cache_full'
  | 'replay_cache_unavailable';

/** HTTP status a resource server answers with (RFC 9449 §7.1, RFC 6750 §3.1). An authorization
 *  server answers 400 for `invalid_dpop_proof` and `use_dpop_nonce` instead (RFC 9449 §5, §8). */
const STATUS: Record<DPoPErrorName, number> = {
  invalid_dpop_proof: 401,
  use_dpop_nonce: 401,
  invalid_token: 401,
  invalid_request: 400,
  temporarily_unavailable: 503,
};

export interface DPoPErrorOptions {
  /** A fresh nonce the client should use (sent as `DPoP-Nonce`), for `use_dpop_nonce`. */
  nonce?: string;
  /** Internal detail for logs only (never sent to clients), e.g. expected vs received htu. */
  detail?: Record<string, unknown>;
  cause?: unknown;
}

export class DPoPError extends Error {
  override readonly name = 'DPoPError';
  /** The RFC error name (`invalid_dpop_proof`, `use_dpop_nonce`, …). */
  readonly error: DPoPErrorName;
  /** Stable machine code; tests and metrics key on it. */
  readonly reason: DPoPReason;
  /** Status a resource server answers with; see {@link STATUS}. */
  readonly status: number;
  /** A nonce to send back in `DPoP-Nonce` (only with `use_dpop_nonce`). */
  readonly nonce: string | undefined;
  /** Log-only detail. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(error: DPoPErrorName, reason: DPoPReason, message: string, options: DPoPErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.error = error;
    this.reason = reason;
    this.status = STATUS[error];
    this.nonce = options.nonce;
    this.detail = options.detail;
  }
}

/** Shorthand for the commonest case: the proof itself fails RFC 9449 §4.3. */
export function invalidProof(reason: DPoPReason, message: string, detail?: Record<string, unknown>): DPoPError {
  return new DPoPError('invalid_dpop_proof', reason, message, detail ? { detail } : {});
}

export function isDPoPError(value: unknown): value is DPoPError {
  return value instanceof DPoPError;
}
