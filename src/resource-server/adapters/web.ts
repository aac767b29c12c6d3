/**
 * Web `Request` adapter for edge runtimes (Cloudflare Workers, Deno, Bun, Vercel Edge):
 * `(request) => { ok: true, principal, headers } | { ok: false, response }`.
 *
 * @module
 */
import type { ResourceServer } from '../index.js';
import { toResponse } from '../respond.js';
import type { Principal } from '../types.js';

export interface WebAdapterOptions {
  scopes?: readonly string[];
}

export type WebResult =
  | { ok: true; principal: Principal; headers: Record<string, string> }
  | { ok: false; response: Response };

/**
 * @example
 * ```ts
 * const check = dpopWeb(rs);
 * export default { async fetch(request) {
 *   const auth = await check(request);
 *   if (!auth.ok) return auth.response;
 *   return Response.json({ sub: auth.principal.subject }, { headers: auth.headers });
 * } };
 * ```
 */
export function dpopWeb(rs: ResourceServer, options: WebAdapterOptions = {}) {
  return async (request: Request, info: { remoteAddress?: string } = {}): Promise<WebResult> => {
    const result = await rs.verify({ method: request.method, url: request.url, headers: request.headers, remoteAddress: info.remoteAddress });
    if (!result.ok) return { ok: false, response: toResponse(result) };
    const denied = options.scopes ? rs.requireScopes(result.principal, options.scopes) : undefined;
    if (denied) return { ok: false, response: toResponse(denied) };
    return { ok: true, principal: result.principal, headers: result.headers };
  };
}
