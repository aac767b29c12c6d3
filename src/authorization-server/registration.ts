/**
 * Dynamic client registration (RFC 7591): the server's registration settings, and the check of
 * a client's metadata before it becomes a `ClientRecord`. Every refusal names the member and
 * the rule, with RFC 7591 §3.2.2's codes: `invalid_redirect_uri` for a redirect URI,
 * `invalid_client_metadata` for anything else.
 *
 * Redirect URIs follow RFC 8252 for native apps and the OAuth 2.0 Security BCP (RFC 9700
 * §4.1.1) for the rest:
 * - `https://…` (no user information, no fragment);
 * - loopback `http://127.0.0.1[:port]/…` or `http://[::1][:port]/…` (RFC 8252 §7.3; any port is
 *   accepted at the authorization endpoint, since a native app picks a free one each time;
 *   `localhost` is refused, §8.3: it may resolve elsewhere);
 * - a private-use scheme in reverse domain-name form with a dot, `com.example.app:/callback`
 *   (RFC 8252 §7.1); never `javascript:`, `data:`, `file:` and the like, nor plain `http:` to
 *   another host.
 *
 * @module
 */
import { createHash, createPublicKey, timingSafeEqual } from 'node:crypto';
import { MIN_RSA_BITS } from '../core/crypto/algorithms.js';
import { keyWeakness } from '../core/weak-keys.js';
import { OAuthError } from './errors.js';
import { splitScope } from './scopes.js';
import type { ClientAuthMethod, ClientRecord, GrantType } from './storage.js';
import type { ThrottleRule } from './throttle.js';
import { invalidArgument } from '../core/argument-error.js';

/** The `registration` option of `createAuthorizationServer`. */
export interface RegistrationOptions {
  /** Anyone may register (each client address is throttled, and the number of clients capped). */
  open?: boolean;
  /**
   * Instead of `open`: a registration request must carry one of these as a Bearer token (RFC
   * 7591 §3: an initial access token, handed out of band). At least 32 characters each.
   */
  initialAccessTokens?: readonly string[];
  /** The most registered clients kept (default 1000); beyond it registration is refused (403). */
  maxClients?: number;
  /** Scopes a registered client may ask for, space-separated (default: every scope a configured client has). */
  scope?: string;
  /** Registrations per client address (default: 10 free, then 60 s doubling up to 1 h; forgotten after a quiet day). */
  throttle?: Partial<ThrottleRule>;
  /** `fetch` for registered clients' `jwks_uri` (default `globalThis.fetch`). */
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
}

/** The registration settings, checked. */
export interface RegistrationConfig {
  open: boolean;
  /** SHA-256 of each initial access token (compared in constant time). */
  tokenDigests: readonly Buffer[];
  maxClients: number;
  scope: readonly string[];
  throttle: ThrottleRule;
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
}

export const REGISTRATION_THROTTLE: Readonly<ThrottleRule> = { freeAttempts: 10, delay: 60, maxDelay: 3600, resetAfter: 86_400 };
const MAX_REDIRECT_URIS = 10;
const MAX_URI_LENGTH = 2048;
const MAX_KEYS = 10;
const GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials'];
const METHODS: readonly ClientAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'];
/** Schemes never accepted as a private-use redirect, even with a dot (RFC 8252 §8.4, RFC 9700 §4.1.1). */
const FORBIDDEN_SCHEMES = new Set(['javascript', 'data', 'file', 'vbscript', 'blob', 'about', 'ftp', 'ws', 'wss', 'mailto', 'tel', 'http', 'https']);
/** JWK members that only a private key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The registration settings from the options.
 *
 * @param scopes every scope some configured client has (the default for `scope`).
 * @throws TypeError naming the bad key.
 */
export function registrationConfig(options: RegistrationOptions | undefined, scopes: readonly string[], fetchFn?: RegistrationConfig['fetch']): RegistrationConfig | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw invalidArgument('registration must be an object');
  const open = options.open === true;
  if (options.open !== undefined && typeof options.open !== 'boolean') throw invalidArgument('registration.open must be a boolean');
  const tokens = options.initialAccessTokens;
  if (tokens !== undefined) {
    if (!Array.isArray(tokens) || tokens.length === 0) throw invalidArgument('registration.initialAccessTokens must be a non-empty array');
    for (const [i, t] of tokens.entries()) {
      if (typeof t !== 'string' || t.length < 32) throw invalidArgument(`registration.initialAccessTokens[${i}] must be a string of at least 32 characters`);
    }
  }
  if (open === (tokens !== undefined)) throw invalidArgument('registration needs exactly one of open: true and initialAccessTokens');
  const maxClients = options.maxClients ?? 1000;
  if (!Number.isInteger(maxClients) || maxClients < 1) throw invalidArgument('registration.maxClients must be a positive integer');
  let scope = [...scopes];
  if (options.scope !== undefined) {
    if (typeof options.scope !== 'string') throw invalidArgument('registration.scope must be a space-separated string');
    scope = splitScope(options.scope);
  }
  const throttle = { ...REGISTRATION_THROTTLE, ...options.throttle };
  for (const key of ['freeAttempts', 'delay', 'maxDelay', 'resetAfter'] as const) {
    const v = throttle[key];
    if (!Number.isInteger(v) || v < 1 || v > 366 * 86_400) throw invalidArgument(`registration.throttle.${key} must be a positive integer (seconds or a count)`);
  }
  if (throttle.maxDelay < throttle.delay) throw invalidArgument('registration.throttle.maxDelay must be at least registration.throttle.delay');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw invalidArgument('registration.fetch must be a function');
  return {
    open,
    tokenDigests: (tokens ?? []).map(sha256),
    maxClients,
    scope,
    throttle,
    fetch: options.fetch ?? fetchFn ?? ((input, init) => globalThis.fetch(input, init)),
  };
}

/** Whether `token` is one of the initial access tokens (constant time per candidate). */
export function isInitialAccessToken(config: RegistrationConfig, token: string): boolean {
  const digest = sha256(token);
  let found = false;
  for (const candidate of config.tokenDigests) if (timingSafeEqual(candidate, digest)) found = true;
  return found;
}

const badMetadata = (description: string) => new OAuthError('invalid_client_metadata', 'invalid_client_metadata', description);
const badRedirect = (description: string) => new OAuthError('invalid_redirect_uri', 'invalid_redirect_uri', description);

/** RFC 8252 §7.3: an http redirect to a loopback IP literal (never the name `localhost`, §8.3). */
export function isLoopbackRedirect(url: URL): boolean {
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]');
}

/** One redirect URI, or `invalid_redirect_uri` saying what is wrong with it. */
export function checkRedirectUri(value: unknown, index: number): string {
  const where = `redirect_uris[${index}]`;
  if (typeof value !== 'string' || value === '') throw badRedirect(`${where} must be a non-empty string`);
  if (value.length > MAX_URI_LENGTH) throw badRedirect(`${where} is longer than ${MAX_URI_LENGTH} characters`);
  if (value.includes('#')) throw badRedirect(`${where} must not have a fragment (RFC 6749 §3.1.2)`);
  if (/[\s\u0000-\u001f\u007f\\]/.test(value)) throw badRedirect(`${where} contains spaces, control characters or a backslash`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRedirect(`${where} is not an absolute URI`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme === 'https') {
    if (url.username || url.password) throw badRedirect(`${where} must not carry user information`);
    if (!url.hostname) throw badRedirect(`${where} has no host`);
    return value;
  }
  if (scheme === 'http') {
    if (url.username || url.password) throw badRedirect(`${where} must not carry user information`);
    if (url.hostname === 'localhost') throw badRedirect(`${where}: use the loopback IP literal http://127.0.0.1 or http://[::1] instead of localhost (RFC 8252 §8.3)`);
    if (!isLoopbackRedirect(url)) throw badRedirect(`${where}: plain http is allowed only for loopback redirects to 127.0.0.1 or [::1] (RFC 8252 §7.3); use https`);
    return value;
  }
  // RFC 8252 §7.1: a private-use scheme is a reverse domain name (it has a dot) of the app's own.
  if (FORBIDDEN_SCHEMES.has(scheme) || !scheme.includes('.')) {
    throw badRedirect(`${where}: the scheme "${scheme.slice(0, 40)}" is not allowed; use https, a loopback http URI, or a private-use scheme in reverse domain-name form such as com.example.app:/callback (RFC 8252 §7.1)`);
  }
  return value;
}

/** A client's public JWK Set (`jwks`): 1–10 public, asymmetric, importable, not weak keys. */
function checkJwks(value: unknown): { keys: Record<string, unknown>[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw badMetadata('jwks must be a JWK Set: an object with a "keys" array');
  }
  const keys = (value as { keys: unknown[] }).keys;
  if (keys.length === 0 || keys.length > MAX_KEYS) throw badMetadata(`jwks must hold 1 to ${MAX_KEYS} keys`);
  for (const [i, key] of keys.entries()) {
    const where = `jwks.keys[${i}]`;
    if (typeof key !== 'object' || key === null || Array.isArray(key)) throw badMetadata(`${where} is not a JWK`);
    const jwk = key as Record<string, unknown>;
    if (!['EC', 'OKP', 'RSA'].includes(jwk.kty as string)) throw badMetadata(`${where}: kty must be EC, OKP or RSA (asymmetric keys only)`);
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw badMetadata(`${where} holds private key material; register the public key only`);
    // Weak keys verify assertions nobody signed (small-order Ed25519 points, RSA e = 1).
    const weakness = keyWeakness(jwk);
    if (weakness !== undefined) throw badMetadata(`${where} is a weak key: ${weakness}`);
    let size: number | undefined;
    try {
      size = createPublicKey({ key: jwk as never, format: 'jwk' }).asymmetricKeyDetails?.modulusLength;
    } catch {
      throw badMetadata(`${where} is not a usable public key`);
    }
    if (jwk.kty === 'RSA' && (size === undefined || size < MIN_RSA_BITS)) throw badMetadata(`${where}: RSA keys need at least ${MIN_RSA_BITS} bits`);
  }
  return { keys: keys as Record<string, unknown>[] };
}

/** RFC 7591 `jwks_uri`: an https URL (the server fetches it when the client authenticates). */
function checkJwksUri(value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_URI_LENGTH) throw badMetadata('jwks_uri must be an https URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badMetadata('jwks_uri must be an https URL');
  }
  if (url.protocol !== 'https:' || url.username || url.password || value.includes('#')) throw badMetadata('jwks_uri must be an https URL without user information or fragment');
  return value;
}

function stringArray(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw badMetadata(`${name} must be an array of strings`);
  return [...new Set(value as string[])];
}

/** What the registration endpoint stores and answers. */
export interface CheckedMetadata {
  record: Omit<ClientRecord, 'clientId' | 'registeredAt'>;
  /** Whether a secret must be issued (client_secret_basic / client_secret_post). */
  needsSecret: boolean;
}

/**
 * Check a registration request's client metadata (RFC 7591 §2, RFC 9449 §5.2) and build the
 * record to store. Members dpopkit does not use (`client_uri`, `logo_uri`, `contacts`, …) are
 * ignored, as §2 allows; the response lists what was registered.
 *
 * @param dpopRequired the server requires DPoP of everyone: `dpop_bound_access_tokens` is true.
 * @throws OAuthError `invalid_redirect_uri` or `invalid_client_metadata`.
 */
export function checkClientMetadata(body: unknown, config: RegistrationConfig, dpopRequired: boolean): CheckedMetadata {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badMetadata('the request body must be a JSON object of client metadata');
  const m = body as Record<string, unknown>;

  const method = (m.token_endpoint_auth_method ?? 'client_secret_basic') as ClientAuthMethod;
  if (!METHODS.includes(method)) throw badMetadata(`token_endpoint_auth_method must be one of ${METHODS.join(', ')}`);

  const grantTypes = m.grant_types === undefined ? ['authorization_code'] : stringArray(m.grant_types, 'grant_types');
  if (grantTypes.length === 0) throw badMetadata('grant_types must not be empty');
  for (const g of grantTypes) if (!GRANTS.includes(g as GrantType)) throw badMetadata(`grant_types: "${g.slice(0, 60)}" is not supported (use ${GRANTS.join(', ')})`);
  const code = grantTypes.includes('authorization_code');
  // RFC 7591 §2.1: response_types and grant_types must agree.
  const responseTypes = m.response_types === undefined ? (code ? ['code'] : []) : stringArray(m.response_types, 'response_types');
  for (const r of responseTypes) if (r !== 'code') throw badMetadata(`response_types: "${r.slice(0, 60)}" is not supported (only code)`);
  if (code !== responseTypes.includes('code')) throw badMetadata('grant_types authorization_code and response_types code go together (RFC 7591 §2.1)');
  if (grantTypes.includes('refresh_token') && !code) throw badMetadata('grant_types refresh_token needs authorization_code');
  if (grantTypes.includes('client_credentials') && method === 'none') throw badMetadata('client_credentials needs client authentication (token_endpoint_auth_method none cannot use it)');

  let redirectUris: string[] = [];
  if (m.redirect_uris !== undefined) {
    if (!Array.isArray(m.redirect_uris)) throw badRedirect('redirect_uris must be an array of URIs');
    if (m.redirect_uris.length > MAX_REDIRECT_URIS) throw badRedirect(`at most ${MAX_REDIRECT_URIS} redirect_uris`);
    redirectUris = [...new Set(m.redirect_uris.map((u, i) => checkRedirectUri(u, i)))];
  }
  if (code && redirectUris.length === 0) throw badRedirect('redirect_uris is required for the authorization_code grant');

  let jwks: ClientRecord['jwks'];
  let jwksUri: string | undefined;
  if (m.jwks !== undefined && m.jwks_uri !== undefined) throw badMetadata('jwks and jwks_uri must not both be present (RFC 7591 §2)');
  if (method === 'private_key_jwt') {
    if (m.jwks === undefined && m.jwks_uri === undefined) throw badMetadata('private_key_jwt needs jwks or jwks_uri');
    if (m.jwks !== undefined) jwks = checkJwks(m.jwks);
    else jwksUri = checkJwksUri(m.jwks_uri);
  }

  let scope = [...config.scope];
  if (m.scope !== undefined) {
    if (typeof m.scope !== 'string') throw badMetadata('scope must be a space-separated string');
    const asked = [...new Set(splitScope(m.scope))];
    const allowed = new Set(config.scope);
    const extra = asked.filter((s) => !allowed.has(s));
    if (extra.length > 0) throw badMetadata(`scope not allowed for registered clients: ${extra.join(' ').slice(0, 200)}`);
    scope = asked;
  }

  // RFC 9449 §5.2: this client always uses DPoP; token requests without a proof are refused.
  if (m.dpop_bound_access_tokens !== undefined && typeof m.dpop_bound_access_tokens !== 'boolean') throw badMetadata('dpop_bound_access_tokens must be a boolean');
  const dpopBound = dpopRequired || m.dpop_bound_access_tokens === true;

  if (m.client_name !== undefined && (typeof m.client_name !== 'string' || m.client_name.length === 0 || m.client_name.length > 200)) {
    throw badMetadata('client_name must be a string of 1 to 200 characters');
  }

  const record: CheckedMetadata['record'] = {
    tokenEndpointAuthMethod: method,
    redirectUris,
    grantTypes: grantTypes as GrantType[],
    scope: scope.join(' '),
    dpopBoundAccessTokens: dpopBound,
  };
  if (typeof m.client_name === 'string') record.clientName = m.client_name;
  if (jwks !== undefined) record.jwks = jwks;
  if (jwksUri !== undefined) record.jwksUri = jwksUri;
  return { record, needsSecret: method === 'client_secret_basic' || method === 'client_secret_post' };
}

/** The client metadata of a registered client, as RFC 7591 §3.2.1 answers it. */
export function registeredMetadata(client: ClientRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    client_id: client.clientId,
    client_id_issued_at: client.registeredAt,
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
    response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    scope: client.scope,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
  };
  if (client.clientName !== undefined) out.client_name = client.clientName;
  if (client.jwks !== undefined) out.jwks = client.jwks;
  if (client.jwksUri !== undefined) out.jwks_uri = client.jwksUri;
  return out;
}

/** The URL without its port, for loopback matching. */
function withoutPort(url: URL): string {
  return `${url.protocol}//${url.hostname}${url.pathname}${url.search}`;
}

/**
 * RFC 8252 §7.3: a client that registered a loopback redirect URI may use it with any port (a
 * native app listens on whatever port is free). Only for clients that registered themselves,
 * only for `http://127.0.0.1` and `http://[::1]`, and only for a URI in canonical form (no dot
 * segments, nothing a parser would rewrite) that equals a registered one but for the port.
 */
export function loopbackRedirectMatch(client: ClientRecord, requested: string): boolean {
  if (client.registeredAt === undefined) return false;
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return false;
  }
  if (!isLoopbackRedirect(url) || url.href !== requested || url.username || url.password || url.hash) return false;
  const wanted = withoutPort(url);
  return client.redirectUris.some((registered) => {
    try {
      const r = new URL(registered);
      return isLoopbackRedirect(r) && withoutPort(r) === wanted;
    } catch {
      return false;
    }
  });
}
