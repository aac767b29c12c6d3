/**
 * Revoking the access tokens of one grant (RFC 6749 §4.1.2: on code reuse the server SHOULD
 * revoke the tokens issued from the code; RFC 7009 §2.1: revoking a refresh token SHOULD also
 * invalidate the access tokens of the same grant).
 *
 * Access tokens are JWTs and are not stored, so each token of a code-based grant carries `gid`,
 * an opaque reference to its grant; revoking the grant records the revoked marker `grant:<gid>`
 * through `Storage.revokeAccessToken` until every access token of the grant has expired.
 * Introspection honours it; a resource server that only checks the JWT locally cannot (the
 * access-token lifetime bounds the exposure).
 *
 * @module
 */
import type { AsContext } from '../context.js';
import { credentialHash } from '../secrets.js';

/** The `gid` claim for a grant (derived, so the stored code id never leaves the server). */
export function grantReference(grantId: string): string {
  return credentialHash(`gid:${grantId}`);
}

/** The revocation marker of a grant's access tokens. */
export function grantMarker(gid: string): string {
  return `grant:${gid}`;
}

export async function revokeGrantAccessTokens(ctx: AsContext, grantId: string | undefined, now: number): Promise<void> {
  if (grantId === undefined) return;
  await ctx.storage.revokeAccessToken(grantMarker(grantReference(grantId)), now + ctx.ttl.accessToken + 60);
}
