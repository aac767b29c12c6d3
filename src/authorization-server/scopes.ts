/**
 * Scope requests (RFC 6749 §3.3): a space-delimited set, each token `%x21 / %x23-5B / %x5D-7E`,
 * and never more than the client (or the grant) allows.
 *
 * @module
 */
import { OAuthError, type AuthorizationServerReason } from './errors.js';

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function splitScope(scope: string | undefined): string[] {
  return scope === undefined ? [] : scope.split(' ').filter((s) => s !== '');
}

/** How a scope beyond `allowed` is refused: its reason and what `allowed` is, for the message. */
export interface ScopeBound {
  reason: AuthorizationServerReason;
  message: string;
}

const CLIENT_BOUND: ScopeBound = { reason: 'scope_not_allowed', message: 'scope not allowed' };

/**
 * The granted scope: the requested one if it is within `allowed`, or all of `allowed` when
 * nothing was requested (RFC 6749 §3.3 lets the server apply a default).
 *
 * @param bound the refusal of a scope beyond `allowed` (default: not allowed for the client).
 * @throws OAuthError `invalid_scope`.
 */
export function grantScope(requested: string | undefined, allowed: string, bound: ScopeBound = CLIENT_BOUND): string {
  if (requested === undefined) return allowed;
  const asked = splitScope(requested);
  if (asked.some((s) => !SCOPE_TOKEN.test(s))) throw new OAuthError('invalid_scope', 'bad_scope_syntax', 'the scope contains invalid characters (RFC 6749 §3.3)');
  const permitted = new Set(splitScope(allowed));
  const extra = asked.filter((s) => !permitted.has(s));
  if (extra.length > 0) throw new OAuthError('invalid_scope', bound.reason, `${bound.message}: ${extra.join(' ').slice(0, 200)}`);
  return [...new Set(asked)].join(' ');
}
