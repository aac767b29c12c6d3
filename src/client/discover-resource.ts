/**
 * From an API's URL to its authorization server (RFC 9728, RFC 8414): the walk a client makes
 * when it knows nothing else.
 *
 * 1. Call the API without a token; a 401 names the metadata in `resource_metadata` (RFC 9728
 *    §5.1). Without one, the well-known URLs derived from the API's URL are tried (§3.1: the
 *    path-aware one, then the origin's).
 * 2. Fetch the protected resource metadata and check its `resource` (§3.3): it must be
 *    identical to the resource identifier the metadata URL was built from (the URL with the
 *    well-known segment taken out), and the API's URL must be that resource or lie under it
 *    (same origin, path prefix). A metadata URL of another shape must describe exactly the URL
 *    that was called. Either way, an API cannot point a client at another API's document and
 *    have the client fetch tokens for that other API to send to it, and a document cannot claim
 *    to be another resource.
 * 3. Fetch the authorization server's metadata (RFC 8414, OpenID fallback); its `issuer` must
 *    be identical to the one the resource named (§3.3 of RFC 8414).
 *
 * Every fetch is https (loopback http allowed), without redirects, size-capped and timed out
 * (`safe-fetch.ts`).
 *
 * @module
 */
import { findChallenge, parseChallenges } from '../core/challenge.js';
import { discover } from './oauth/discovery.js';
import { OAuthResponseError } from './oauth/errors.js';
import type { AuthorizationServerMetadata } from './oauth/types.js';
import { checkFetchableUrl, createSafeFetch, type SafeFetchOptions } from './safe-fetch.js';

/** The well-known suffix (RFC 9728 §3). */
const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** Protected resource metadata (RFC 9728 §2): the members dpopkit reads, plus any others. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  scopes_supported?: string[];
  bearer_methods_supported?: string[];
  /** RFC 9728 §2 (from RFC 9449): proof algorithms the resource server accepts. */
  dpop_signing_alg_values_supported?: string[];
  /** Only DPoP-bound tokens are accepted. */
  dpop_bound_access_tokens_required?: boolean;
  resource_name?: string;
  resource_documentation?: string;
  [member: string]: unknown;
}

/** What {@link discoverResource} found. */
export interface ResourceDiscovery {
  /** The URL the walk started from. */
  url: string;
  /** The resource identifier: what to send as `resource` (RFC 8707) so the token's `aud` fits. */
  resource: string;
  /** Where the resource's metadata was read. */
  resourceMetadataUrl: string;
  resourceMetadata: ProtectedResourceMetadata;
  /** The issuer chosen among `authorization_servers`. */
  issuer: string;
  authorizationServer: AuthorizationServerMetadata;
}

/** Options of {@link discoverResource}. */
export interface DiscoverResourceOptions extends SafeFetchOptions {
  /**
   * The 401 already received from the API (or its `WWW-Authenticate` value): the API is not
   * called again.
   */
  challenge?: Response | Headers | string;
  /** Pick the issuer among the resource's `authorization_servers` (default: the first). */
  selectIssuer?: (issuers: readonly string[]) => string | undefined;
}

/** RFC 9728 §3.1: the metadata URL of a resource identifier. */
export function protectedResourceMetadataUrl(resource: string | URL): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}${WELL_KNOWN}${path}${url.search}`;
}

/**
 * The resource identifiers a metadata URL of the well-known shape was built from (the inverse
 * of §3.1; for the origin's document both `https://api.example` and `https://api.example/`), or
 * `undefined` for a URL of another shape.
 */
function identifiersBehind(metadataUrl: URL): string[] | undefined {
  const { pathname } = metadataUrl;
  if (pathname === WELL_KNOWN) return [`${metadataUrl.origin}${metadataUrl.search}`, `${metadataUrl.origin}/${metadataUrl.search}`];
  if (pathname.startsWith(`${WELL_KNOWN}/`)) return [`${metadataUrl.origin}${pathname.slice(WELL_KNOWN.length)}${metadataUrl.search}`];
  return undefined;
}

/** Whether `url` is the resource `resource` or lies under it (same origin, path prefix on a segment boundary). */
export function isWithinResource(url: string | URL, resource: string): boolean {
  let r: URL;
  let u: URL;
  try {
    r = new URL(resource);
    u = new URL(url);
  } catch {
    return false;
  }
  if (r.origin !== u.origin || r.hash) return false;
  if (r.search && r.search !== u.search) return false;
  const base = r.pathname.endsWith('/') ? r.pathname : `${r.pathname}/`;
  return u.pathname === r.pathname || u.pathname.startsWith(base) || r.pathname === '/';
}

/** The `resource_metadata` of a 401's challenges (any scheme; the DPoP one first). */
export function resourceMetadataFromChallenge(header: string | null | undefined): string | undefined {
  const dpop = findChallenge(header, 'DPoP')?.params.resource_metadata;
  if (dpop) return dpop;
  for (const challenge of parseChallenges(header)) if (challenge.params.resource_metadata) return challenge.params.resource_metadata;
  return undefined;
}

async function readJsonObject(response: Response, what: string): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new OAuthResponseError('invalid_response', { response, message: `${what} is not JSON`, cause });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthResponseError('invalid_response', { response, message: `${what} is not a JSON object` });
  return body as Record<string, unknown>;
}

/**
 * Read one metadata document and check its `resource` (RFC 9728 §3.3).
 *
 * @param expected the identifiers the document must name (one of them, exactly).
 */
async function readResourceMetadata(safe: typeof fetch, metadataUrl: string, expected: readonly string[]): Promise<ProtectedResourceMetadata | undefined> {
  const response = await safe(metadataUrl, { headers: { accept: 'application/json' } });
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw new OAuthResponseError('invalid_response', { response, message: `${metadataUrl} answered HTTP ${response.status}, not the protected resource metadata` });
  const doc = await readJsonObject(response, `the protected resource metadata at ${metadataUrl}`);
  if (typeof doc.resource !== 'string') throw new OAuthResponseError('invalid_response', { response, message: `the protected resource metadata at ${metadataUrl} has no "resource"` });
  // RFC 9728 §3.3: otherwise "the data contained in the response MUST NOT be used".
  if (!expected.includes(doc.resource)) {
    throw new OAuthResponseError('resource_mismatch', {
      response,
      message: `the protected resource metadata at ${metadataUrl} describes ${JSON.stringify(doc.resource)}, not ${expected.map((e) => JSON.stringify(e)).join(' or ')} (RFC 9728 §3.3): refused`,
    });
  }
  if (doc.authorization_servers !== undefined && (!Array.isArray(doc.authorization_servers) || doc.authorization_servers.some((s) => typeof s !== 'string'))) {
    throw new OAuthResponseError('invalid_response', { response, message: `authorization_servers at ${metadataUrl} is not an array of issuer URLs` });
  }
  return doc as ProtectedResourceMetadata;
}

/** The WWW-Authenticate value of a challenge given as a Response, Headers or string. */
function challengeHeader(challenge: Response | Headers | string): string | null {
  if (typeof challenge === 'string') return challenge;
  const headers = challenge instanceof Headers ? challenge : challenge.headers;
  return headers.get('www-authenticate');
}

/**
 * Discover an API's resource identifier and authorization server from its URL alone.
 *
 * @example
 * ```ts
 * const found = await discoverResource('https://api.example/notes');
 * found.resource;                    // "https://api.example" — send it as `resource`
 * found.authorizationServer.issuer;  // where to get a token
 * ```
 * @throws OAuthResponseError `resource_mismatch` (an impersonating document), `issuer_mismatch`,
 *   `no_resource_metadata`, `no_authorization_server`, `insecure_url`, `redirect_refused`,
 *   `response_too_large`, `network_error`, `invalid_response`.
 */
export async function discoverResource(url: string | URL, options: DiscoverResourceOptions = {}): Promise<ResourceDiscovery> {
  const target = checkFetchableUrl(url, 'the API URL');
  const safe = createSafeFetch(options);

  let header: string | null;
  if (options.challenge !== undefined) header = challengeHeader(options.challenge);
  else {
    // RFC 9728 §5: a request without a token is answered 401 naming the metadata.
    const probe = await safe(target.href, { headers: { accept: 'application/json' } });
    header = probe.status === 401 ? probe.headers.get('www-authenticate') : null;
  }

  let found: { metadataUrl: string; doc: ProtectedResourceMetadata } | undefined;
  const named = resourceMetadataFromChallenge(header);
  if (named !== undefined) {
    const metadataUrl = checkFetchableUrl(new URL(named, target), 'resource_metadata');
    // A well-known URL names its resource (§3.1 reversed); the API must be that resource or
    // under it. Another shape says nothing: the document must describe the very URL called.
    const behind = identifiersBehind(metadataUrl);
    const expected = behind ? behind.filter((id) => isWithinResource(target, id)) : [target.href, String(url)];
    if (expected.length === 0) {
      throw new OAuthResponseError('resource_mismatch', { message: `the API at ${target.href} names metadata for another resource (${metadataUrl.href}): refused (RFC 9728 §3.3)` });
    }
    const doc = await readResourceMetadata(safe, metadataUrl.href, expected);
    if (!doc) throw new OAuthResponseError('no_resource_metadata', { message: `the resource_metadata ${metadataUrl.href} named by ${target.href} was not found (404)` });
    found = { metadataUrl: metadataUrl.href, doc };
  } else {
    // §3.1: try the path-aware well-known URL of the API's URL, then its origin's.
    const candidates: string[] = [];
    const pathAware = new URL(target.pathname === '/' ? target.origin : `${target.origin}${target.pathname.replace(/\/$/, '')}`);
    candidates.push(protectedResourceMetadataUrl(pathAware));
    if (!candidates.includes(protectedResourceMetadataUrl(target.origin))) candidates.push(protectedResourceMetadataUrl(target.origin));
    for (const candidate of candidates) {
      const behind = identifiersBehind(new URL(candidate))!;
      const doc = await readResourceMetadata(safe, candidate, behind);
      if (doc) {
        found = { metadataUrl: candidate, doc };
        break;
      }
    }
    if (!found) throw new OAuthResponseError('no_resource_metadata', { message: `${target.href} names no resource_metadata and publishes none at ${candidates.join(' or ')}` });
  }

  const servers = found.doc.authorization_servers ?? [];
  const issuer = options.selectIssuer ? options.selectIssuer(servers) : servers[0];
  if (issuer === undefined || !servers.includes(issuer)) {
    throw new OAuthResponseError('no_authorization_server', { message: `the protected resource metadata at ${found.metadataUrl} names no authorization server${servers.length > 0 ? ' that was selected' : ''}` });
  }
  checkFetchableUrl(issuer, 'the authorization server');
  // RFC 8414 §3.3: the metadata's issuer must be identical to the one asked for.
  const authorizationServer = await discover(issuer, { fetch: safe });
  return {
    url: target.href,
    resource: found.doc.resource,
    resourceMetadataUrl: found.metadataUrl,
    resourceMetadata: found.doc,
    issuer,
    authorizationServer,
  };
}
