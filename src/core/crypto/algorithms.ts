/**
 * The JWS algorithms DPoP may use (RFC 9449 §4.2: asymmetric only; never `none` or a MAC) and
 * the key each one needs (RFC 7518 §3, RFC 8037 §3.1). Shared by both crypto backends.
 *
 * @module
 */
import { invalidArgument } from '../argument-error.js';

export type DPoPAlgorithm =
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA' | 'Ed25519'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512';

export interface AlgorithmSpec {
  kty: 'EC' | 'OKP' | 'RSA';
  /** Curve for EC and OKP keys. */
  crv?: string;
  /** Hash for RSA and ECDSA; EdDSA hashes internally. */
  hash?: 'SHA-256' | 'SHA-384' | 'SHA-512';
  /** Coordinate length in bytes for EC keys (and signature half-length). */
  size?: number;
  pss?: boolean;
}

export const ALGORITHMS: Readonly<Record<DPoPAlgorithm, AlgorithmSpec>> = {
  ES256: { kty: 'EC', crv: 'P-256', hash: 'SHA-256', size: 32 },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'SHA-384', size: 48 },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'SHA-512', size: 66 },
  // RFC 8037 "EdDSA" with an Ed25519 key, and the fully specified "Ed25519" (RFC 9864).
  EdDSA: { kty: 'OKP', crv: 'Ed25519', size: 32 },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', size: 32 },
  RS256: { kty: 'RSA', hash: 'SHA-256' },
  RS384: { kty: 'RSA', hash: 'SHA-384' },
  RS512: { kty: 'RSA', hash: 'SHA-512' },
  PS256: { kty: 'RSA', hash: 'SHA-256', pss: true },
  PS384: { kty: 'RSA', hash: 'SHA-384', pss: true },
  PS512: { kty: 'RSA', hash: 'SHA-512', pss: true },
};

/** The default allow-list: every algorithm above (RFC 9449 §4.3 (5) "allowed by local policy"). */
export const DEFAULT_ALGORITHMS: readonly DPoPAlgorithm[] = [
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
];

/** Smallest RSA modulus accepted, in bits (NIST SP 800-131A; the `dpop` package agrees). */
export const MIN_RSA_BITS = 2048;

export function isSupportedAlgorithm(alg: unknown): alg is DPoPAlgorithm {
  return typeof alg === 'string' && Object.prototype.hasOwnProperty.call(ALGORITHMS, alg);
}

/** The natural JWS algorithm for a public JWK (RSA defaults to RS256). */
export function algorithmForJwk(jwk: { kty?: unknown; crv?: unknown }): DPoPAlgorithm {
  if (jwk.kty === 'EC') {
    if (jwk.crv === 'P-256') return 'ES256';
    if (jwk.crv === 'P-384') return 'ES384';
    if (jwk.crv === 'P-521') return 'ES512';
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'RSA') return 'RS256';
  throw invalidArgument(`unsupported key: kty ${String(jwk.kty)}, crv ${String(jwk.crv)}`);
}
