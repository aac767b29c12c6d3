/**
 * Fastify adapter: a plugin (not encapsulated, like fastify-plugin makes it) that decorates
 * `request.dpop` and checks every request in an `onRequest` hook (or `preHandler`), and
 * `dpopPreHandler` for single routes. Refusals are sent with the status, headers and body from
 * `respond.ts`.
 *
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EXPOSE_HEADER, isExposeHeader, mergeExposeHeaders } from '../expose.js';
import type { ResourceServer } from '../index.js';
import { normalizeRequirement } from '../step-up.js';
import type { Principal } from '../types.js';
import { toRequestLike, type NodeAdapterOptions } from './node.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The DPoP/Bearer principal, set by dpopkit. */
    dpop: Principal | null;
  }
}

export interface FastifyDPoPOptions extends NodeAdapterOptions {
  resourceServer: ResourceServer;
  /** Hook that checks requests (default `onRequest`: before the body is read). */
  hook?: 'onRequest' | 'preHandler';
}

/** Where a request remembers which headers dpopkit asked to expose (read by the plugin's onSend). */
const EXPOSED = Symbol.for('dpopkit.exposeHeaders');
type Marked = FastifyRequest & { [EXPOSED]?: string };

/** Set dpopkit's headers; `Access-Control-Expose-Headers` merged with the application's value. */
function applyHeaders(request: FastifyRequest, reply: FastifyReply, headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (isExposeHeader(name)) {
      reply.header(name, mergeExposeHeaders(reply.getHeader(name) as string | string[] | undefined, value));
      (request as Marked)[EXPOSED] = value;
    } else reply.header(name, value);
  }
}

/** A hook/preHandler checking one request. */
export function dpopPreHandler(rs: ResourceServer, options: NodeAdapterOptions = {}) {
  // A route's step-up requirement is checked once, here (a TypeError at start, not a 500 later).
  normalizeRequirement(options.authentication);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const raw = request.raw;
    // RFC 9728: the metadata document is public, answered before any authentication.
    const answer = rs.answerMetadata({ method: request.method, url: request.url });
    if (answer) return reply.code(answer.status).headers(answer.headers).send(answer.body);
    // request.url keeps the full path under prefixes; the peer is the socket, not request.ip.
    const result = await rs.verify({ ...toRequestLike(raw), url: request.url }, options);
    if (!result.ok) {
      applyHeaders(request, reply, result.headers);
      // Fastify: an async hook that answers early must return the reply.
      return reply.code(result.status).type('application/json').send(JSON.stringify(result.body));
    }
    applyHeaders(request, reply, result.headers);
    request.dpop = result.principal;
    return undefined;
  };
}

/**
 * @example
 * ```ts
 * await app.register(fastifyDPoP, { resourceServer: rs });
 * app.get('/items', async (request) => ({ sub: request.dpop!.subject }));
 * ```
 */
export async function fastifyDPoP(fastify: FastifyInstance, options: FastifyDPoPOptions): Promise<void> {
  fastify.decorateRequest('dpop', null);
  // RFC 9728 §3: the metadata route exists whether or not a hook sees the request first.
  const metadata = options.resourceServer.resourceMetadata;
  if (metadata) {
    fastify.route({
      method: ['GET', 'OPTIONS'],
      url: metadata.path,
      handler: async (request, reply) => {
        const answer = options.resourceServer.answerMetadata({ method: request.method, url: request.url })!;
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      },
    });
  }
  fastify.addHook(options.hook ?? 'onRequest', dpopPreHandler(options.resourceServer, options));
  // A CORS plugin whose hook runs after ours may set its own list: merge ours back in at send.
  fastify.addHook('onSend', async (request, reply, payload) => {
    const exposed = (request as Marked)[EXPOSED];
    if (exposed !== undefined) reply.header(EXPOSE_HEADER, mergeExposeHeaders(reply.getHeader(EXPOSE_HEADER) as string | string[] | undefined, exposed));
    return payload;
  });
}
// What fastify-plugin does: share the decoration and hook with the parent scope.
(fastifyDPoP as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
(fastifyDPoP as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'dpopkit-resource-server';
