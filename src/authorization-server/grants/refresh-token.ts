/**
 * The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2)
 * and the key binding of public clients' refresh tokens (RFC 9449 §5).
 *
 * A public client's family is bound to a key from the first DPoP-bound token it issues: at the
 * code exchange, or, when that was done without a proof, at the first refresh that comes with
 * one (bound by the storage in the rotation's own transaction). From then on a refresh without
 * that key is refused and changes nothing: the token stays usable by its holder, and a retired
 * token issued under the binding does not revoke the family. A refresh token presented by
 * another client is refused the same way (RFC 6749 §6: bound to the client it was issued to).
 *
 * @module
 */
import type { VerifiedProof } from '../../core/proof/verify.js';
import { requireKey, rotationKey } from '../binding.js';
import type { AsContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { required, type FormParams } from '../form.js';
import { grantScope } from '../scopes.js';
import { credentialHash, randomToken } from '../secrets.js';
import type { ClientRecord } from '../storage.js';
import { tokenResources } from '../resource-indicators.js';
import { revokeGrantAccessTokens } from './grant-revocation.js';
import type { GrantResult } from './types.js';

/**
 * @param spend spends the proof's `jti`; called once the refresh token is known to be usable by
 *   this request, before it is rotated.
 */
export async function refreshTokenGrant(
  ctx: AsContext,
  client: ClientRecord,
  params: FormParams,
  proof: VerifiedProof | undefined,
  spend: () => Promise<void>,
): Promise<GrantResult> {
  const token = required(params, 'refresh_token');
  const now = ctx.now();
  const hash = credentialHash(token);
  const found = await ctx.storage.findRefreshToken(hash);
  const invalid = () => new OAuthError('invalid_grant', 'invalid_refresh_token', 'the refresh token is invalid, expired or revoked');
  if (!found) throw invalid();
  const { family } = found;
  // Another client's attempt neither rotates nor revokes anything.
  if (family.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'client_mismatch', 'the refresh token was issued to another client');
  const key = rotationKey(client, proof);
  if (!found.rotated) {
    if (family.revokedAt !== undefined || family.expiresAt <= now) throw invalid();
    // RFC 9449 §5: check the binding before rotating, so a bad proof does not burn the token
    // (the storage checks it again, atomically, in the rotation).
    requireKey(family.jkt, proof, 'refresh token');
    grantScope(params.get('scope'), family.scope);
    // RFC 8707 §2.2: a refresh may narrow to some of the grant's resources, never add one.
    tokenResources(ctx.resources, client, params, family.resources);
    await spend();
  }
  // A retired token is not spent for (nothing will be issued): the rotation reports reuse
  // (and revokes the family) or, for a bound token without its key, a mismatch.
  const next = randomToken();
  const rotated = await ctx.storage.rotateRefreshToken(hash, credentialHash(next), now, key);
  if (rotated.outcome === 'missing') throw invalid();
  if (rotated.outcome === 'mismatch') {
    requireKey(rotated.family.jkt, proof, 'refresh token');
    throw new OAuthError('invalid_grant', 'jkt_mismatch', 'the DPoP proof\'s key is not the key the refresh token is bound to');
  }
  if (rotated.outcome === 'reused') {
    await revokeGrantAccessTokens(ctx, family.grantId, now);
    ctx.log.warn({ clientId: client.clientId }, 'refresh token reused: the family is revoked');
    throw new OAuthError('invalid_grant', 'refresh_token_reused', 'the refresh token has already been used; the grant is revoked');
  }
  if (rotated.family.revokedAt !== undefined) throw invalid();
  const scope = grantScope(params.get('scope'), family.scope);
  const grant: GrantResult = { subject: family.subject, scope, authTime: family.authTime, grantId: family.grantId, refreshToken: next, resources: tokenResources(ctx.resources, client, params, family.resources) };
  if (family.acr !== undefined) grant.acr = family.acr;
  if (family.amr !== undefined) grant.amr = family.amr;
  return grant;
}
