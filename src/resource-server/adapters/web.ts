/**
 * Web `Request` adapter for edge runtimes (Cloudflare Workers, Deno, Bun, Vercel Edge):
 * `(request) => { ok: true, principal, headers } | { ok: false, response }`.
 *
 * @module
 */
import { isExposeHeader, mergeExposeHeaders } from '../expose.js';
import type { ResourceServer } from '../index.js';
import { normalizeRequirement } from '../step-up.js';
import { toResponse } from '../respond.js';
import { metadataResponse } from '../resource-metadata.js';
import type { Principal, VerifyOptions } from '../types.js';

/** `scopes`: what every request must hold (403 `insufficient_scope` otherwise); `authentication`: the sign-in it must rest on (RFC 9470 step-up, 401 `insufficient_user_authentication`); both passed to `rs.verify`. */
export type WebAdapterOptions = VerifyOptions;

/** What the runtime knows about the connection, beyond the `Request`. */
export interface WebRequestInfo {
  /** The immediate peer's address (for `trustProxy`). */
  remoteAddress?: string | undefined;
  /** The request target as received, when the runtime has it (`Request.url` has no dot segments left to check). */
  rawTarget?: string | undefined;
}

export type WebResult =
  | {
    ok: true;
    principal: Principal;
    /** Headers for the answer (the next `DPoP-Nonce`, exposed to browsers). */
    headers: Record<string, string>;
    /** Add `headers` to a Response, merging `Access-Control-Expose-Headers` with its own list. */
    decorate(response: Response): Response;
  }
  | { ok: false; response: Response };

/** Add dpopkit's headers to a Response; `Access-Control-Expose-Headers` is merged, not replaced. */
export function applyHeaders(response: Response, headers: Readonly<Record<string, string>>): Response {
  for (const [name, value] of Object.entries(headers)) {
    response.headers.set(name, isExposeHeader(name) ? mergeExposeHeaders(response.headers.get(name), value) : value);
  }
  return response;
}

/**
 * @example
 * ```ts
 * const check = dpopWeb(rs);
 * export default { async fetch(request) {
 *   const auth = await check(request);
 *   if (!auth.ok) return auth.response;
 *   return auth.decorate(Response.json({ sub: auth.principal.subject }));
 * } };
 * ```
 */
export function dpopWeb(rs: ResourceServer, options: WebAdapterOptions = {}) {
  // A route's step-up requirement is checked once, here (a TypeError at start, not a 500 later).
  normalizeRequirement(options.authentication);
  return async (request: Request, info: WebRequestInfo = {}): Promise<WebResult> => {
    // RFC 9728: the metadata document is public; it comes back as the response to send.
    const answer = rs.answerMetadata({ method: request.method, url: request.url });
    if (answer) return { ok: false, response: metadataResponse(answer) };
    const result = await rs.verify({ method: request.method, url: request.url, headers: request.headers, remoteAddress: info.remoteAddress, rawTarget: info.rawTarget }, options);
    if (!result.ok) return { ok: false, response: toResponse(result) };
    const headers = result.headers;
    return { ok: true, principal: result.principal, headers, decorate: (response) => applyHeaders(response, headers) };
  };
}

/**
 * The RFC 9728 metadata document for a request to its URL, or `undefined` for any other.
 *
 * @example
 * ```ts
 * const metadata = resourceMetadataWeb(rs);
 * export default { fetch: (request) => metadata(request) ?? app(request) };
 * ```
 */
export function resourceMetadataWeb(rs: ResourceServer) {
  return (request: Request): Response | undefined => {
    const answer = rs.answerMetadata({ method: request.method, url: request.url });
    return answer ? metadataResponse(answer) : undefined;
  };
}
