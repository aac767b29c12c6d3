/**
 * Authorization server discovery (RFC 8414), with the OpenID Connect location as fallback.
 *
 * @module
 */
import { invalidArgument } from '../../core/argument-error.js';
import { OAuthResponseError } from './errors.js';
import type { AuthorizationServerMetadata } from './types.js';

/** The metadata URLs to try for `issuer`, in order. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  // RFC 8414 §3.1: the well-known segment goes between host and path; a lone "/" path is dropped.
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const rfc8414 = `${url.origin}/.well-known/oauth-authorization-server${path}`;
  // OpenID Connect Discovery §4: appended to the issuer.
  const oidc = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  return [rfc8414, oidc];
}

/**
 * Fetch an authorization server's metadata: RFC 8414 `/.well-known/oauth-authorization-server`
 * first, `/.well-known/openid-configuration` when that is not found. The metadata's `issuer`
 * must equal `issuer` exactly (RFC 8414 §3.3), or this throws `OAuthResponseError('issuer_mismatch')`:
 * otherwise one server could pose as another.
 *
 * @throws OAuthResponseError `network_error`, `invalid_response` (no metadata at either location, or not
 *   a JSON object) or `issuer_mismatch`.
 */
export async function discover(issuer: string, options: { fetch?: typeof fetch } = {}): Promise<AuthorizationServerMetadata> {
  let urls: string[];
  try {
    urls = metadataUrls(issuer);
  } catch {
    throw invalidArgument(`issuer ${JSON.stringify(issuer)} is not an absolute URL`);
  }
  const send = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  let last: Response | undefined;
  for (const url of urls) {
    let response: Response;
    try {
      response = await send(url, { headers: { accept: 'application/json' }, redirect: 'error' });
    } catch (cause) {
      throw new OAuthResponseError('network_error', { message: `cannot reach ${url}: ${(cause as Error)?.message ?? String(cause)}`, cause });
    }
    if (!response.ok) {
      last = response;
      await response.body?.cancel().catch(() => undefined);
      continue;
    }
    let metadata: unknown;
    try {
      metadata = await response.json();
    } catch (cause) {
      throw new OAuthResponseError('invalid_response', { response, message: `${url} did not answer JSON`, cause });
    }
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new OAuthResponseError('invalid_response', { response, message: `${url} did not answer a JSON object` });
    }
    const found = (metadata as { issuer?: unknown }).issuer;
    // RFC 8414 §3.3: "MUST be identical"; no normalisation (a trailing slash is a different issuer).
    if (found !== issuer) {
      throw new OAuthResponseError('issuer_mismatch', { response, message: `metadata at ${url} names issuer ${JSON.stringify(found)}, not ${JSON.stringify(issuer)}` });
    }
    return metadata as AuthorizationServerMetadata;
  }
  throw new OAuthResponseError('invalid_response', {
    ...(last ? { response: last } : {}),
    message: `no authorization server metadata for ${issuer} (HTTP ${last?.status ?? '?'} at ${urls.join(' and ')})`,
  });
}
