/**
 * node:http adapter: `createServer(toNodeHandler(as))` serves the authorization server, passing
 * each request's socket address on for throttling (see `node-http.ts` for the conversion).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthorizationServer } from '../options.js';
import { fail, handle, served, type NodeHandlerOptions } from './node-http.js';

export type { NodeHandlerOptions };

/**
 * A node:http request listener serving the authorization server on every path (others get its
 * JSON 404).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * createServer(toNodeHandler(as)).listen(4000);
 * ```
 */
export function toNodeHandler(as: AuthorizationServer, options: NodeHandlerOptions = {}) {
  const s = served(as, options);
  return function authorizationServer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // as.fetch answers every failure itself; only converting or writing can fail here.
    return handle(s, req, res).catch((err: unknown) => fail(res, err));
  };
}
