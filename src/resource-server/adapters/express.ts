/**
 * Express adapter: middleware that puts the principal on `req.dpop` and `res.locals.dpop`, or
 * answers the refusal. Uses `req.originalUrl`, so a router mounted under a path still checks the
 * full path the client signed.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceServer } from '../index.js';
import { normalizeRequirement } from '../step-up.js';
import type { Principal } from '../types.js';
import { authenticate, resourceMetadataNode, type NodeAdapterOptions } from './node.js';

/** The parts of Express's request and response this adapter touches. */
type ExpressRequest = IncomingMessage & { originalUrl?: string };
type ExpressResponse = ServerResponse & { locals?: Record<string, unknown> };

/**
 * @example
 * ```ts
 * app.get('/items', dpopExpress(rs, { scopes: ['read'] }), (req, res) => res.json({ sub: req.dpop!.subject }));
 * ```
 */
export function dpopExpress(rs: ResourceServer, options: NodeAdapterOptions = {}) {
  // A route's step-up requirement is checked once, here (a TypeError at start, not a 500 later).
  normalizeRequirement(options.authentication);
  return (req: ExpressRequest, res: ExpressResponse, next: (err?: unknown) => void): void => {
    authenticate(rs, req, res, options).then((accepted) => {
      if (!accepted) return;
      if (res.locals) res.locals.dpop = accepted.principal;
      next();
    }, next);
  };
}

/**
 * The RFC 9728 metadata route, for apps that protect only some routes (the middleware answers
 * it too when it sees the request).
 *
 * @example
 * ```ts
 * app.use(resourceMetadataExpress(rs));
 * app.use('/api', dpopExpress(rs));
 * ```
 */
export function resourceMetadataExpress(rs: ResourceServer) {
  return resourceMetadataNode(rs);
}

export type { Principal };
