/**
 * Step-up authentication (RFC 9470): a route that needs a stronger or a more recent sign-in than
 * the access token records. The token's `acr` must be one of the values the route accepts
 * (RFC 9470 §4: "one of these values"), and its `auth_time` at most `maxAge` seconds old;
 * otherwise the request is refused with 401 `insufficient_user_authentication`, and the
 * challenge of the scheme used names `acr_values` and/or `max_age` (RFC 9470 §3), so the client
 * can sign the user in again with exactly those (first-party apps: at the authorization
 * challenge endpoint, with their `auth_session`).
 *
 * @module
 */
import { invalidArgument } from '../core/argument-error.js';
import { ResourceServerError } from './errors.js';
import type { Principal } from './types.js';

/** What a route asks of the user's authentication (RFC 9470 §3, §4). */
export interface AuthenticationRequirement {
  /**
   * Authentication context class references the route accepts, in order of preference
   * (`acr_values`). List every acceptable one: a token whose `acr` is not in the list is
   * refused, even a stronger one the server happens to issue.
   */
  acr?: string | readonly string[];
  /** The sign-in (`auth_time`) may be at most this many seconds old (`max_age`). */
  maxAge?: number;
}

/** The requirement as checked: `acr` a list. Throws `TypeError` (a route's configuration) when malformed. */
export function normalizeRequirement(requirement: AuthenticationRequirement | undefined): { acr: string[]; maxAge: number | undefined } | undefined {
  if (requirement === undefined) return undefined;
  if (typeof requirement !== 'object' || requirement === null) throw invalidArgument('authentication must be { acr?, maxAge? }');
  const acr = requirement.acr === undefined ? [] : typeof requirement.acr === 'string' ? [requirement.acr] : [...requirement.acr];
  // RFC 9470 §3: acr_values is space-delimited, so no value may contain a space (or be empty).
  for (const value of acr) {
    if (typeof value !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(value)) throw invalidArgument(`authentication.acr: ${JSON.stringify(value)} is not a valid acr value`);
  }
  const { maxAge } = requirement;
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 0)) throw invalidArgument('authentication.maxAge must be a non-negative integer (seconds)');
  if (acr.length === 0 && maxAge === undefined) return undefined;
  return { acr, maxAge };
}

/**
 * RFC 9470 §4: refuse a token whose authentication does not meet the route's requirement.
 *
 * @param now epoch seconds
 * @throws ResourceServerError `insufficient_user_authentication` (401), carrying `acr_values` /
 *   `max_age` for the challenge.
 */
export function checkAuthentication(principal: Principal, requirement: AuthenticationRequirement | undefined, now: number, clockTolerance = 0): void {
  const need = normalizeRequirement(requirement);
  if (!need) return;
  const { claims } = principal;
  const acr = typeof claims.acr === 'string' ? claims.acr : undefined;
  const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : undefined;
  const challenge = {
    ...(need.acr.length > 0 ? { acrValues: need.acr.join(' ') } : {}),
    ...(need.maxAge !== undefined ? { maxAge: need.maxAge } : {}),
  };
  if (need.acr.length > 0 && (acr === undefined || !need.acr.includes(acr))) {
    throw new ResourceServerError('insufficient_user_authentication', 'acr_not_satisfied', 'A different authentication level is required', {
      ...challenge,
      detail: { acr, required: need.acr },
    });
  }
  // A token without auth_time cannot show how recent the sign-in was (RFC 9470 §6.2).
  if (need.maxAge !== undefined && (authTime === undefined || now - authTime > need.maxAge + clockTolerance)) {
    throw new ResourceServerError('insufficient_user_authentication', 'auth_time_too_old', 'More recent authentication is required', {
      ...challenge,
      detail: { authTime, maxAge: need.maxAge },
    });
  }
}
