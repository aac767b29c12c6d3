/**
 * The routes: every endpoint under the issuer's path, metadata at the RFC 8414 §3.1 well-known
 * locations, CORS where browsers call, 405 with `Allow` for other methods, JSON 404 elsewhere.
 *
 * @module
 */
import { Hono } from 'hono';
import type { AsContext } from './context.js';
import type { Cors } from './cors.js';
import { authorizeEndpoint } from './endpoints/authorize.js';
import { introspectEndpoint } from './endpoints/introspect.js';
import { jwksResponse } from './endpoints/jwks.js';
import { loginEndpoint } from './endpoints/login.js';
import { metadataResponse } from './endpoints/metadata.js';
import { parEndpoint } from './endpoints/par.js';
import { revokeEndpoint } from './endpoints/revoke.js';
import { tokenEndpoint } from './endpoints/token.js';
import { errorResponse, OAuthError } from './errors.js';
import { useNodeBody } from './form.js';

type Handler = (ctx: AsContext, request: Request) => Response | Promise<Response>;

export function buildApp(ctx: AsContext, cors: Cors): Hono {
  const app = new Hono();
  const p = ctx.basePath;

  /** One path, its methods, and whether browsers on allowed origins may call it. */
  function route(path: string, methods: Record<string, Handler>, withCors: boolean): void {
    const allow = Object.keys(methods).join(', ');
    app.all(path, async (c) => {
      const request = c.req.raw;
      // On Node (@hono/node-server), read form bodies from the IncomingMessage (see form.ts).
      if (request.method === 'POST') useNodeBody(request, (c.env as { incoming?: unknown } | undefined)?.incoming);
      if (withCors) {
        const preflight = cors.preflight(request, allow);
        if (preflight) return preflight;
      }
      const handler = methods[request.method] ?? (request.method === 'HEAD' ? methods.GET : undefined);
      const response = handler
        ? await handler(ctx, request)
        : errorResponse(new OAuthError('invalid_request', `${request.method} is not allowed here; use ${allow}`, 405, { Allow: allow }));
      return withCors ? cors.decorate(request, response) : response;
    });
  }

  const meta: Handler = (c) => metadataResponse(c);
  route('/.well-known/oauth-authorization-server' + p, { GET: meta }, true);
  route('/.well-known/openid-configuration' + p, { GET: meta }, true);
  if (p) {
    route(p + '/.well-known/oauth-authorization-server', { GET: meta }, true);
    route(p + '/.well-known/openid-configuration', { GET: meta }, true);
  }
  route(p + '/jwks', { GET: jwksResponse }, true);
  route(p + '/token', { POST: tokenEndpoint }, true);
  route(p + '/par', { POST: parEndpoint }, true);
  route(p + '/revoke', { POST: revokeEndpoint }, true);
  route(p + '/introspect', { POST: introspectEndpoint }, false);
  route(p + '/authorize', { GET: authorizeEndpoint }, false);
  route(p + '/login', { POST: loginEndpoint }, false);

  app.notFound(() => errorResponse(new OAuthError('invalid_request', 'not found', 404)));
  app.onError((err) => errorResponse(err, {}, ctx.log));
  return app;
}
