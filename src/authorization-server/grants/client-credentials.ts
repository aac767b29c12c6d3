/**
 * The client credentials grant (RFC 6749 §4.4): the client acts on its own behalf. No storage
 * is touched (the hot path of the token endpoint), and no refresh token is issued (§4.4.3).
 *
 * @module
 */
import type { FormParams } from '../form.js';
import { grantScope } from '../scopes.js';
import type { ClientRecord } from '../storage.js';
import type { GrantResult } from './types.js';

export function clientCredentialsGrant(client: ClientRecord, params: FormParams): GrantResult {
  // RFC 9068 §2.2: for a client acting on its own behalf, `sub` is the client id.
  return { subject: client.clientId, scope: grantScope(params.get('scope'), client.scope) };
}
