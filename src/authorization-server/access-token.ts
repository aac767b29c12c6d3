/**
 * JWT access tokens (RFC 9068) with the DPoP confirmation claim (RFC 9449 §6.1), signed by the
 * current signing key, and the check of this server's own tokens for introspection and
 * revocation.
 *
 * @module
 */
import { backend } from '#crypto';
import type { SigningKeys } from './signing-keys.js';
import { randomToken } from './secrets.js';

/** The claims of an access token this server issues (RFC 9068 §2.2). */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  client_id: string;
  scope?: string;
  iat: number;
  exp: number;
  jti: string;
  /** RFC 9449 §6.1: the thumbprint of the key the token is bound to. */
  cnf?: { jkt: string };
  auth_time?: number;
  /** RFC 9470 §3 / RFC 9068 §2.2.1: the authentication context class of the sign-in. */
  acr?: string;
  /** RFC 8176 authentication methods of the sign-in. */
  amr?: string[];
  /** Opaque reference to the grant (code) the token descends from; see grants/grant-revocation.ts. */
  gid?: string;
}

export interface IssueInput {
  issuer: string;
  subject: string;
  audience: string | string[];
  clientId: string;
  scope: string;
  /** Bind the token to this key (RFC 9449 §6). */
  jkt?: string;
  ttl: number;
  now: number;
  authTime?: number;
  acr?: string | undefined;
  amr?: readonly string[] | undefined;
  /** `gid` claim (grant reference). */
  grantReference?: string;
  /** Sign on the threadpool (`dpop.threadpool`): the event loop serves other requests meanwhile. */
  offThread?: boolean;
}

/** Sign an RFC 9068 access token: header `{ alg, typ: "at+jwt", kid }` (cached per key). */
export async function issueAccessToken(keys: SigningKeys, input: IssueInput): Promise<{ token: string; claims: AccessTokenClaims }> {
  const key = await keys.active(input.now);
  const iat = Math.floor(input.now);
  const claims: AccessTokenClaims = {
    iss: input.issuer,
    sub: input.subject,
    aud: input.audience,
    client_id: input.clientId,
    iat,
    exp: iat + input.ttl,
    jti: randomToken(16),
  };
  if (input.scope) claims.scope = input.scope;
  if (input.jkt !== undefined) claims.cnf = { jkt: input.jkt };
  if (input.authTime !== undefined) claims.auth_time = input.authTime;
  if (input.acr !== undefined) claims.acr = input.acr;
  if (input.amr !== undefined) claims.amr = [...input.amr];
  if (input.grantReference !== undefined) claims.gid = input.grantReference;
  const signingInput = `${key.headerSegment}.${backend.base64urlEncode(JSON.stringify(claims))}`;
  const signature = input.offThread && backend.signOffThread
    ? await backend.signOffThread(key.alg, key.privateKey, signingInput)
    : await backend.sign(key.alg, key.privateKey, signingInput);
  return { token: `${signingInput}.${backend.base64urlEncode(signature)}`, claims };
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Whether a token string has the shape of a compact JWS (and so may be one of our access tokens). */
export function looksLikeJwt(token: string): boolean {
  return token.length <= 16384 && JWT.test(token);
}

/**
 * Verify an access token this server issued: signature by a published key, `typ`, `iss`.
 * Expiry is the caller's decision (revocation accepts expired tokens as a no-op).
 *
 * @returns the claims, or `undefined` when the token is not one of ours.
 */
export async function readAccessToken(keys: SigningKeys, issuer: string, token: string, now: number): Promise<AccessTokenClaims | undefined> {
  if (!looksLikeJwt(token)) return undefined;
  const [h, p, s] = token.split('.') as [string, string, string];
  let header: { alg?: unknown; typ?: unknown; kid?: unknown };
  let claims: AccessTokenClaims;
  try {
    header = JSON.parse(backend.base64urlDecodeText(h));
    claims = JSON.parse(backend.base64urlDecodeText(p));
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null || typeof header.kid !== 'string' || header.typ !== 'at+jwt') return undefined;
  const key = await keys.verificationKey(header.kid, now);
  if (!key || key.alg !== header.alg) return undefined;
  const valid = await backend.verify(key.alg, key.key, `${h}.${p}`, backend.base64urlDecode(s));
  if (!valid || typeof claims !== 'object' || claims === null) return undefined;
  if (claims.iss !== issuer || typeof claims.jti !== 'string' || typeof claims.exp !== 'number') return undefined;
  return claims;
}
