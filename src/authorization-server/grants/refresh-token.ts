/**
 * The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2)
 * and the key binding of public clients' refresh tokens (RFC 9449 §5).
 *
 * @module
 */
import type { VerifiedProof } from '../../core/proof/verify.js';
import { requireKey } from '../binding.js';
import type { AsContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { required, type FormParams } from '../form.js';
import { grantScope } from '../scopes.js';
import { credentialHash, randomToken } from '../secrets.js';
import type { ClientRecord } from '../storage.js';
import { revokeGrantAccessTokens } from './grant-revocation.js';
import type { GrantResult } from './types.js';

export async function refreshTokenGrant(ctx: AsContext, client: ClientRecord, params: FormParams, proof: VerifiedProof | undefined): Promise<GrantResult> {
  const token = required(params, 'refresh_token');
  const now = ctx.now();
  const hash = credentialHash(token);
  const found = await ctx.storage.findRefreshToken(hash);
  const invalid = () => new OAuthError('invalid_grant', 'the refresh token is invalid, expired or revoked');
  if (!found) throw invalid();
  const { family } = found;
  if (family.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client');
  if (family.revokedAt !== undefined || family.expiresAt <= now) throw invalid();
  // RFC 9449 §5: check the binding before rotating, so a bad proof does not burn the token.
  requireKey(family.jkt, proof, 'refresh token');
  const scope = grantScope(params.get('scope'), family.scope);

  const next = randomToken();
  const rotated = await ctx.storage.rotateRefreshToken(hash, credentialHash(next), now);
  if (rotated.outcome === 'missing') throw invalid();
  if (rotated.outcome === 'reused') {
    await revokeGrantAccessTokens(ctx, family.grantId, now);
    ctx.log.warn({ clientId: client.clientId }, 'refresh token reused: the family is revoked');
    throw new OAuthError('invalid_grant', 'the refresh token has already been used; the grant is revoked');
  }
  if (rotated.family.revokedAt !== undefined) throw invalid();
  return { subject: family.subject, scope, authTime: family.authTime, grantId: family.grantId, refreshToken: next };
}
