/**
 * node:http adapter: `(req, res, next?)` middleware and a `protect(handler)` wrapper. Sets
 * `req.dpop` to the principal; a refusal is written with exactly the status, headers and body
 * `respond.ts` produced. Reads `req.headersDistinct`, so repeated `Authorization` or `DPoP`
 * fields are seen (Node's `req.headers` silently keeps only the first `Authorization`).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isExposeHeader, mergeExposeHeaders } from '../expose.js';
import type { ResourceServer } from '../index.js';
import { normalizeRequirement } from '../step-up.js';
import type { Accepted, Principal, Rejected, RequestLike, VerifyOptions } from '../types.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The DPoP/Bearer principal, set by dpopkit's resource-server adapters. */
    dpop?: Principal;
  }
}

/** `scopes`: what every request must hold (403 `insufficient_scope` otherwise); `authentication`: the sign-in it must rest on (RFC 9470 step-up, 401 `insufficient_user_authentication`); both passed to `rs.verify`. */
export type NodeAdapterOptions = VerifyOptions;

/** A node:http request as the resource server sees it (`url` is `originalUrl` under Express mounts). */
export function toRequestLike(req: IncomingMessage & { originalUrl?: string }): RequestLike {
  return {
    method: req.method ?? 'GET',
    // The raw target, as the router sees it: dot segments are refused, not normalised away.
    url: req.originalUrl ?? req.url ?? '/',
    headers: req.headersDistinct,
    remoteAddress: req.socket?.remoteAddress,
    protocol: (req.socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http',
  };
}

/**
 * Set dpopkit's headers on a response; `Access-Control-Expose-Headers` is merged with the value
 * the application (e.g. its CORS middleware, which runs first) already set.
 */
export function applyHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  // for…in, not Object.entries: the usual success has no header to set, and allocates nothing.
  for (const name in headers) {
    const value = headers[name]!;
    res.setHeader(name, isExposeHeader(name) ? mergeExposeHeaders(res.getHeader(name), value) : value);
  }
}

/** Write a refusal (status, headers, JSON body). */
export function sendRejection(res: ServerResponse, rejection: Rejected): void {
  if (res.headersSent) return;
  const body = JSON.stringify(rejection.body);
  applyHeaders(res, rejection.headers);
  res.writeHead(rejection.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Answer a request for the RFC 9728 metadata document (public: no token needed); `true` when
 * the request was for it and has been answered.
 */
export function sendMetadata(rs: ResourceServer, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse): boolean {
  const answer = rs.answerMetadata({ method: req.method ?? 'GET', url: req.originalUrl ?? req.url ?? '/' });
  if (!answer || res.headersSent) return false;
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
  return true;
}

/**
 * A handler for the metadata route alone (RFC 9728 §3), for apps that protect only some
 * routes: `next()` (or 404) for any other path.
 *
 * @example
 * ```ts
 * const metadata = resourceMetadataNode(rs);
 * http.createServer((req, res) => metadata(req, res, () => guard(req, res, () => app(req, res))));
 * ```
 */
export function resourceMetadataNode(rs: ResourceServer) {
  return (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next?: (err?: unknown) => void): void => {
    if (sendMetadata(rs, req, res)) return;
    if (next) next();
    else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_request', error_description: 'not found' }));
    }
  };
}

/**
 * Check a request; `Accepted` (headers applied, `req.dpop` set) or `undefined` after writing a
 * refusal, or the metadata document when that is what was asked for.
 */
export async function authenticate(rs: ResourceServer, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, options: NodeAdapterOptions = {}): Promise<Accepted | undefined> {
  if (sendMetadata(rs, req, res)) return undefined;
  const result = await rs.verify(toRequestLike(req), options);
  if (!result.ok) {
    sendRejection(res, result);
    return undefined;
  }
  applyHeaders(res, result.headers);
  req.dpop = result.principal;
  return result;
}

/**
 * Connect-style middleware: calls `next()` with the principal on `req.dpop`, or answers the refusal.
 *
 * @example
 * ```ts
 * const guard = dpopNode(rs);
 * http.createServer((req, res) => guard(req, res, () => res.end(`hello ${req.dpop!.subject}`)));
 * ```
 */
export function dpopNode(rs: ResourceServer, options: NodeAdapterOptions = {}) {
  // A route's step-up requirement is checked once, here (a TypeError at start, not a 500 later).
  normalizeRequirement(options.authentication);
  return async (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): Promise<Principal | undefined> => {
    const accepted = await authenticate(rs, req, res, options);
    if (accepted) next?.();
    return accepted?.principal;
  };
}

/** Wrap a node:http handler so it runs only for authenticated requests. */
export function protect(rs: ResourceServer, handler: (req: IncomingMessage, res: ServerResponse, principal: Principal) => unknown, options: NodeAdapterOptions = {}) {
  // A route's step-up requirement is checked once, here (a TypeError at start, not a 500 later).
  normalizeRequirement(options.authentication);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const accepted = await authenticate(rs, req, res, options);
    if (accepted) await handler(req, res, accepted.principal);
  };
}
