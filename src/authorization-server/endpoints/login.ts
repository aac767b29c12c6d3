/**
 * The sign-in form's target. Checks the interaction (cookie), its CSRF token (form), then the
 * user's password (scrypt, constant time); on success issues the authorization code and
 * redirects to the registered redirect URI with `code`, `state` and `iss` (RFC 9207).
 *
 * Password guessing is throttled (throttle.ts) by username and client address: while either is
 * blocked the form comes back with 429, `Retry-After` (RFC 6585 §4) and when to try again, and
 * the password is not looked at, right or wrong. Unknown usernames are counted, delayed and
 * answered exactly like known ones, so the throttle tells nobody which usernames exist.
 *
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import { acrOf, amrClaim } from '../auth-session.js';
import { redirectTo } from '../authorization-request.js';
import { keptResources } from '../resource-indicators.js';
import type { AsContext } from '../context.js';
import { OAuthError } from '../errors.js';
import { readForm, type FormParams } from '../form.js';
import { errorPage, loginPage, waitText } from '../login-page.js';
import { verifyPassword } from '../passwords.js';
import { credentialHash, randomToken } from '../secrets.js';
import { ThrottledError } from '../throttle.js';
import { matchTotp } from '../totp.js';
import { interactionCookie, interactionCookieName } from './authorize.js';
import type { AsRequest } from '../as-request.js';
import { AsResponse } from '../as-response.js';

function cookie(request: AsRequest, name: string): string | undefined {
  const header = request.headers.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function loginEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  let form: FormParams;
  try {
    form = await readForm(request, 8192);
  } catch (err) {
    const oauth = err as OAuthError;
    return errorPage(oauth.status ?? 400, 'invalid_request', oauth.message);
  }
  const now = ctx.now();
  const csrf = form.get('csrf');
  if (csrf === undefined || csrf.length > 128) return errorPage(403, 'invalid_request', 'the sign-in form is not valid (CSRF check failed)');
  const id = cookie(request, interactionCookieName(csrf));
  if (id === undefined) return errorPage(403, 'invalid_request', 'this browser has no sign-in for this form (cookies are required; CSRF check failed)');
  const interactionId = credentialHash(id);
  const interaction = await ctx.storage.getInteraction(interactionId, now);
  if (!interaction) return errorPage(400, 'invalid_request', 'this sign-in has expired or was already completed; start again from the application');
  // The CSRF token must be the one bound to this interaction (stored as its hash).
  if (!sameHash(credentialHash(csrf), interaction.csrfHash)) {
    return errorPage(403, 'invalid_request', 'the sign-in form is not valid for this sign-in (CSRF check failed)');
  }
  const params = interaction.params;
  const redirectUri = params.redirect_uri!;
  const clearCookie = { 'Set-Cookie': interactionCookie(ctx, csrf, '', 0) };

  if (form.get('action') === 'cancel') {
    if (!(await ctx.storage.consumeInteraction(interactionId, now))) return errorPage(400, 'invalid_request', 'this sign-in was already completed');
    const location = redirectTo(redirectUri, { error: 'access_denied', error_description: 'the user cancelled the sign-in', state: params.state, iss: ctx.issuer });
    return new AsResponse(null, 303, { Location: location, 'Cache-Control': 'no-store', ...clearCookie });
  }

  const username = form.get('username') ?? '';
  const user = ctx.users.get(username);
  const again = async (status: number, error: string, headers: Record<string, string> = {}) => {
    const client = await ctx.clients.get(interaction.clientId, now);
    return loginPage({
      action: ctx.endpoints.login, csrf, clientName: client?.clientName ?? interaction.clientId, scope: params.scope ?? '',
      username, error, hint: ctx.loginHint,
    }, status, headers);
  };
  // Checked before any scrypt work; the verification itself is counted first and gated.
  const attempt = ctx.throttle.signIn(request, username, now);
  let ok: boolean;
  try {
    await attempt.check();
    // For an account with a one-time code, the password alone is not a sign-in: it takes back
    // its own count only, and the code decides (below).
    ok = await attempt.verify(() => verifyPassword(form.get('password') ?? '', user?.passwordHash), { partial: user?.totpSecret !== undefined });
  } catch (err) {
    if (!(err instanceof ThrottledError)) throw err;
    const headers = { 'Retry-After': String(err.retryAfter) };
    // Logged as the token endpoint's throttled refusals are (metrics count them); no username.
    if (err.reason === 'blocked') ctx.log.info({ endpoint: 'login', error: 'temporarily_unavailable', reason: 'throttled', status: 429 }, 'request refused');
    return err.reason === 'blocked'
      ? again(429, `Too many failed sign-in attempts. Try again ${waitText(err.retryAfter)}.`, headers)
      : again(503, 'The server is busy. Try again in a moment.', headers);
  }
  if (!user || !ok) return again(401, 'Wrong username or password.');
  // An account with a TOTP secret (RFC 6238) needs its code here as at the challenge endpoint,
  // so the browser is no way around the second factor; a code is accepted once (§5.2).
  let amr = ['pwd'];
  if (user.totpSecret !== undefined) {
    const otpAttempt = ctx.throttle.signIn(request, username, now);
    const matched = matchTotp(user.totpSecret, form.get('otp') ?? '', now);
    if (matched === undefined || !(await ctx.storage.acceptTotpStep(user.username, matched))) {
      await otpAttempt.failed();
      return again(401, matched === undefined ? 'Wrong or missing one-time code.' : 'This one-time code was already used. Wait for the next one.');
    }
    await otpAttempt.check().catch(() => undefined);
    await otpAttempt.succeeded();
    amr = ['pwd', 'otp'];
  }
  // Single use: a double-submitted form cannot mint two codes.
  if (!(await ctx.storage.consumeInteraction(interactionId, now))) {
    return errorPage(400, 'invalid_request', 'this sign-in was already completed');
  }
  const code = randomToken();
  await ctx.storage.saveCode({
    id: credentialHash(code),
    clientId: interaction.clientId,
    subject: user.username,
    redirectUri,
    scope: params.scope ?? '',
    codeChallenge: params.code_challenge!,
    codeChallengeMethod: 'S256',
    dpopJkt: params.dpop_jkt,
    nonce: params.nonce,
    resources: keptResources(params),
    acr: acrOf(amr),
    amr: amrClaim(amr),
    authTime: now,
    expiresAt: now + ctx.ttl.code,
  });
  const location = redirectTo(redirectUri, { code, state: params.state, iss: ctx.issuer });
  return new AsResponse(null, 303, { Location: location, 'Cache-Control': 'no-store', ...clearCookie });
}
