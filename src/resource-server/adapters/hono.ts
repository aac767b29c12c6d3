/**
 * Hono middleware: `c.get('dpop')` is the principal; a refusal is returned as the `Response`
 * `respond.ts` describes. On @hono/node-server the peer address comes from `c.env.incoming`.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import type { ResourceServer } from '../index.js';
import { toResponse } from '../respond.js';
import type { Principal } from '../types.js';

export interface HonoAdapterOptions {
  /** Scopes every request must hold. */
  scopes?: readonly string[];
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
  return async (c, next) => {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
    const result = await rs.verify({
      method: c.req.method,
      url: c.req.url,
      headers: c.req.raw.headers,
      remoteAddress: options.remoteAddress ? options.remoteAddress(c) : env?.incoming?.socket?.remoteAddress,
    });
    const denied = result.ok ? (options.scopes ? rs.requireScopes(result.principal, options.scopes) : undefined) : result;
    if (denied) return toResponse(denied);
    if (!result.ok) return toResponse(result);
    c.set('dpop', result.principal);
    await next();
    for (const [name, value] of Object.entries(result.headers)) c.header(name, value);
    return undefined;
  };
}
