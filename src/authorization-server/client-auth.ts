/**
 * Client authentication at the token, PAR, introspection and revocation endpoints:
 * `none` (public clients, RFC 6749 §2.1), `client_secret_basic` (§2.3.1, with its
 * form-urlencoding of id and secret), `client_secret_post` (§2.3.1) and `private_key_jwt`
 * (RFC 7523 §2.2, OpenID Connect Core §9).
 *
 * @module
 */
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet } from 'jose';
import { keyWeakness } from '../core/weak-keys.js';
import { ClientJwksError, remoteClientKeys } from './client-jwks.js';
import type { AsContext } from './context.js';
import { OAuthError, replayCacheUnavailable, type AuthorizationServerReason } from './errors.js';
import type { FormParams } from './form.js';
import { chargeEntry } from './replay-quota.js';
import type { ClientAuthMethod, ClientRecord } from './storage.js';
import { ThrottledError, throttledOAuthError } from './throttle.js';
import type { AsRequest } from './as-request.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Algorithms accepted for `private_key_jwt` assertions (asymmetric only). */
export const ASSERTION_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/** Longest remaining lifetime of a client assertion; its `jti` is remembered that long. */
const MAX_ASSERTION_LIFETIME = 3600;

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod;
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

interface BasicCredentials {
  clientId: string;
  secret: string;
}

function parseBasic(header: string, realmHeaders: Record<string, string>): BasicCredentials {
  const encoded = header.slice(6).trim();
  const invalid = () => new OAuthError('invalid_client', 'malformed_client_credentials', 'the Basic credentials are malformed (RFC 6749 §2.3.1)', { status: 401, headers: realmHeaders });
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw invalid();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) throw invalid();
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalid();
  }
}

/**
 * Authenticate the client of a request.
 *
 * @param audiences values the `aud` of a `private_key_jwt` assertion may take (issuer and the
 *   endpoint URL).
 * @throws OAuthError `invalid_client` (401, with `WWW-Authenticate: Basic` when Basic was used)
 *   or `invalid_request` (more than one method, conflicting `client_id`).
 */
export async function authenticateClient(ctx: AsContext, request: AsRequest, params: FormParams, audiences: readonly string[]): Promise<AuthenticatedClient> {
  const now = ctx.now();
  const authorization = request.headers.get('authorization');
  const usesBasic = authorization !== null && /^basic /i.test(authorization);
  const realm: Record<string, string> = usesBasic ? { 'WWW-Authenticate': `Basic realm="${ctx.issuer}"` } : {};
  const fail = (reason: AuthorizationServerReason, description: string) => new OAuthError('invalid_client', reason, description, { status: 401, headers: realm });

  const secretParam = params.get('client_secret');
  const assertion = params.get('client_assertion');
  const assertionType = params.get('client_assertion_type');
  const used = [usesBasic, secretParam !== undefined, assertion !== undefined || assertionType !== undefined].filter(Boolean).length;
  // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
  if (used > 1) throw new OAuthError('invalid_request', 'multiple_client_auth', 'more than one client authentication method was used (RFC 6749 §2.3)');

  let clientId = params.get('client_id');
  let method: ClientAuthMethod;
  let secret: string | undefined;
  if (usesBasic) {
    const basic = parseBasic(authorization!, realm);
    if (clientId !== undefined && clientId !== basic.clientId) throw new OAuthError('invalid_request', 'client_id_mismatch', 'client_id differs from the Basic credentials');
    clientId = basic.clientId;
    secret = basic.secret;
    method = 'client_secret_basic';
  } else if (secretParam !== undefined) {
    if (clientId === undefined) throw fail('missing_parameter', 'client_secret_post needs client_id');
    secret = secretParam;
    method = 'client_secret_post';
  } else if (assertion !== undefined || assertionType !== undefined) {
    if (assertionType !== JWT_BEARER_ASSERTION) throw new OAuthError('invalid_request', 'bad_assertion_type', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
    if (assertion === undefined) throw new OAuthError('invalid_request', 'missing_parameter', 'the "client_assertion" parameter is missing');
    let sub: unknown;
    try {
      sub = decodeJwt(assertion).sub;
    } catch {
      throw fail('bad_client_assertion', 'client_assertion is not a JWT');
    }
    if (typeof sub !== 'string') throw fail('bad_client_assertion', 'client_assertion has no "sub" claim');
    if (clientId !== undefined && clientId !== sub) throw fail('client_id_mismatch', 'client_id differs from the client_assertion subject');
    clientId = sub;
    method = 'private_key_jwt';
  } else {
    if (clientId === undefined) throw fail('client_auth_required', 'client authentication is required (no client_id)');
    method = 'none';
  }

  // Throttling (throttle.ts): a presented secret or assertion is evaluated only while neither
  // this client_id nor this address is blocked (429 + Retry-After, RFC 6585 §4): before any
  // scrypt run or comparison with a cached secret. Every invalid_client after that counts.
  const attempt = method === 'none' ? undefined : ctx.throttle.client(request, clientId, now);
  try {
    await attempt?.check();
    const client = await ctx.clients.get(clientId, now);
    if (!client) throw fail('unknown_client', 'unknown client');
    if (client.tokenEndpointAuthMethod !== method) {
      throw fail('auth_method_mismatch', `this client authenticates with ${client.tokenEndpointAuthMethod}, not ${method}`);
    }
    switch (method) {
      case 'client_secret_basic':
      case 'client_secret_post':
        // The scrypt run (not a cache hit) is counted first and bounded by the scrypt gate.
        if (!(await ctx.clients.checkSecret(client, secret!, now, attempt!.verify))) throw fail('client_auth_failed', 'client authentication failed');
        break;
      case 'private_key_jwt':
        await checkAssertion(ctx, client, assertion!, audiences, now, fail);
        break;
      case 'none':
        break;
    }
    await attempt?.succeeded();
    return { client, method };
  } catch (err) {
    if (err instanceof ThrottledError) throw throttledOAuthError(err);
    if (attempt && err instanceof OAuthError && err.error === 'invalid_client') await attempt.failed();
    throw err;
  }
}

const jwksCache = new WeakMap<object, ReturnType<typeof createLocalJWKSet>>();

/** RFC 7523 §3: iss = sub = client_id, aud = this server, exp required, jti single use. */
async function checkAssertion(ctx: AsContext, client: ClientRecord, assertion: string, audiences: readonly string[], now: number, fail: (reason: AuthorizationServerReason, description: string) => OAuthError): Promise<void> {
  // RFC 7591 jwks_uri (registered clients): the keys are fetched, cached and checked there.
  const remote = client.jwks === undefined && client.jwksUri !== undefined ? remoteClientKeys(ctx, client as ClientRecord & { jwksUri: string }) : undefined;
  if (!remote && (!client.jwks || !Array.isArray(client.jwks.keys))) throw fail('no_client_keys', 'the client has no registered keys');
  let keySet = remote ?? jwksCache.get(client.jwks!);
  if (!keySet) {
    // A weak key (small-order Ed25519 point, RSA e = 1) would accept assertions nobody signed:
    // it never verifies, whatever the storage holds (configuration refuses it at start).
    const keys = client.jwks!.keys.filter((key) => keyWeakness(key) === undefined);
    if (keys.length === 0) throw fail('no_client_keys', 'the client has no usable registered keys (weak keys are refused)');
    keySet = createLocalJWKSet({ ...client.jwks, keys } as JSONWebKeySet);
    jwksCache.set(client.jwks!, keySet);
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, keySet, {
      issuer: client.clientId,
      subject: client.clientId,
      audience: [...audiences],
      algorithms: ASSERTION_ALGS,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(now * 1000),
      clockTolerance: 5,
    }));
  } catch (err) {
    const detail = err instanceof joseErrors.JOSEError || err instanceof ClientJwksError ? err.message : 'invalid';
    throw fail('bad_client_assertion', `client_assertion rejected: ${detail}`);
  }
  const exp = payload.exp!;
  if (exp - now > MAX_ASSERTION_LIFETIME) throw fail('bad_client_assertion', `client_assertion expires too far in the future (at most ${MAX_ASSERTION_LIFETIME} s)`);
  // RFC 7523 §3 (7): the jti may be used once; spent in the same replay cache as DPoP proofs,
  // and charged to the client's quota there, as its proofs are: an entry lives until the
  // assertion expires (up to an hour), so a client's own assertions must not fill the cache.
  const fresh = await chargeEntry(
    ctx.replayQuota.counter,
    { holder: `client:${client.clientId}`, limit: ctx.replayQuota.perClient, whose: 'this client', expiresAt: exp + 5, now },
    async () => {
      try {
        return await ctx.replayCache.reserve(`private_key_jwt:${client.clientId}:${String(payload.jti)}`, exp + 5);
      } catch {
        throw replayCacheUnavailable();
      }
    },
    (reserved) => reserved,
  );
  if (!fresh) throw fail('client_assertion_replayed', 'client_assertion has been used before (jti seen)');
}
