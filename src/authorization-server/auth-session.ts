/**
 * The `auth_session` of first-party sign-in (draft-ietf-oauth-first-party-apps §5.3.1, §9.6): an
 * opaque value (256 random bits) the client sends back with each step, stored only as its
 * SHA-256, bound to the DPoP key of the flow's first request (§9.6.1), short-lived and single
 * use: every answer that carries one carries a NEW one, and the old one is dead (one atomic
 * statement, so two requests with the same value never both continue the flow).
 *
 * Two kinds:
 * - `pending`: a sign-in in progress, from the first request that needed more until the code is
 *   issued. It remembers the flow's request (scope, PKCE challenge, acr_values, max_age,
 *   resources), the username typed and the factors passed so far. Its resources (RFC 8707) are
 *   fixed by the first request: a later one may repeat them, not change them.
 * - `authenticated`: handed out with the tokens (§6.1), for a later step-up (RFC 9470): it names
 *   the user, the factors of the sign-in and its time, so a new request with `acr_values` or
 *   `max_age` asks only for what is missing, and it records the scope and resources of the
 *   sign-in's grant, the most any request on it can obtain. A request that asks for nothing the
 *   session does not already satisfy gets a code without credentials (§6.1: the server "can
 *   restore the context of a previous session and prompt only for the needed step-up factors"),
 *   never for more than that grant and never past the sign-in's lifetime: the session and the
 *   tokens of its codes end `tokens.refreshTokenTtl` after the last authentication
 *   (`auth_time`), however often it is re-used. A session stored without a scope (before the
 *   scope was recorded) restores nothing: every factor is asked again, as for a new sign-in.
 *
 * Also here: the authentication context (RFC 9470 `acr`, RFC 8176 `amr`) of a sign-in, and what
 * a flow still needs.
 *
 * @module
 */
import type { AsContext, UserRecord } from './context.js';
import { credentialHash, randomToken } from './secrets.js';
import type { AuthSessionRecord } from './storage.js';

/**
 * The authentication context classes this server issues (`acr`, RFC 9470 §3; metadata
 * `acr_values_supported`): a password alone, or a password and a one-time code.
 */
export const ACR = {
  password: 'urn:dpopkit:acr:pwd',
  mfa: 'urn:dpopkit:acr:mfa',
} as const;
export const ACR_VALUES_SUPPORTED: readonly string[] = [ACR.password, ACR.mfa];

/** RFC 8176 §2 authentication method references. */
export type Amr = 'pwd' | 'otp' | 'mfa';

/** What a step asks the client for (the `next` member of `insufficient_authorization`). */
export type NextStep = 'password' | 'otp';

/** The `acr` of a sign-in that passed these methods. */
export function acrOf(amr: readonly string[]): string {
  return amr.includes('otp') ? ACR.mfa : ACR.password;
}

/** The `amr` claim: the methods, plus `mfa` when more than one factor was used (RFC 8176 §2). */
export function amrClaim(amr: readonly string[]): string[] {
  const methods = (['pwd', 'otp'] as const).filter((m) => amr.includes(m));
  return methods.length > 1 ? [...methods, 'mfa'] : methods;
}

/** A fresh `auth_session` value and the id it is stored under. */
export function newAuthSession(): { value: string; id: string } {
  const value = randomToken();
  return { value, id: credentialHash(value) };
}

/** The storage id of a presented value (`undefined` for values no server of ours made). */
export function authSessionId(value: string): string | undefined {
  // randomToken(): 43 base64url characters. Anything else cannot be one (and is not hashed).
  return /^[A-Za-z0-9_-]{43}$/.test(value) ? credentialHash(value) : undefined;
}

/** What the request (or the step-up request) asks of the authentication. */
export interface Demands {
  /** RFC 9470 / OpenID `acr_values`, in order of preference. */
  acrValues: string[];
  /** RFC 9470 / OpenID `max_age`: the sign-in must be at most this many seconds old. */
  maxAge: number | undefined;
}

/**
 * The factors still needed, in order. A user with a TOTP secret always needs the code after
 * the password; `acr_values` naming only {@link ACR.mfa} needs it for everyone (a user without a
 * secret then cannot get there: `unreachable`). `done` are the methods already passed and still
 * valid (see {@link validFactors}).
 */
export function neededFactors(user: UserRecord | undefined, done: readonly string[], demands: Demands): { steps: NextStep[]; unreachable: boolean } {
  const steps: NextStep[] = [];
  if (!done.includes('pwd')) steps.push('password');
  const wantsMfa = demands.acrValues.length > 0 && !demands.acrValues.includes(ACR.password) && demands.acrValues.includes(ACR.mfa);
  const unknownOnly = demands.acrValues.length > 0 && !demands.acrValues.some((v) => ACR_VALUES_SUPPORTED.includes(v));
  const hasOtp = user?.totpSecret !== undefined;
  if ((hasOtp || wantsMfa) && !done.includes('otp')) steps.push('otp');
  // Unknown users look like users with a password and no code until the password fails.
  const unreachable = user !== undefined && ((wantsMfa && !hasOtp) || unknownOnly);
  return { steps, unreachable };
}

/**
 * The scope of the grant an `authenticated` session came from: the most a request on it may
 * obtain (`undefined`: a session stored before it was recorded).
 */
export function grantedScope(session: AuthSessionRecord): string | undefined {
  return session.params.scope;
}

/**
 * The end of a first-party sign-in: `tokens.refreshTokenTtl` after its last authentication. A
 * step-up that restores the session without credentials keeps the `auth_time`, so neither the
 * session it hands out nor the refresh tokens of its code outlive the sign-in.
 */
export function signInExpiry(ctx: AsContext, authTime: number, now: number): number {
  return Math.min(now, authTime) + ctx.ttl.refreshToken;
}

/**
 * The methods of a session that still count for a new request: none when `max_age` says the
 * sign-in is too old (RFC 9470 §4: the user must authenticate again).
 */
export function validFactors(session: AuthSessionRecord | undefined, demands: Demands, now: number): string[] {
  if (!session) return [];
  // Stored before the grant's scope was: its bound is unknown, so it restores nothing (every
  // factor again, which is what a new sign-in by the same client would ask).
  if (session.stage === 'authenticated' && grantedScope(session) === undefined) return [];
  if (session.stage === 'authenticated' && demands.maxAge !== undefined) {
    if (session.authTime === undefined || now - session.authTime > demands.maxAge) return [];
  }
  return [...session.amr];
}

/**
 * The `auth_session` that goes out with tokens issued from a first-party code (§6.1): the user,
 * the sign-in's factors and time, the client, the DPoP key, and the grant's scope and resources
 * (RFC 8707), for a later step-up. Returns the value for the token response, or `undefined` when
 * the sign-in's lifetime is over (see {@link signInExpiry}).
 */
export async function startAuthenticatedSession(
  ctx: AsContext,
  input: { clientId: string; jkt: string; subject: string; scope: string; amr: readonly string[]; authTime: number; resources?: readonly string[] | undefined },
): Promise<string | undefined> {
  const now = ctx.now();
  const expiresAt = signInExpiry(ctx, input.authTime, now);
  if (expiresAt <= now) return undefined;
  const params: Record<string, string> = { scope: input.scope };
  // RFC 8707: what the grant holds; a step-up on this session is for the same resources.
  if (input.resources && input.resources.length > 0) params.resource = input.resources.join(' ');
  const { value, id } = newAuthSession();
  await ctx.storage.saveAuthSession({
    id,
    flowId: randomToken(16),
    clientId: input.clientId,
    jkt: input.jkt,
    stage: 'authenticated',
    username: input.subject,
    // The grant's scope and resources: the most a step-up on this session can obtain.
    params,
    amr: [...input.amr],
    acr: acrOf(input.amr),
    authTime: input.authTime,
    failures: 0,
    createdAt: now,
    // As long as the refresh tokens of the same sign-in can live (not renewed by re-use).
    expiresAt,
  });
  return value;
}
