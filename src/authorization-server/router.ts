/**
 * The routes: every endpoint under the issuer's path, metadata at the RFC 8414 §3.1 well-known
 * locations, CORS where browsers call, 405 with `Allow` for other methods, JSON 404 elsewhere.
 *
 * Every route is an exact path, so dispatch is one map lookup on the request's path (as sent,
 * not percent-decoded: `/%74oken` is not `/token`); no framework is involved.
 *
 * @module
 */
import type { AsContext } from './context.js';
import type { Cors } from './cors.js';
import { authorizeEndpoint } from './endpoints/authorize.js';
import { authorizeChallengeEndpoint } from './endpoints/authorize-challenge.js';
import { introspectEndpoint } from './endpoints/introspect.js';
import { jwksResponse } from './endpoints/jwks.js';
import { loginEndpoint } from './endpoints/login.js';
import { metadataResponse } from './endpoints/metadata.js';
import { parEndpoint } from './endpoints/par.js';
import { registerEndpoint } from './endpoints/register.js';
import { revokeEndpoint } from './endpoints/revoke.js';
import { tokenEndpoint } from './endpoints/token.js';
import { errorResponse, OAuthError } from './errors.js';
import type { AsRequest } from './as-request.js';
import type { AsResponse } from './as-response.js';

type Handler = (ctx: AsContext, request: AsRequest) => AsResponse | Promise<AsResponse>;

interface Route {
  methods: Readonly<Record<string, Handler>>;
  /** The `Allow` value (RFC 9110 §10.2.1) and the methods a preflight may ask for. */
  allow: string;
  /** Whether browsers on allowed origins may call it (CORS). */
  cors: boolean;
}

export interface Router {
  fetch(request: AsRequest): Promise<AsResponse>;
  /** Whether `pathname` is one of the routes (adapters pass other paths on). */
  handles(pathname: string): boolean;
}

/** The path of an absolute URL as `Request.url` serialises it, without query or fragment. */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  let end = url.length;
  const query = url.indexOf('?', start);
  if (query !== -1) end = query;
  const hash = url.indexOf('#', start);
  if (hash !== -1 && hash < end) end = hash;
  return url.slice(start, end);
}

export function createRouter(ctx: AsContext, cors: Cors): Router {
  const routes = new Map<string, Route>();
  const p = ctx.basePath;
  const route = (path: string, methods: Record<string, Handler>, withCors: boolean) => {
    routes.set(path, { methods, allow: Object.keys(methods).join(', '), cors: withCors });
  };

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
  // RFC 7591: only when registration is configured; browsers on allowed origins may register.
  if (ctx.registration) route(p + '/register', { POST: registerEndpoint }, true);
  // First-party apps (native, CLI): no CORS, single-page apps are not its users (draft §9.8).
  route(p + '/authorize-challenge', { POST: authorizeChallengeEndpoint }, false);

  async function answer(r: Route, request: AsRequest): Promise<AsResponse> {
    // RFC 9110 §9.3.2: HEAD is GET without the content.
    const handler = r.methods[request.method] ?? (request.method === 'HEAD' ? r.methods.GET : undefined);
    if (!handler) {
      return errorResponse(new OAuthError('invalid_request', 'method_not_allowed', `${request.method} is not allowed here; use ${r.allow}`, { status: 405, headers: { Allow: r.allow } }));
    }
    try {
      const response = await handler(ctx, request);
      return request.method === 'HEAD' ? response.withoutBody() : response;
    } catch (err) {
      return errorResponse(err, {}, ctx.log);
    }
  }

  return {
    handles: (pathname) => routes.has(pathname),
    async fetch(request) {
      const r = routes.get(pathOf(request.url));
      if (!r) return errorResponse(new OAuthError('invalid_request', 'not_found', 'not found', { status: 404 }));
      if (!r.cors) return answer(r, request);
      return cors.preflight(request, r.allow) ?? cors.decorate(request, await answer(r, request));
    },
  };
}
