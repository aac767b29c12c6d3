/**
 * One function per check of RFC 9449 §4.3, each named for its rule and citing its item.
 * `verify.ts` runs them in order; tests remove them one at a time.
 *
 * @module
 */
import { isSupportedAlgorithm, type DPoPAlgorithm } from '../crypto/algorithms.js';
import { DPoPError, invalidProof } from '../errors.js';
import { explainHtuMismatch, htuMatches } from '../htu.js';
import { MAX_NONCE_LENGTH } from '../nonce.js';
import { MAX_HEADER_MEMBERS } from './parse.js';

/** The claims of a proof after §4.3 (3): required ones present with the right JSON types. */
export interface ProofClaims {
  jti: string;
  htm: string;
  htu: string;
  iat: number;
  ath?: string;
  nonce?: string;
  [claim: string]: unknown;
}

/** The protected header of a proof. */
export interface ProofHeader {
  typ: 'dpop+jwt';
  alg: DPoPAlgorithm;
  jwk: Record<string, unknown>;
  [member: string]: unknown;
}

/** A `jti` longer than this is refused (§11.1: "reject needlessly large jti values"). */
export const MAX_JTI_LENGTH = 256;
/** Members this implementation understands in a `crit` list: none (RFC 7515 §4.1.11). */
const UNDERSTOOD_CRIT: readonly string[] = [];

/** §4.3 (2), header part: a bounded JSON object with no critical extension we do not know. */
export function checkHeaderShape(header: Record<string, unknown>): void {
  if (Object.keys(header).length > MAX_HEADER_MEMBERS) {
    throw invalidProof('header_too_many_members', `the DPoP proof header has more than ${MAX_HEADER_MEMBERS} members`);
  }
  if ('crit' in header) {
    const crit = header.crit;
    if (!Array.isArray(crit) || crit.some((name) => !UNDERSTOOD_CRIT.includes(name as string))) {
      throw invalidProof('malformed', `the DPoP proof header lists critical extensions this server does not understand: ${JSON.stringify(crit)}`);
    }
  }
}

/** §4.3 (4): `typ` is exactly `dpop+jwt` (§11.5: stops other signed JWTs being used as proofs). */
export function checkTyp(header: Record<string, unknown>): void {
  if (header.typ !== 'dpop+jwt') {
    throw invalidProof('bad_typ', `the "typ" header must be "dpop+jwt", not ${JSON.stringify(header.typ)}`);
  }
}

/** §4.3 (5): `alg` asymmetric, supported and allowed (never `none`, never a MAC: §11.6). */
export function checkAlg(alg: unknown, allowed: ReadonlySet<string>): asserts alg is DPoPAlgorithm {
  if (!isSupportedAlgorithm(alg) || !allowed.has(alg)) {
    throw invalidProof('alg_not_allowed', `the "alg" ${JSON.stringify(alg)} is not allowed; allowed: ${[...allowed].join(' ')}`);
  }
}

/** §4.3 (3): the claims of §4.2 are present with the right JSON types. */
export function checkClaimTypes(claims: Record<string, unknown>): ProofClaims {
  for (const name of ['jti', 'htm', 'htu'] as const) {
    const value = claims[name];
    if (value === undefined) throw invalidProof('missing_claim', `the DPoP proof has no "${name}" claim`);
    if (typeof value !== 'string' || value.length === 0) throw invalidProof('bad_claim', `the "${name}" claim must be a non-empty string`);
  }
  if ((claims.jti as string).length > MAX_JTI_LENGTH) {
    throw invalidProof('bad_claim', `the "jti" claim is longer than ${MAX_JTI_LENGTH} characters`);
  }
  if (claims.iat === undefined) throw invalidProof('missing_claim', 'the DPoP proof has no "iat" claim');
  if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat) || claims.iat < 0) {
    throw invalidProof('bad_claim', 'the "iat" claim must be a NumericDate (a non-negative number of seconds)');
  }
  if (claims.ath !== undefined && typeof claims.ath !== 'string') throw invalidProof('bad_claim', 'the "ath" claim must be a string');
  if (claims.nonce !== undefined && (typeof claims.nonce !== 'string' || claims.nonce.length === 0 || claims.nonce.length > MAX_NONCE_LENGTH)) {
    throw invalidProof('bad_claim', `the "nonce" claim must be a string of 1 to ${MAX_NONCE_LENGTH} characters`);
  }
  return claims as ProofClaims;
}

/** §4.3 (6): the signature verifies with the key in `jwk`. */
export function checkSignature(valid: boolean): void {
  if (!valid) throw invalidProof('bad_signature', 'the DPoP proof signature does not verify with its "jwk"');
}

/** §4.3 (8): `htm` equals the request method, case-sensitively (RFC 9110 §9.1). */
export function checkHtm(claims: ProofClaims, method: string): void {
  if (claims.htm !== method) {
    throw invalidProof('htm_mismatch', `the "htm" claim ${JSON.stringify(claims.htm)} does not match the request method ${JSON.stringify(method)}`, { expected: method, received: claims.htm });
  }
}

/** §4.3 (9): `htu` equals the request URI after RFC 3986 normalisation, query and fragment ignored. */
export function checkHtu(claims: ProofClaims, url: string): void {
  if (!htuMatches(claims.htu, url)) {
    const detail = explainHtuMismatch(claims.htu, url);
    throw invalidProof('htu_mismatch', `the "htu" claim ${JSON.stringify(claims.htu)} does not match the request URI`, detail);
  }
}

/** §4.3 (12) / §7.1: with an access token, `ath` is present and equals its hash. */
export function checkAth(claims: ProofClaims, expectedAth: string): void {
  if (claims.ath === undefined) throw invalidProof('ath_missing', 'the DPoP proof has no "ath" claim, but an access token was presented');
  if (claims.ath !== expectedAth) throw invalidProof('ath_mismatch', 'the "ath" claim does not match the hash of the presented access token');
}

/**
 * §4.3 (12) / §10: the proof's key is the one the token (`cnf.jkt`) or the code (`dpop_jkt`) is
 * bound to. A failed binding at a resource server is `invalid_token` (§7.1).
 */
export function checkJkt(jkt: string, expected: string, error: 'invalid_token' | 'invalid_dpop_proof' = 'invalid_dpop_proof'): void {
  if (jkt !== expected) {
    throw new DPoPError(error, 'jkt_mismatch', 'the DPoP proof key does not match the key the token is bound to', { detail: { expected, received: jkt } });
  }
}

/** How long a proof stays acceptable around the server's clock (§11.1). */
export interface IatWindow {
  /** Seconds a proof may be old (default 300). */
  maxAge: number;
  /** Seconds a proof's `iat` may lie in the future, for client clock offsets (default 5). */
  maxFuture: number;
}

/** §4.3 (11): `iat` is inside the window. The message says both times: clock skew is the usual cause. */
export function checkIat(claims: ProofClaims, now: number, window: IatWindow): void {
  const age = now - claims.iat;
  if (age > window.maxAge || -age > window.maxFuture) {
    const where = age > 0 ? `${Math.round(age)} s in the past` : `${Math.round(-age)} s in the future`;
    throw invalidProof(
      'iat_out_of_window',
      `the proof's "iat" ${claims.iat} is ${where} of server time ${Math.floor(now)}; accepted: ${window.maxAge} s back, ${window.maxFuture} s ahead (check the client's clock)`,
      { iat: claims.iat, now, maxAge: window.maxAge, maxFuture: window.maxFuture },
    );
  }
}
