/**
 * Hono middleware: `c.get('dpop')` is the principal; a refusal is returned as the `Response`
 * `respond.ts` describes. On @hono/node-server the peer address comes from `c.env.incoming`.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { EXPOSE_HEADER, isExposeHeader, mergeExposeHeaders } from '../expose.js';
import type { ResourceServer } from '../index.js';
import { toResponse } from '../respond.js';
import { normalizeRequirement } from '../step-up.js';
import { metadataResponse } from '../resource-metadata.js';
import type { Principal, VerifyOptions } from '../types.js';

/** `scopes` (every request must hold them, else 403 `insufficient_scope`) are passed to `rs.verify`. */
export interface HonoAdapterOptions extends VerifyOptions {
  /** The peer address, when the runtime is not @hono/node-server. */
  remoteAddress?: (c: Parameters<MiddlewareHandler>[0]) => string | undefined;
}

/**
 * @example
 * ```ts
 * app.use('/api/*', dpopHono(rs));
 * app.get('/api/items', (c) => c.json({ sub: c.get('dpop').subject }));
 * ```
 */
export function dpopHono(rs: ResourceServer, options: HonoAdapterOptions = {}): MiddlewareHandler<{ Variables: { dpop: Principal } }> {
  // A route's step-up requirement is checked once, here (a TypeError at start, not a 500 later).
  normalizeRequirement(options.authentication);
  return async (c, next) => {
    // RFC 9728: the metadata document is public, answered before any authentication.
    const answer = rs.answerMetadata({ method: c.req.method, url: c.req.url });
    if (answer) return metadataResponse(answer);
    const env = c.env as { incoming?: { url?: string; socket?: { remoteAddress?: string } } } | undefined;
    const result = await rs.verify({
      method: c.req.method,
      url: c.req.url,
      headers: c.req.raw.headers,
      remoteAddress: options.remoteAddress ? options.remoteAddress(c) : env?.incoming?.socket?.remoteAddress,
      // c.req.url is parsed (dot segments removed): the raw target is checked for them.
      rawTarget: env?.incoming?.url,
    }, { scopes: options.scopes, authentication: options.authentication });
    if (!result.ok) {
      // Hono copies headers set earlier (e.g. by hono/cors) over the Response returned here:
      // merge the expose list into those first, so neither list is lost.
      const exposed = result.headers[EXPOSE_HEADER];
      const response = toResponse(result);
      if (exposed !== undefined) {
        const merged = mergeExposeHeaders(c.res.headers.get(EXPOSE_HEADER), exposed);
        c.res.headers.set(EXPOSE_HEADER, merged);
        response.headers.set(EXPOSE_HEADER, merged);
      }
      return response;
    }
    c.set('dpop', result.principal);
    await next();
    for (const [name, value] of Object.entries(result.headers)) {
      c.header(name, isExposeHeader(name) ? mergeExposeHeaders(c.res.headers.get(name), value) : value);
    }
    return undefined;
  };
}

/**
 * The RFC 9728 metadata route, for apps whose DPoP middleware covers only some paths.
 *
 * @example
 * ```ts
 * app.get(rs.resourceMetadata!.path, resourceMetadataHono(rs));
 * app.use('/api/*', dpopHono(rs));
 * ```
 */
export function resourceMetadataHono(rs: ResourceServer): MiddlewareHandler {
  return async (c, next) => {
    const answer = rs.answerMetadata({ method: c.req.method, url: c.req.url });
    if (answer) return metadataResponse(answer);
    await next();
    return undefined;
  };
}
