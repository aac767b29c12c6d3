/**
 * CORS (Fetch standard) for the endpoints a browser client calls with `fetch`: token, PAR,
 * revocation, metadata and JWKS. Only configured origins are allowed; the `DPoP` request header
 * and the `DPoP-Nonce` / `WWW-Authenticate` response headers are made visible, without which a
 * browser client can neither send proofs nor learn nonces (RFC 9449 §8).
 *
 * @module
 */
import type { AsRequest } from './as-request.js';
import { AsResponse } from './as-response.js';

const ALLOW_HEADERS = 'DPoP, Content-Type, Authorization';
const EXPOSE_HEADERS = 'DPoP-Nonce, WWW-Authenticate';

export interface Cors {
  /** The answer to a preflight, or `undefined` when the request is not one (or not allowed). */
  preflight(request: AsRequest, methods: string): AsResponse | undefined;
  /** Add the CORS headers for an allowed origin to an actual response. */
  decorate(request: AsRequest, response: AsResponse): AsResponse;
}

export function createCors(origins: readonly string[]): Cors {
  const allowed = new Set(origins);
  const originOf = (request: AsRequest): string | undefined => {
    const origin = request.headers.get('origin');
    return origin !== null && allowed.has(origin) ? origin : undefined;
  };
  return {
    preflight(request, methods) {
      if (request.method !== 'OPTIONS') return undefined;
      const origin = originOf(request);
      const headers: Record<string, string> = { Vary: 'Origin' };
      if (origin && request.headers.has('access-control-request-method')) {
        headers['Access-Control-Allow-Origin'] = origin;
        headers['Access-Control-Allow-Methods'] = methods;
        headers['Access-Control-Allow-Headers'] = ALLOW_HEADERS;
        headers['Access-Control-Max-Age'] = '600';
      }
      return new AsResponse(null, 204, headers);
    },
    decorate(request, response) {
      const origin = originOf(request);
      response.headers.append('Vary', 'Origin');
      if (origin) {
        response.headers.set('Access-Control-Allow-Origin', origin);
        // Merged with any list the response already carries (no name twice, any case).
        response.headers.set('Access-Control-Expose-Headers', mergeExposeHeaders(response.headers.get('Access-Control-Expose-Headers'), EXPOSE_HEADERS));
      }
      return response;
    },
  };
}

/** `existing` with the names of `add` appended when missing (case-insensitive, no duplicates). */
export function mergeExposeHeaders(existing: string | null, add: string): string {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const item of `${existing ?? ''},${add}`.split(',')) {
    const name = item.trim();
    if (name === '' || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    names.push(name);
  }
  return names.join(', ');
}
