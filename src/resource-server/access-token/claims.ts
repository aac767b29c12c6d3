/**
 * Claim checks shared by JWT access tokens (RFC 9068 §4) and introspection responses
 * (RFC 7662 §2.2): issuer, audience, lifetime, and the DPoP binding `cnf.jkt` (RFC 9449 §6).
 *
 * @module
 */
import { invalidToken } from '../errors.js';

export interface ClaimPolicy {
  issuer: string;
  audience: ReadonlySet<string>;
  /** Seconds of clock difference tolerated on `exp` and `nbf`. */
  clockTolerance: number;
}

/** RFC 9068 §4: `iss` must equal the expected issuer exactly. */
export function checkIssuer(claims: Record<string, unknown>, policy: ClaimPolicy, required: boolean): void {
  if (claims.iss === undefined && !required) return;
  if (claims.iss !== policy.issuer) {
    throw invalidToken('token_bad_issuer', 'the access token was not issued by the expected issuer', { iss: claims.iss, expected: policy.issuer });
  }
}

/** RFC 9068 §4: `aud` (a string or an array) must contain one of our identifiers. */
export function checkAudience(claims: Record<string, unknown>, policy: ClaimPolicy, required: boolean): void {
  const aud = claims.aud;
  if (aud === undefined && !required) return;
  const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!values.some((v) => typeof v === 'string' && policy.audience.has(v))) {
    throw invalidToken('token_bad_audience', 'the access token is not meant for this resource server', { aud, expected: [...policy.audience] });
  }
}

/** RFC 7519 §4.1.4–4.1.5 with a small tolerance: not expired, already valid. */
export function checkTimes(claims: Record<string, unknown>, now: number, policy: ClaimPolicy, expRequired: boolean): void {
  const { exp, nbf } = claims;
  if (exp === undefined) {
    if (expRequired) throw invalidToken('token_malformed', 'the access token has no "exp" claim');
  } else if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw invalidToken('token_malformed', 'the access token "exp" claim is not a NumericDate');
  } else if (now >= exp + policy.clockTolerance) {
    throw invalidToken('token_expired', 'the access token has expired', { exp, now });
  }
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) throw invalidToken('token_malformed', 'the access token "nbf" claim is not a NumericDate');
    if (now < nbf - policy.clockTolerance) throw invalidToken('token_not_yet_valid', 'the access token is not valid yet', { nbf, now });
  }
}

/**
 * RFC 9449 §6.1/§6.2: the thumbprint a token is bound to. Extra members of `cnf` are ignored
 * (Keycloak adds `kc-jkt-type`; auth0 node-oauth2-jwt-bearer #254 refused such tokens). A `cnf`
 * without `jkt` binds the token some other way (`x5t#S256`, mTLS) that this server cannot
 * check, so the token is refused rather than accepted as a bearer token.
 */
export function readBinding(claims: Record<string, unknown>): string | undefined {
  if (!('cnf' in claims) || claims.cnf === undefined) return undefined;
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw invalidToken('bad_cnf', 'the access token "cnf" claim is not an object');
  const jkt = (cnf as Record<string, unknown>).jkt;
  if (jkt === undefined) {
    throw invalidToken('unsupported_binding', 'the access token is bound by a confirmation method this resource server cannot check', { cnf: Object.keys(cnf) });
  }
  if (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt)) throw invalidToken('bad_cnf', 'the access token "cnf.jkt" is not a SHA-256 JWK thumbprint');
  return jkt;
}
