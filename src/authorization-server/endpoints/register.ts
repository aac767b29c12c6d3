/**
 * The client registration endpoint (RFC 7591 §3): `POST` client metadata as JSON, get a
 * `client_id` (and a `client_secret` for the secret methods) with the metadata as registered,
 * 201. Open, or with an initial access token (§3: a Bearer token given out of band), as
 * configured.
 *
 * In this order, so that nothing is done for a request that is refused: every request counts
 * against its client address (a flood of registrations meets 429 with `Retry-After`, RFC 6585
 * §4); then the initial access token; then the metadata (`invalid_redirect_uri`,
 * `invalid_client_metadata`); then the cap on registered clients; then the secret is hashed and
 * the client stored, in one statement that also enforces the cap. A registered client gets a
 * random id, so it can never take over a configured client's id; configured clients stay the
 * source of truth for theirs.
 *
 * @module
 */
import type { AsContext } from '../context.js';
import { errorResponse, jsonResponse, OAuthError } from '../errors.js';
import { MAX_FORM_BYTES, readBodyBytes } from '../form.js';
import { hashPassword, ScryptBusyError } from '../passwords.js';
import { checkClientMetadata, isInitialAccessToken, registeredMetadata } from '../registration.js';
import { randomToken } from '../secrets.js';
import type { ClientRecord } from '../storage.js';
import { ThrottledError } from '../throttle.js';
import type { AsRequest } from '../as-request.js';
import type { AsResponse } from '../as-response.js';

/** Read a JSON body of at most `max` bytes. */
async function readJson(request: AsRequest, max: number): Promise<unknown> {
  const type = request.headers.get('content-type')?.split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new OAuthError('invalid_client_metadata', 'invalid_client_metadata', 'the request body must be application/json (RFC 7591 §3.1)');
  const bytes = await readBodyBytes(request, max);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new OAuthError('invalid_client_metadata', 'invalid_client_metadata', 'the request body is not valid UTF-8 JSON');
  }
}

/** RFC 6750 §2.1 Bearer credentials, or undefined. */
function bearerToken(request: AsRequest): string | undefined {
  const header = request.headers.get('authorization');
  const match = header === null ? null : /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match?.[1];
}

export async function registerEndpoint(ctx: AsContext, request: AsRequest): Promise<AsResponse> {
  const config = ctx.registration;
  if (!config) return errorResponse(new OAuthError('invalid_request', 'not_found', 'not found', { status: 404 }));
  try {
    const now = ctx.now();
    try {
      await ctx.throttle.perAddress(request, 'register', config.throttle, now);
    } catch (err) {
      if (!(err instanceof ThrottledError)) throw err;
      throw new OAuthError('temporarily_unavailable', 'throttled', `too many client registrations from this address; try again in ${err.retryAfter} s`, { status: 429, headers: { 'Retry-After': String(err.retryAfter) } });
    }
    if (!config.open) {
      // RFC 7591 §3 with RFC 6750 §3.1: no token → a bare challenge; a wrong one → invalid_token.
      const token = bearerToken(request);
      if (token === undefined) throw new OAuthError('invalid_token', 'initial_access_token_missing', 'registration needs an initial access token (Bearer)', { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } });
      if (!isInitialAccessToken(config, token)) {
        throw new OAuthError('invalid_token', 'initial_access_token_invalid', 'the initial access token is not valid', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      }
    }
    const checked = checkClientMetadata(await readJson(request, MAX_FORM_BYTES), config, ctx.dpopRequired === true);
    let secret: string | undefined;
    const base: Omit<ClientRecord, 'clientId'> = { ...checked.record, registeredAt: now };
    if (checked.needsSecret) {
      secret = randomToken(32);
      // scrypt, through the server's gate: registration cannot starve sign-ins of CPU.
      try {
        base.clientSecretHash = await ctx.throttle.gate.run(() => hashPassword(secret!));
      } catch (err) {
        if (err instanceof ScryptBusyError) throw new OAuthError('temporarily_unavailable', 'busy', 'the server is busy; try again shortly', { status: 503 });
        throw err;
      }
    }
    let record: ClientRecord | undefined;
    for (let i = 0; i < 3 && !record; i++) {
      const candidate: ClientRecord = { ...base, clientId: `dpk_${randomToken(18)}` };
      const outcome = await ctx.storage.registerClient(candidate, config.maxClients);
      if (outcome === 'full') {
        ctx.log.warn({ maxClients: config.maxClients }, 'client registration refused: the maximum number of registered clients is reached');
        throw new OAuthError('access_denied', 'registration_closed', `this server has registered its maximum number of clients (${config.maxClients})`, { status: 403 });
      }
      if (outcome === 'created') record = candidate;
    }
    if (!record) throw new OAuthError('temporarily_unavailable', 'registration_failed', 'the client could not be registered; try again', { status: 503 });
    ctx.log.info({ clientId: record.clientId, method: record.tokenEndpointAuthMethod }, 'client registered (RFC 7591)');
    const body = registeredMetadata(record);
    if (secret !== undefined) {
      body.client_secret = secret;
      // RFC 7591 §3.2.1: 0 = the secret does not expire.
      body.client_secret_expires_at = 0;
    }
    return jsonResponse(body, 201);
  } catch (err) {
    return errorResponse(err, {}, ctx.log, 'registration');
  }
}
