/**
 * What every access-token validator (JWT or introspection) hands to `verify.ts`.
 *
 * @module
 */

/** A validated access token. */
export interface TokenInfo {
  /** JWT claims, or the members of the introspection response. */
  claims: Readonly<Record<string, unknown>>;
  /** `cnf.jkt` when the token is DPoP-bound (RFC 9449 §6). */
  jkt: string | undefined;
}

export interface TokenValidator {
  /** Validate `token` or throw `ResourceServerError` (`invalid_token` 401, or 503). */
  validate(token: string): Promise<TokenInfo>;
}

/** The `fetch` the resource server uses (injectable for tests and custom agents). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;
