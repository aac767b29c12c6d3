/**
 * Authorization-server metadata discovery: RFC 8414 §3 (`/.well-known/oauth-authorization-server`
 * inserted between host and path), then OpenID Connect Discovery 1.0 §4
 * (`/.well-known/openid-configuration` appended). The document's `issuer` must equal the
 * configured issuer (RFC 8414 §3.3), or another server's keys could be trusted.
 *
 * @module
 */
import { fetchJson, PeerError } from './http.js';
import type { FetchLike } from './types.js';

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  [member: string]: unknown;
}

/** The two discovery URLs for an issuer, in the order tried. */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
}

/** Seconds between discovery attempts after a failure. */
const RETRY_AFTER_FAILURE_MS = 5000;

/** A lazily fetched, cached metadata document; a failure is retried after a short pause. */
export function createMetadataSource(issuer: string, fetchFn: FetchLike): () => Promise<IssuerMetadata> {
  let cached: IssuerMetadata | undefined;
  let inflight: Promise<IssuerMetadata> | undefined;
  let failedAt = -Infinity;
  let lastError: unknown;

  async function load(): Promise<IssuerMetadata> {
    const errors: string[] = [];
    for (const url of discoveryUrls(issuer)) {
      try {
        const doc = await fetchJson(fetchFn, url);
        if (doc.issuer !== issuer) {
          errors.push(`${url}: issuer ${JSON.stringify(doc.issuer)} is not ${JSON.stringify(issuer)}`);
          continue;
        }
        return doc as IssuerMetadata;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new PeerError(`authorization-server metadata for ${issuer} not found (${errors.join('; ')})`);
  }

  return async () => {
    if (cached) return cached;
    if (Date.now() - failedAt < RETRY_AFTER_FAILURE_MS) throw lastError;
    inflight ??= load().then(
      (doc) => {
        cached = doc;
        inflight = undefined;
        return doc;
      },
      (err: unknown) => {
        failedAt = Date.now();
        lastError = err;
        inflight = undefined;
        throw err;
      },
    );
    return inflight;
  };
}
