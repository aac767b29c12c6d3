/**
 * JWT access tokens (RFC 9068): signature against the issuer's JWKS, `typ`, `alg` allow-list
 * (asymmetric only), `iss`, `aud`, `exp`, `nbf`, and the DPoP binding `cnf.jkt`. On the hot path:
 * no jose, keys imported once per `kid` by the core crypto backend, protected headers parsed once
 * per distinct header segment.
 *
 * @module
 */
import { backend } from '#crypto';
import { invalidArgument } from '../../core/argument-error.js';
import { BoundedCache, isBase64url } from '../../core/proof/parse.js';
import { invalidToken, unavailable } from '../errors.js';
import { checkAudience, checkIssuer, checkTimes, readBinding, type ClaimPolicy } from './claims.js';
import { PeerError } from './http.js';
import type { JwksSource } from './jwks.js';
import type { TokenInfo, TokenValidator } from './types.js';

/** RFC 9068 §2.1: `at+jwt`; `application/at+jwt` is the same media type written in full (RFC 7515 §4.1.9). */
export const DEFAULT_ACCESS_TOKEN_TYPES: readonly string[] = ['at+jwt', 'application/at+jwt'];
/** RFC 9068 §4: asymmetric algorithms only (never `none`, never HMAC with a shared secret). */
export const DEFAULT_ACCESS_TOKEN_ALGS: readonly string[] = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

/** Longest access token read at all. */
const MAX_TOKEN_LENGTH = 16384;

export interface JwtValidatorOptions {
  policy: ClaimPolicy;
  jwks: JwksSource;
  algs?: readonly string[];
  types?: readonly string[];
  /**
   * Verified tokens remembered (default 1000; 0 turns it off). A client sends the same token
   * with every request until it expires: a hit skips the token's signature check (never the
   * proof's), while `exp`/`nbf` are checked every time and a new JWK Set invalidates every entry.
   */
  cacheSize?: number;
  /** Clock in epoch seconds (tests). */
  clock?: () => number;
}

interface Verified {
  /** The whole token: a hit must equal it exactly (the key is only its signature). */
  token: string;
  info: TokenInfo;
  claims: Record<string, unknown>;
  generation: number;
}

interface Header {
  segment: string;
  alg: string;
  kid: string | undefined;
}

/** Whether a token looks like a JWS (three base64url segments): the JWT path applies. */
export function isJwtShaped(token: string): boolean {
  const first = token.indexOf('.');
  if (first <= 0) return false;
  const second = token.indexOf('.', first + 1);
  return second > first + 1 && second < token.length - 1 && token.indexOf('.', second + 1) === -1;
}

function decodeObject(segment: string): Record<string, unknown> | undefined {
  if (!isBase64url(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(backend.base64urlDecodeText(segment));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function createJwtValidator(options: JwtValidatorOptions): TokenValidator {
  const algs = new Set(options.algs ?? DEFAULT_ACCESS_TOKEN_ALGS);
  for (const alg of algs) {
    if (alg === 'none' || alg.startsWith('HS')) throw invalidArgument(`accessTokenAlgs: ${alg} is not an asymmetric algorithm (RFC 9068 §4)`);
  }
  const types = new Set((options.types ?? DEFAULT_ACCESS_TOKEN_TYPES).map((t) => t.toLowerCase()));
  const clock = options.clock ?? (() => Date.now() / 1000);
  const headers = new BoundedCache<string, Header>(256);
  const cacheSize = options.cacheSize ?? 1000;
  const verified = cacheSize > 0 ? new BoundedCache<string, Verified>(cacheSize) : undefined;

  function parseHeader(segment: string): Header {
    const cached = headers.get(segment);
    if (cached) return cached;
    const header = decodeObject(segment);
    if (!header) throw invalidToken('token_malformed', 'the access token header is not a base64url JSON object');
    // RFC 9068 §4: typ must be at+jwt (or application/at+jwt); refuses ID tokens and other JWTs.
    if (typeof header.typ !== 'string' || !types.has(header.typ.toLowerCase())) {
      throw invalidToken('token_bad_typ', `the access token "typ" ${JSON.stringify(header.typ)} is not an accepted access-token type`);
    }
    if (typeof header.alg !== 'string' || !algs.has(header.alg)) {
      throw invalidToken('token_alg_not_allowed', `the access token "alg" ${JSON.stringify(header.alg)} is not allowed`);
    }
    // RFC 7515 §4.1.11: no critical extension is understood here.
    if ('crit' in header) throw invalidToken('token_malformed', 'the access token header has critical extensions this server does not understand');
    if (header.kid !== undefined && typeof header.kid !== 'string') throw invalidToken('token_malformed', 'the access token "kid" is not a string');
    const entry: Header = { segment, alg: header.alg, kid: header.kid as string | undefined };
    headers.set(segment, entry);
    return entry;
  }

  return {
    async validate(token) {
      if (token.length > MAX_TOKEN_LENGTH || !isJwtShaped(token)) throw invalidToken('token_malformed', 'the access token is not a JWT');
      const first = token.indexOf('.');
      const second = token.indexOf('.', first + 1);
      const signature = token.slice(second + 1);
      if (!isBase64url(signature)) throw invalidToken('token_malformed', 'the access token signature is not base64url');
      const hit = verified?.get(signature);
      if (hit !== undefined && hit.token === token && hit.generation === options.jwks.generation) {
        checkTimes(hit.claims, clock(), options.policy, true);
        return hit.info;
      }
      const header = parseHeader(token.slice(0, first));

      let keys: unknown[];
      try {
        keys = await options.jwks.keysFor(header.alg, header.kid);
      } catch (err) {
        if (err instanceof PeerError || err instanceof Error) throw unavailable('jwks_unavailable', 'the issuer\'s signing keys cannot be fetched', err);
        throw err;
      }
      if (keys.length === 0) throw invalidToken('token_unknown_kid', 'the access token is signed with a key the issuer does not publish', { kid: header.kid, alg: header.alg });

      const signingInput = token.slice(0, second);
      let valid = false;
      for (const key of keys) {
        const result = backend.verifyCompact(header.alg, key, signingInput, signature);
        if (typeof result === 'boolean' ? result : await result) {
          valid = true;
          break;
        }
      }
      if (!valid) throw invalidToken('token_bad_signature', 'the access token signature does not verify');

      const claims = decodeObject(token.slice(first + 1, second));
      if (!claims) throw invalidToken('token_malformed', 'the access token payload is not a JSON object');
      checkIssuer(claims, options.policy, true);
      checkAudience(claims, options.policy, true);
      checkTimes(claims, clock(), options.policy, true);
      const info: TokenInfo = Object.freeze({ claims: Object.freeze(claims), jkt: readBinding(claims) });
      verified?.set(signature, { token, info, claims, generation: options.jwks.generation });
      return info;
    },
  };
}
