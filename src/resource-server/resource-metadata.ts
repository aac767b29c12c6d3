/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): the JSON document that tells a client which
 * authorization server issues tokens for this API, which scopes and proof algorithms it takes,
 * and that it wants DPoP-bound tokens; its well-known URL, derived from the resource identifier
 * (§3.1, path-aware); and the `resource_metadata` challenge parameter (§5.1) that points a
 * client holding nothing but the API's URL at it.
 *
 * The resource identifier is the API's audience: a token is accepted only when its `aud`
 * contains it (RFC 8707 §2, RFC 9068 §4), so a token minted for another API behind the same
 * authorization server is refused here.
 *
 * @module
 */
import type { HeadersLike } from './types.js';
import { invalidArgument } from '../core/argument-error.js';

/** The well-known suffix (RFC 9728 §3, registered in §8.3). */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** What a resource server may say about itself beyond what it knows already. */
export interface ResourceMetadataOptions {
  /**
   * The resource identifier (RFC 9728 §2): an http(s) URL without fragment, one of `audience`.
   * Default: the audience, when it is a single http(s) URL (or the first http(s) one).
   */
  resource?: string;
  /** `authorization_servers`: issuer URLs (default: `[issuer]`). */
  authorizationServers?: readonly string[];
  /** `scopes_supported`: the scopes this API's routes ask for. */
  scopesSupported?: readonly string[];
  /** `resource_name`: a human-readable name, for consent and sign-in pages. */
  resourceName?: string;
  /** `resource_documentation`: a URL of developer documentation. */
  resourceDocumentation?: string;
  /** `resource_policy_uri` and `resource_tos_uri` (RFC 9728 §2). */
  resourcePolicyUri?: string;
  resourceTosUri?: string;
  /** Seconds a client may cache the document (`Cache-Control: max-age`, default 300). */
  maxAge?: number;
}

/** The RFC 9728 §2 document as dpopkit writes it. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  /** RFC 9728 §2 (from RFC 9449): the proof algorithms this resource server accepts. */
  dpop_signing_alg_values_supported: string[];
  /** `true` when only DPoP-bound tokens are accepted (`bearer: 'reject'`). */
  dpop_bound_access_tokens_required: boolean;
  resource_name?: string;
  resource_documentation?: string;
  resource_policy_uri?: string;
  resource_tos_uri?: string;
  [member: string]: unknown;
}

/** A resource server's published metadata: the document, where it lives, and how to answer for it. */
export interface ResourceMetadata {
  /** The resource identifier (also the `resource` member). */
  resource: string;
  /** The document's URL (what `resource_metadata` in challenges names). */
  url: string;
  /** The path part of `url`: the route that serves it. */
  path: string;
  document: ProtectedResourceMetadata;
}

/** The answer to a metadata request, for adapters to send as is. */
export interface MetadataAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * RFC 9728 §3.1: the well-known URL of a resource's metadata. The suffix goes between the host
 * and the path; a path that is only `/` is dropped; a query is kept.
 *
 * @example
 * ```ts
 * resourceMetadataUrl('https://api.example.com/v1'); // https://api.example.com/.well-known/oauth-protected-resource/v1
 * ```
 */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}${PROTECTED_RESOURCE_WELL_KNOWN}${path}${url.search}`;
}

/** RFC 9728 §2: an http(s) URL (https in production; http for local development), no fragment. */
function checkUrl(value: string, name: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(`${name} must be an absolute URL (got ${JSON.stringify(value)})`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || value.includes('#') || url.username || url.password) {
    throw invalidArgument(`${name} must be an http(s) URL without fragment or user information (got ${JSON.stringify(value)})`);
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && !value.includes('#');
  } catch {
    return false;
  }
}

export interface ResourceMetadataInput {
  issuer: string;
  audience: readonly string[];
  proofAlgs: readonly string[];
  bearer: 'allow' | 'reject';
  options: ResourceMetadataOptions | false | undefined;
}

/**
 * Build the metadata of a resource server, or `undefined` when it has no http(s) resource
 * identifier (an audience such as `urn:my-api` names no URL to publish under) or metadata is
 * turned off.
 *
 * @throws TypeError for a `resource` that is not one of the audience values, or a malformed URL.
 */
export function createResourceMetadata(input: ResourceMetadataInput): ResourceMetadata | undefined {
  const { options } = input;
  if (options === false) return undefined;
  const o = options ?? {};
  let resource = o.resource;
  if (resource !== undefined) {
    checkUrl(resource, 'metadata.resource');
    // The identifier is what tokens must be minted for: it has to be one of the audiences.
    if (!input.audience.includes(resource)) throw invalidArgument(`metadata.resource ${JSON.stringify(resource)} must be one of the audience values (a token's aud must contain the resource identifier)`);
  } else {
    resource = input.audience.find(isHttpUrl);
    if (resource === undefined) return undefined;
  }
  const servers = [...(o.authorizationServers ?? [input.issuer])];
  for (const [i, s] of servers.entries()) checkUrl(s, `metadata.authorizationServers[${i}]`);
  const document: ProtectedResourceMetadata = {
    resource,
    authorization_servers: servers,
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: [...input.proofAlgs],
    dpop_bound_access_tokens_required: input.bearer === 'reject',
  };
  if (o.scopesSupported !== undefined) document.scopes_supported = [...o.scopesSupported];
  if (o.resourceName !== undefined) document.resource_name = o.resourceName;
  for (const [key, member] of [['resourceDocumentation', 'resource_documentation'], ['resourcePolicyUri', 'resource_policy_uri'], ['resourceTosUri', 'resource_tos_uri']] as const) {
    const value = o[key];
    if (value === undefined) continue;
    checkUrl(value, `metadata.${key}`);
    document[member] = value;
  }
  const url = resourceMetadataUrl(resource);
  return { resource, url, path: new URL(url).pathname, document };
}

/** The path of a request target (origin-form or absolute), without query. */
function pathOf(target: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      return '';
    }
  }
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

/**
 * The answer for a request to the metadata's path, or `undefined` for any other path (the
 * adapters then authenticate the request as usual). `GET`/`HEAD` get the document: public,
 * cacheable, readable from any origin (it is what a browser client needs first); other methods
 * get 405.
 */
export function answerMetadata(metadata: ResourceMetadata | undefined, request: { method: string; url: string; headers?: HeadersLike }, maxAge = 300): MetadataAnswer | undefined {
  if (!metadata || pathOf(request.url) !== metadata.path) return undefined;
  const method = request.method.toUpperCase();
  if (method === 'OPTIONS') {
    return { status: 204, headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Max-Age': '600', Allow: 'GET, HEAD, OPTIONS' }, body: '' };
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return {
      status: 405,
      headers: { Allow: 'GET, HEAD, OPTIONS', 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: 'invalid_request', error_description: `${request.method} is not allowed here; use GET` }),
    };
  }
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': `public, max-age=${maxAge}`, 'Access-Control-Allow-Origin': '*' },
    body: method === 'HEAD' ? '' : JSON.stringify(metadata.document),
  };
}

/** A Web `Response` for a metadata answer (Hono and Web adapters). */
export function metadataResponse(answer: MetadataAnswer): Response {
  return new Response(answer.body === '' ? null : answer.body, { status: answer.status, headers: answer.headers });
}
