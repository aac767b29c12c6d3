/**
 * The authorization challenge endpoint (draft-ietf-oauth-first-party-apps-04 §4.1, §5): a
 * first-party app signs its user in without a browser, one form POST per step, and gets an
 * authorization code it redeems at the token endpoint like any other (§6).
 *
 * Request parameters (form-encoded): `client_id` (or client authentication, or an
 * `auth_session` that names the client), `response_type=code` (first request), `scope`,
 * `code_challenge` + `code_challenge_method=S256`, `acr_values`, `max_age`, `resource` (RFC 8707,
 * repeatable), `redirect_uri` (only for the browser fallback), `auth_session` (follow-ups), and
 * the credentials this server defines: `username`, `password`, `otp` (a TOTP code, RFC 6238).
 *
 * Resources (RFC 8707): a new flow's `resource` values are checked as at the authorization
 * endpoint (known to the server, allowed for the client) and kept with its `auth_session`s, its
 * code and so its tokens (`aud`). A request with an `auth_session` (a later step, or a step-up on
 * the session of a token response) cannot change them: it may repeat them or name none, and any
 * other set, wider or narrower, is `invalid_target`. Narrowing is the token endpoint's (§2.2).
 *
 * Step-up (RFC 9470) on the `auth_session` of a token response (§6.1): a new request, bounded by
 * the grant the session came from. Its `scope` may narrow the grant's (none: the grant's, as far
 * as the client still holds it), never widen it: `invalid_scope` (reason `scope_exceeds_grant`),
 * before anything is spent, the session still usable. What the session satisfies (its factors,
 * `acr`, and `auth_time` within `max_age`) is not asked again, so a request that asks for nothing
 * more gets a code at once (§5.2, §6.1): the grant's, or less, with the sign-in's `acr` and
 * `auth_time`, and tokens that end with the sign-in (see `auth-session.ts`).
 *
 * Answers:
 * - 200 `{"authorization_code": …}` once every factor the user needs has passed;
 * - 403 `insufficient_authorization` with a new `auth_session` and `next` (`password` or
 *   `otp`): what to send with it (§5.2.2.1: 403). A wrong password or code answers the same step
 *   again, with an `error_description`;
 * - 403 `redirect_to_web` (§5.2.2.1.1): the account is web-only, or the flow failed too often;
 *   with a PAR `request_uri` + `expires_in` (RFC 9126) only when the first request carried a
 *   `code_challenge`;
 * - 400 `invalid_session` (§5.2.2.1): the `auth_session` is unknown, expired, used, another
 *   client's, or presented with another DPoP key;
 * - 429 + `Retry-After` (RFC 6585 §4) while the username, the flow or the client address is
 *   throttled; the RFC 6749 errors otherwise.
 *
 * DPoP (§9.5.1, §9.6.1): every request carries a proof for this endpoint (RFC 9449 §4.3, the
 * server's nonces, its replay cache). The first request's key binds the `auth_session` and the
 * code: later steps with another key get `invalid_session`, the token request `invalid_grant`.
 * The proof's `jti` is spent once the client is authenticated and its session and key checked,
 * before any credential is looked at (see `binding.ts`).
 *
 * @module
 */
import type { VerifiedProof } from '../../core/proof/verify.js';
import { resolveRedirectUri } from '../authorization-request.js';
import {
  ACR_VALUES_SUPPORTED,
  amrClaim,
  acrOf,
  authSessionId,
  grantedScope,
  neededFactors,
  newAuthSession,
  validFactors,
  type Demands,
  type NextStep,
} from '../auth-session.js';
import { proofOf, spendProof } from '../binding.js';
import { authenticateClient } from '../client-auth.js';
import type { AsContext, UserRecord } from '../context.js';
import { errorResponse, jsonResponse, OAuthError } from '../errors.js';
import { readForm, type FormParams } from '../form.js';
import { verifyPassword } from '../passwords.js';
import { authorizationResources, defaultResources, keptResources, requestedResources } from '../resource-indicators.js';
import { grantScope, splitScope, type ScopeBound } from '../scopes.js';
import { credentialHash, randomToken } from '../secrets.js';
import type { AuthSessionRecord, ClientRecord } from '../storage.js';
import { ThrottledError, type Attempt } from '../throttle.js';
import { matchTotp } from '../totp.js';
import { REQUEST_URI_PREFIX } from './authorize.js';
import { nonceHeaders } from './token.js';
import type { AsRequest } from '../as-request.js';
import type { AsResponse } from '../as-response.js';

/** RFC 7636 §4.2: an S256 challenge is 43 base64url characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_PARAM_LENGTH = 2048;
const ENDPOINT = 'authorize_challenge';

/** The draft's own error codes (§5.2.2.1), answered with the members this server defines. */
type ChallengeError = 'insufficient_authorization' | 'redirect_to_web' | 'invalid_session';

/** An answer that is not an RFC 6749 error: its body carries more than error and description. */
class ChallengeAnswer extends Error {
  constructor(
    readonly error: ChallengeError,
    readonly reason: string,
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(reason);
  }
}

function invalidSession(reason: string, description: string): ChallengeAnswer {
  return new ChallengeAnswer('invalid_session', reason, 400, { error: 'invalid_session', error_description: description });
}

/** The flow's authorization request, as kept in a pending session (all strings). */
interface FlowRequest {
  scope: string;
  code_challenge?: string;
  acr_values?: string;
  max_age?: string;
  redirect_uri?: string;
  /** RFC 8707: the checked `resource` values, space-separated (absent: the default audience). */
  resource?: string;
}

function demandsOf(flow: FlowRequest): Demands {
  return {
    acrValues: flow.acr_values === undefined ? [] : flow.acr_values.split(' ').filter(Boolean),
    maxAge: flow.max_age === undefined ? undefined : Number(flow.max_age),
  };
}

const BEYOND_GRANT: ScopeBound = {
  reason: 'scope_exceeds_grant',
  message: 'scope beyond the grant of this auth_session (a step-up may narrow it, not widen it; a wider scope needs a new sign-in)',
};

/**
 * The scope of a new request: within the client's scopes; on an `authenticated` session (a
 * step-up), within the scope of the grant the session came from too, whatever the request
 * proves (none asked: that grant's, as far as the client still holds it). A session stored
 * without the grant's scope is bounded by the client's only, as a new sign-in: it restores no
 * factor (see `validFactors`), so it buys nothing a new sign-in would not.
 *
 * @throws OAuthError `invalid_scope` (`scope_exceeds_grant` beyond the grant).
 */
function requestScope(client: ClientRecord, params: FormParams, session: AuthSessionRecord | undefined): string {
  const granted = session?.stage === 'authenticated' ? grantedScope(session) : undefined;
  if (granted === undefined) return grantScope(params.get('scope'), client.scope);
  const held = new Set(splitScope(client.scope));
  return grantScope(params.get('scope'), splitScope(granted).filter((s) => held.has(s)).join(' '), BEYOND_GRANT);
}

/**
 * The request parameters of a flow (a first request, or a new request on an authenticated
 * session), checked as the authorization endpoint checks them.
 */
function flowRequest(client: ClientRecord, params: FormParams, session: AuthSessionRecord | undefined): FlowRequest {
  for (const [name, value] of params) {
    if (value.length > MAX_PARAM_LENGTH) throw new OAuthError('invalid_request', 'parameter_too_long', `the "${name.slice(0, 64)}" parameter is too long`);
  }
  if (!client.grantTypes.includes('authorization_code')) throw new OAuthError('unauthorized_client', 'grant_not_allowed', 'this client may not use the authorization code grant');
  const flow: FlowRequest = { scope: requestScope(client, params, session) };
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (challenge !== undefined) {
    // PKCE is optional here (§5.1), and S256 only, as at the authorization endpoint.
    if (method !== 'S256') throw new OAuthError('invalid_request', 'pkce_method_not_supported', 'code_challenge_method must be S256 (plain is not supported)');
    if (!CHALLENGE.test(challenge)) throw new OAuthError('invalid_request', 'bad_code_challenge', 'code_challenge must be 43 base64url characters (RFC 7636 §4.2)');
    flow.code_challenge = challenge;
  } else if (method !== undefined) {
    throw new OAuthError('invalid_request', 'bad_code_challenge', 'code_challenge_method without code_challenge');
  }
  const acrValues = params.get('acr_values');
  if (acrValues !== undefined) flow.acr_values = acrValues.split(' ').filter(Boolean).join(' ');
  const maxAge = params.get('max_age');
  if (maxAge !== undefined) {
    if (!/^[0-9]{1,9}$/.test(maxAge)) throw new OAuthError('invalid_request', 'bad_max_age', 'max_age must be a non-negative integer (seconds)');
    flow.max_age = String(Number(maxAge));
  }
  const redirectUri = params.get('redirect_uri');
  if (redirectUri !== undefined) {
    // Only used for the browser fallback (redirect_to_web); it must be registered.
    flow.redirect_uri = resolveRedirectUri(client, redirectUri);
  }
  return flow;
}

/**
 * RFC 8707: the resources of the flow, kept with it as at the authorization endpoint. A new flow
 * (no `auth_session`): its `resource` values, each known and allowed for the client. A request
 * with an `auth_session` (a later step, or a step-up): the session's resources, which it cannot
 * change: naming the same ones again is allowed, naming any other set (wider or narrower) is
 * `invalid_target`, so no step widens what the first request asked (narrowing is the token
 * endpoint's, §2.2).
 *
 * @throws OAuthError `invalid_target`, before anything is spent or used up.
 */
function flowResources(ctx: AsContext, client: ClientRecord, params: FormParams, session: AuthSessionRecord | undefined): string | undefined {
  if (!session) return authorizationResources(ctx.resources, client, params)?.join(' ');
  const kept = session.params.resource;
  const named = requestedResources(params);
  if (named.length === 0) return kept;
  // Nothing kept: the flow is for the default audience, which the request may name too.
  const bound = new Set(keptResources(session.params) ?? defaultResources(ctx.resources, client));
  const other = named.find((r) => !bound.has(r)) ?? [...bound].find((r) => !named.includes(r));
  if (other !== undefined) {
    const why = bound.has(other) ? 'is missing: a request with an auth_session must name all' : 'is not one';
    throw new OAuthError('invalid_target', 'invalid_target', `the resource ${JSON.stringify(other.slice(0, 200))} ${why} of the resources its sign-in started with (a later step cannot change them; narrow at the token endpoint, RFC 8707 §2.2)`);
  }
  return kept;
}

/** Whether the request identifies its client by itself (client_id, Basic, a secret or an assertion). */
function namesClient(request: AsRequest, params: FormParams): boolean {
  const authorization = request.headers.get('authorization');
  return params.has('client_id') || params.has('client_secret') || params.has('client_assertion') || (authorization !== null && /^basic /i.test(authorization));
}

/** The parameters with `client_id` taken from the session, when the request does not name its client (§5.1). */
function withSessionClient(params: FormParams, request: AsRequest, session: AuthSessionRecord | undefined): FormParams {
  if (!session || namesClient(request, params)) return params;
  const copy = new Map(params);
  copy.set('client_id', session.clientId);
  return copy;
}

export async function authorizeChallengeEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  try {
    return await handle(ctx, request);
  } catch (err) {
    if (err instanceof ChallengeAnswer) {
      ctx.log.info({ endpoint: ENDPOINT, error: err.error, reason: err.reason, status: err.status }, 'request refused');
      return jsonResponse(err.body, err.status, await nonceHeaders(ctx));
    }
    if (err instanceof ThrottledError) {
      const headers = { ...(await nonceHeaders(ctx)), 'Retry-After': String(err.retryAfter) };
      const refusal = err.reason === 'blocked'
        ? new OAuthError('temporarily_unavailable', 'throttled', `too many failed sign-in attempts; try again in ${err.retryAfter} s`, { status: 429, headers })
        : new OAuthError('temporarily_unavailable', 'busy', err.message, { status: 503, headers });
      return errorResponse(refusal, {}, ctx.log, ENDPOINT);
    }
    return errorResponse(err, await nonceHeaders(ctx), ctx.log, ENDPOINT);
  }
}

async function handle(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  const params = await readForm(request);
  // The proof first, unspent (a nonce challenge spends nothing), htu = this endpoint.
  const proof = await proofOf(ctx, request, ctx.endpoints.authorizationChallenge);
  const now = ctx.now();

  const presented = params.get('auth_session');
  const sessionId = presented === undefined ? undefined : authSessionId(presented);
  const session = sessionId === undefined ? undefined : await ctx.storage.findAuthSession(sessionId, now);
  if (presented !== undefined && !session && !namesClient(request, params)) {
    throw invalidSession('unknown_session', 'the auth_session is unknown, expired or already used');
  }

  // §4.1: a client that authenticates at the token endpoint authenticates here too.
  const { client } = await authenticateClient(ctx, request, withSessionClient(params, request, session), [
    ctx.issuer,
    ctx.endpoints.authorizationChallenge,
    ctx.endpoints.token,
  ]);
  // §5, §9.1: only clients the configuration declares first-party.
  if (!ctx.firstParty.has(client.clientId)) {
    throw new OAuthError('unauthorized_client', 'not_first_party', 'this client may not use the authorization challenge endpoint (it is not configured as first-party)');
  }
  // §9.5.1: first-party sign-in is DPoP-bound from its first step.
  if (!proof) throw new OAuthError('invalid_dpop_proof', 'missing_proof', 'every authorization challenge request must carry a DPoP proof');

  if (presented !== undefined) {
    if (!session) throw invalidSession('unknown_session', 'the auth_session is unknown, expired or already used');
    if (session.clientId !== client.clientId) throw invalidSession('client_mismatch', 'the auth_session was issued to another client');
    // §9.6.1: the same key in every step.
    if (session.jkt !== proof.jkt) throw invalidSession('jkt_mismatch', 'the auth_session is bound to another DPoP key');
  }

  const responseType = params.get('response_type');
  const continuing = session?.stage === 'pending';
  if (!continuing && responseType === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "response_type" parameter is missing');
  if (responseType !== undefined && responseType !== 'code') throw new OAuthError('unsupported_response_type', 'unsupported_response_type', 'only response_type=code is supported');

  // The flow's request: fixed by its first request; a new request on an authenticated session.
  // A step-up (an authenticated session) is bounded by the grant the session came from.
  const flow: FlowRequest = continuing ? { ...(session.params as unknown as FlowRequest) } : flowRequest(client, params, session);
  // RFC 8707: the first request's resources, bound to the session from then on (step-up included).
  const resource = flowResources(ctx, client, params, session);
  if (resource === undefined) delete flow.resource;
  else flow.resource = resource;
  const demands = demandsOf(flow);

  // Who: the username typed, until the first factor passes; then the session's.
  const typed = params.get('username');
  let username: string;
  if (session?.stage === 'authenticated') {
    username = session.username!;
    if (typed !== undefined && typed !== username) throw new OAuthError('invalid_request', 'auth_session_mismatch', 'the auth_session belongs to another user');
  } else if (session && (session.amr.length > 0 || typed === undefined)) {
    username = session.username ?? '';
  } else {
    if (typed === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "username" parameter is missing');
    if (typed.length > 256) throw new OAuthError('invalid_request', 'parameter_too_long', 'the "username" parameter is too long');
    username = typed;
  }
  const user = ctx.users.get(username);
  const flowId = session?.stage === 'pending' ? session.flowId : randomToken(16);
  // The flow's own counter exists from its second request on (a new flow has no history: its
  // first request costs no read or write for it; the username and address count every failure).
  const counted = session?.stage === 'pending' ? flowId : undefined;

  // Throttled before anything is spent or evaluated: the username, this flow, the address.
  const attempt = ctx.throttle.signIn(request, username, now, counted);
  await attempt.check();
  // RFC 9449 §11.1: the client is known, its session and key are right: spend the proof now,
  // before any credential is evaluated (a replayed proof never gets to try a password).
  await spendProof(ctx, proof, client);

  const step: Step = { ctx, request, client, proof, session, flow, flowId, username, user, now, failures: session?.stage === 'pending' ? session.failures : 0 };

  // Draft §5.2.2.1.1, A.2: an account that signs in on the web only (told before a password is
  // asked for, so the app never collects it).
  if (user?.webOnly) return redirectToWeb(step, 'web_only', 'this account signs in with a browser');

  let done = validFactors(session, demands, now);
  let authTime = session?.authTime;
  const { steps, unreachable } = neededFactors(user, done, demands);
  let attemptUsed = false;

  for (const need of steps) {
    if (need === 'password') {
      const password = params.get('password');
      if (password === undefined) return insufficient(step, done, authTime, 'password');
      attemptUsed = true;
      // A success that still needs a code is not a sign-in: it takes back its own count only.
      const ok = await attempt.verify(() => verifyPassword(password, user?.passwordHash), { partial: steps.includes('otp') });
      if (!user || !ok) return failed(step, done, authTime, 'password', 'wrong_password', 'Wrong username or password.');
      done = [...done, 'pwd'];
      authTime = now;
    } else {
      if (unreachable || user === undefined || user.totpSecret === undefined) {
        throw new OAuthError('access_denied', 'acr_unreachable', 'this account cannot authenticate at the level acr_values asks for');
      }
      const otp = params.get('otp');
      if (otp === undefined) return insufficient(step, done, authTime, 'otp');
      const otpAttempt: Attempt = attemptUsed ? ctx.throttle.signIn(request, username, now, counted) : attempt;
      if (attemptUsed) await otpAttempt.check();
      const matched = matchTotp(user.totpSecret, otp, now);
      // RFC 6238 §5.2: a code is accepted once; the storage keeps the last accepted step.
      const fresh = matched !== undefined && (await ctx.storage.acceptTotpStep(user.username, matched));
      if (!fresh) {
        await otpAttempt.failed();
        const reused = matched !== undefined;
        return failed(step, done, authTime, 'otp', reused ? 'otp_reused' : 'wrong_otp', reused ? 'This code was already used. Wait for the next one.' : 'Wrong one-time code.');
      }
      await otpAttempt.succeeded();
      done = [...done, 'otp'];
      authTime = now;
    }
  }
  if (unreachable) throw new OAuthError('access_denied', 'acr_unreachable', 'this account cannot authenticate at the level acr_values asks for');
  // Every factor passed (or, on an authenticated session, was still valid): the code.
  return issueCode(step, done, authTime ?? now);
}

interface Step {
  ctx: AsContext;
  request: AsRequest;
  client: ClientRecord;
  proof: VerifiedProof;
  session: AuthSessionRecord | undefined;
  flow: FlowRequest;
  flowId: string;
  username: string;
  user: UserRecord | undefined;
  now: number;
  failures: number;
}

/**
 * End the presented session (single use: one atomic statement) and store its successor, if any.
 * A session another request used meanwhile ends this one: `invalid_session`.
 */
async function advance(step: Step, next: AuthSessionRecord | undefined): Promise<void> {
  const { ctx, session, client, proof, now } = step;
  if (!session) {
    if (next) await ctx.storage.saveAuthSession(next);
    return;
  }
  const won = await ctx.storage.advanceAuthSession(session.id, now, { clientId: client.clientId, jkt: proof.jkt }, next);
  if (!won) throw invalidSession('session_used', 'the auth_session was used by another request');
}

/** The pending session that carries the flow to its next step; returns its value. */
async function nextSession(step: Step, done: readonly string[], authTime: number | undefined, failures: number): Promise<string> {
  const { ctx, client, proof, flow, flowId, username, now } = step;
  const { value, id } = newAuthSession();
  const record: AuthSessionRecord = {
    id,
    flowId,
    clientId: client.clientId,
    jkt: proof.jkt,
    stage: 'pending',
    username,
    params: { ...flow },
    amr: [...done],
    failures,
    createdAt: now,
    // A flow has its own short life; its successors never extend it past the first step's.
    expiresAt: step.session?.stage === 'pending' ? Math.min(step.session.expiresAt, now + ctx.ttl.authSession) : now + ctx.ttl.authSession,
  };
  if (authTime !== undefined) record.authTime = authTime;
  await advance(step, record);
  return value;
}

/** 403 `insufficient_authorization` with the new `auth_session` and what to send next. */
async function insufficient(step: Step, done: readonly string[], authTime: number | undefined, next: NextStep, failure?: { reason: string; description: string }): Promise<never> {
  const authSession = await nextSession(step, done, authTime, step.failures + (failure ? 1 : 0));
  const body: Record<string, unknown> = { error: 'insufficient_authorization', auth_session: authSession, next };
  if (failure) body.error_description = failure.description;
  throw new ChallengeAnswer('insufficient_authorization', failure?.reason ?? `${next}_required`, 403, body);
}

/** A wrong password or code: the same step again, or the browser once the flow failed too often. */
async function failed(step: Step, done: readonly string[], authTime: number | undefined, next: NextStep, reason: string, description: string): Promise<never> {
  if (step.failures + 1 >= step.ctx.firstPartyPolicy.maxFailures) {
    return redirectToWeb(step, 'too_many_failures', 'too many failed attempts in this sign-in; continue in a browser');
  }
  return insufficient(step, done, authTime, next, { reason, description });
}

/**
 * 403 `redirect_to_web` (§5.2.2.1.1). The session ends. With a PAR `request_uri` (RFC 9126) only
 * when the first request carried a `code_challenge` (without one the draft forbids it: it would
 * be a pushed request without PKCE) and a redirect URI is known; the pushed request binds the
 * code to the flow's DPoP key (`dpop_jkt`, RFC 9449 §10).
 */
async function redirectToWeb(step: Step, reason: string, description: string): Promise<never> {
  const { ctx, client, flow, proof, now } = step;
  await advance(step, undefined);
  const body: Record<string, unknown> = { error: 'redirect_to_web', error_description: description };
  let redirectUri = flow.redirect_uri;
  if (redirectUri === undefined && client.redirectUris.length === 1) redirectUri = client.redirectUris[0];
  if (flow.code_challenge !== undefined && redirectUri !== undefined) {
    const requestUri = `${REQUEST_URI_PREFIX}${randomToken()}`;
    const pushed: Record<string, string> = {
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: redirectUri,
      scope: flow.scope,
      code_challenge: flow.code_challenge,
      code_challenge_method: 'S256',
      dpop_jkt: proof.jkt,
    };
    // RFC 8707: the browser's code is for the flow's resources too (kept as /par keeps them).
    if (flow.resource !== undefined) pushed.resource = flow.resource;
    await ctx.storage.savePushedRequest({ id: credentialHash(requestUri), clientId: client.clientId, params: pushed, expiresAt: now + ctx.ttl.par });
    body.request_uri = requestUri;
    body.expires_in = ctx.ttl.par;
  }
  throw new ChallengeAnswer('redirect_to_web', reason, 403, body);
}

/** 200 `{"authorization_code"}`: bound to the flow's key, with its PKCE challenge, acr and amr. */
async function issueCode(step: Step, done: readonly string[], authTime: number): Promise<AsResponse> {
  const { ctx, client, proof, flow, user, now } = step;
  // An authenticated session whose user is no longer configured signs nobody in.
  if (!user) throw new OAuthError('access_denied', 'unknown_user', 'the account of this auth_session no longer exists');
  await advance(step, undefined);
  const code = randomToken();
  const record: Parameters<AsContext['storage']['saveCode']>[0] = {
    id: credentialHash(code),
    clientId: client.clientId,
    subject: user.username,
    scope: flow.scope,
    challenge: true,
    dpopJkt: proof.jkt,
    acr: acrOf(done),
    amr: amrClaim(done),
    authTime,
    expiresAt: now + ctx.ttl.code,
  };
  // RFC 8707: the token endpoint's `aud` (and its narrowing, §2.2) start from these.
  if (flow.resource !== undefined) record.resources = flow.resource.split(' ');
  if (flow.code_challenge !== undefined) {
    record.codeChallenge = flow.code_challenge;
    record.codeChallengeMethod = 'S256';
  }
  await ctx.storage.saveCode(record);
  return jsonResponse({ authorization_code: code }, 200, await nonceHeaders(ctx));
}

/** Metadata: what this endpoint adds (RFC 8414 §2 extension, draft §8). */
export function challengeMetadata(ctx: AsContext): Record<string, unknown> {
  return { authorization_challenge_endpoint: ctx.endpoints.authorizationChallenge, acr_values_supported: [...ACR_VALUES_SUPPORTED] };
}
