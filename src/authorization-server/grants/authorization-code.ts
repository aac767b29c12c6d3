/**
 * The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636, S256 only) and the
 * `dpop_jkt` binding of the code (RFC 9449 §10).
 *
 * Only a request that could redeem the code can use it up or set off reuse revocation: the
 * code is looked up first and client, redirect URI, verifier and key are checked on it, so a
 * code presented by another client (RFC 6749 §4.1.3: refused), or without its verifier or key,
 * leaves the code usable by its client and revokes nothing.
 *
 * @module
 */
import type { VerifiedProof } from '../../core/proof/verify.js';
import { requireKey, requireProofForClient } from '../binding.js';
import type { AsContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { required, type FormParams } from '../form.js';
import { credentialHash, s256 } from '../secrets.js';
import type { ClientRecord } from '../storage.js';
import { tokenResources } from '../resource-indicators.js';
import { revokeGrantAccessTokens } from './grant-revocation.js';
import type { GrantResult } from './types.js';

/** RFC 7636 §4.1: 43–128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * @param spend spends the proof's `jti`; called once the code is known to be redeemable by this
 *   request, before the code is used up.
 */
export async function authorizationCodeGrant(
  ctx: AsContext,
  client: ClientRecord,
  params: FormParams,
  proof: VerifiedProof | undefined,
  spend: () => Promise<void>,
): Promise<GrantResult> {
  const code = required(params, 'code');
  // A first-party client's code may come from the challenge endpoint, which has no redirect URI
  // and PKCE only if the flow had it (draft-ietf-oauth-first-party-apps §6): checked on the code.
  const firstParty = ctx.firstParty.has(client.clientId);
  const redirectUri = firstParty ? params.get('redirect_uri') : required(params, 'redirect_uri');
  const verifier = firstParty ? params.get('code_verifier') : required(params, 'code_verifier');
  if (verifier !== undefined && !VERIFIER.test(verifier)) throw new OAuthError('invalid_request', 'bad_code_verifier', 'code_verifier must be 43–128 unreserved characters (RFC 7636 §4.1)');
  const now = ctx.now();
  const id = credentialHash(code);
  const found = await ctx.storage.findCode(id, now);
  if (!found) throw new OAuthError('invalid_grant', 'invalid_code', 'the authorization code is invalid or expired');
  const { record } = found;
  // RFC 6749 §4.1.3: issued to this client. Another client's attempt changes nothing.
  if (record.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'client_mismatch', 'the authorization code was issued to another client');
  if (record.redirectUri !== undefined && redirectUri === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "redirect_uri" parameter is missing');
  // RFC 6749 §4.1.3: identical to the redirect_uri of the authorization request (none for a challenge code).
  if (record.redirectUri !== redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri_mismatch', 'redirect_uri does not match the authorization request');
  if (record.codeChallenge !== undefined || verifier !== undefined) {
    if (verifier === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "code_verifier" parameter is missing');
    if (s256(verifier) !== record.codeChallenge) throw new OAuthError('invalid_grant', 'pkce_mismatch', 'PKCE verification failed (RFC 7636 §4.6)');
  }
  // RFC 9449 §10 (and first-party §9.5.1): the proof's key must be the one the code is bound to.
  requireKey(record.dpopJkt, proof, 'authorization code');
  // A first-party client's tokens are always DPoP-bound (the token endpoint leaves this check
  // for its codes to here, so a code bound to a key answers a missing proof with invalid_grant).
  requireProofForClient(client, proof);
  if (found.used) throw await codeReused(ctx, client, record.id, now);
  // RFC 8707 §2.2: a token request may only narrow the resources of the authorization request.
  const resources = tokenResources(ctx.resources, client, params, record.resources);
  await spend();
  const result = await ctx.storage.consumeCode(id, now, client.clientId);
  if (result.outcome === 'missing') throw new OAuthError('invalid_grant', 'invalid_code', 'the authorization code is invalid or expired');
  if (result.outcome === 'reused') throw await codeReused(ctx, client, record.id, now);
  const grant: GrantResult = { subject: record.subject, scope: record.scope, authTime: record.authTime, grantId: record.id, startFamily: { grantId: record.id }, resources };
  if (record.acr !== undefined) grant.acr = record.acr;
  if (record.amr !== undefined) grant.amr = record.amr;
  if (record.challenge) grant.challenge = true;
  return grant;
}

/** RFC 6749 §4.1.2 / RFC 9700 §4.14: a second redemption is an attack; revoke what the first issued. */
async function codeReused(ctx: AsContext, client: ClientRecord, grantId: string, now: number): Promise<OAuthError> {
  await ctx.storage.revokeGrant(grantId, now);
  await revokeGrantAccessTokens(ctx, grantId, now);
  ctx.log.warn({ clientId: client.clientId }, 'authorization code reused: the tokens issued from it are revoked');
  return new OAuthError('invalid_grant', 'code_reused', 'the authorization code has already been used');
}
