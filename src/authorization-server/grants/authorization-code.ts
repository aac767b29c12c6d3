/**
 * The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636, S256 only) and the
 * `dpop_jkt` binding of the code (RFC 9449 §10).
 *
 * @module
 */
import type { VerifiedProof } from '../../core/proof/verify.js';
import { requireKey } from '../binding.js';
import type { AsContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { required, type FormParams } from '../form.js';
import { credentialHash, s256 } from '../secrets.js';
import type { ClientRecord } from '../storage.js';
import { revokeGrantAccessTokens } from './grant-revocation.js';
import type { GrantResult } from './types.js';

/** RFC 7636 §4.1: 43–128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

export async function authorizationCodeGrant(ctx: AsContext, client: ClientRecord, params: FormParams, proof: VerifiedProof | undefined): Promise<GrantResult> {
  const code = required(params, 'code');
  const redirectUri = required(params, 'redirect_uri');
  const verifier = required(params, 'code_verifier');
  if (!VERIFIER.test(verifier)) throw new OAuthError('invalid_request', 'code_verifier must be 43–128 unreserved characters (RFC 7636 §4.1)');
  const now = ctx.now();
  const id = credentialHash(code);
  const result = await ctx.storage.consumeCode(id, now);
  if (result.outcome === 'missing') throw new OAuthError('invalid_grant', 'the authorization code is invalid or expired');
  if (result.outcome === 'reused') {
    // RFC 6749 §4.1.2 / RFC 9700 §4.14: a second redemption is an attack; revoke what the first issued.
    await ctx.storage.revokeGrant(result.record.id, now);
    await revokeGrantAccessTokens(ctx, result.record.id, now);
    ctx.log.warn({ clientId: client.clientId }, 'authorization code reused: the tokens issued from it are revoked');
    throw new OAuthError('invalid_grant', 'the authorization code has already been used');
  }
  const record = result.record;
  if (record.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the authorization code was issued to another client');
  // RFC 6749 §4.1.3: identical to the redirect_uri of the authorization request.
  if (record.redirectUri !== redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
  if (s256(verifier) !== record.codeChallenge) throw new OAuthError('invalid_grant', 'PKCE verification failed (RFC 7636 §4.6)');
  // RFC 9449 §10: the proof's key must be the one named by dpop_jkt.
  requireKey(record.dpopJkt, proof, 'authorization code');
  return { subject: record.subject, scope: record.scope, authTime: record.authTime, grantId: record.id, startFamily: { grantId: record.id } };
}
