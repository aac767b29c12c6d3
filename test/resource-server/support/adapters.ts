/**
 * Test support: one small API per adapter (node:http, Hono, Express, Fastify, Web Request), each
 * on a real port, protecting every path but `/public` and answering the principal plus the path
 * its router saw. Express and Fastify also route everything under `/api` (a mounted router / a
 * wildcard route), the way an application's router would.
 *
 * `appExpose` plays the application's own CORS layer, which runs BEFORE dpopkit and lists
 * headers of its own in `Access-Control-Expose-Headers` (with `Access-Control-Allow-Origin: *`):
 * dpopkit must add its headers to that list, not replace it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Principal, ResourceServer } from '../../../src/resource-server/index.js';
import { dpopExpress } from '../../../src/resource-server/adapters/express.js';
import { fastifyDPoP } from '../../../src/resource-server/adapters/fastify.js';
import { dpopHono } from '../../../src/resource-server/adapters/hono.js';
import { dpopNode } from '../../../src/resource-server/adapters/node.js';
import { dpopWeb } from '../../../src/resource-server/adapters/web.js';
import type { Running } from './http.js';

export interface AppOptions {
  scopes?: string[];
  /** The application's own `Access-Control-Expose-Headers`, set before dpopkit runs. */
  appExpose?: string;
}

export type StartApi = (rs: ResourceServer, options?: AppOptions) => Promise<Running>;

async function listen(server: Server): Promise<Running> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** node:http: `dpopNode` in front of every path but `/public`. */
export const startNode: StartApi = async (rs, options = {}) => {
  const guard = dpopNode(rs, options.scopes ? { scopes: options.scopes } : {});
  const { createServer } = await import('node:http');
  return listen(createServer((req, res) => {
    if (req.url === '/public') return void res.end('ok');
    if (options.appExpose) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Expose-Headers', options.appExpose);
    }
    void guard(req, res, () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...req.dpop, path: req.url }));
    });
  }));
};

/** Hono on @hono/node-server, with hono/cors in front when the application exposes headers. */
export const startHono: StartApi = async (rs, options = {}) => {
  const app = new Hono<{ Variables: { dpop: Principal } }>();
  if (options.appExpose) app.use('*', cors({ origin: '*', exposeHeaders: options.appExpose.split(',').map((h) => h.trim()) }));
  app.get('/public', (c) => c.text('ok'));
  app.use('*', dpopHono(rs, options.scopes ? { scopes: options.scopes } : {}));
  app.all('*', (c) => c.json({ ...c.get('dpop'), path: c.req.path }));
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  return listen(server);
};

/** Express: `/resource` (with `res.locals`), and a router mounted at `/api` guarding all it routes. */
export const startExpress: StartApi = async (rs, options = {}) => {
  const guard = dpopExpress(rs, options.scopes ? { scopes: options.scopes } : {});
  const app = express();
  if (options.appExpose) {
    app.use((_req, res, next) => {
      res.set('Access-Control-Allow-Origin', '*');
      res.set('Access-Control-Expose-Headers', options.appExpose!);
      next();
    });
  }
  app.get('/public', (_req, res) => void res.send('ok'));
  app.get('/resource', guard, (req, res) => void res.json({ ...req.dpop, fromLocals: res.locals.dpop?.subject, path: req.originalUrl }));
  const router = express.Router();
  router.use(guard);
  router.all(/.*/, (req, res) => void res.json({ ...req.dpop, path: req.originalUrl, routedUnder: '/api' }));
  app.use('/api', router);
  app.use(guard, (req, res) => void res.json({ ...req.dpop, path: req.originalUrl }));
  return listen(app.listen(0, '127.0.0.1'));
};

/** Fastify: the plugin (onRequest hook on every route, 404s included); `/api/*` is a wildcard route. */
export const startFastify: StartApi = async (rs, options = {}) => {
  const app = Fastify();
  if (options.appExpose) {
    // Registered first: its onRequest hook runs before dpopkit's.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('Access-Control-Allow-Origin', '*');
      reply.header('Access-Control-Expose-Headers', options.appExpose!);
    });
  }
  await app.register(fastifyDPoP, { resourceServer: rs, ...(options.scopes ? { scopes: options.scopes } : {}) });
  app.get('/resource', async (request) => ({ ...request.dpop, path: request.url }));
  app.all('/api/*', async (request) => ({ ...request.dpop, path: request.url, routedUnder: '/api' }));
  app.all('/*', async (request) => ({ ...request.dpop, path: request.url }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, close: () => app.close() };
};

/**
 * The Web adapter, served over real HTTP by @hono/node-server's fetch bridge; the raw request
 * target (which the bridge knows) is passed on, as a runtime that has it should.
 */
export const startWeb: StartApi = async (rs, options = {}) => {
  const check = dpopWeb(rs, options.scopes ? { scopes: options.scopes } : {});
  const server = await new Promise<Server>((resolve) => {
    const s = serve({
      fetch: async (request: Request, env: { incoming?: { url?: string; socket?: { remoteAddress?: string } } }) => {
        const auth = await check(request, { remoteAddress: env?.incoming?.socket?.remoteAddress, rawTarget: env?.incoming?.url });
        const appCors = (response: Response): Response => {
          if (!options.appExpose) return response;
          // the application's CORS layer, run on the way out: adds to the list, like dpopkit does
          response.headers.set('Access-Control-Allow-Origin', '*');
          const own = response.headers.get('Access-Control-Expose-Headers');
          response.headers.set('Access-Control-Expose-Headers', own ? `${own}, ${options.appExpose}` : options.appExpose);
          return response;
        };
        if (!auth.ok) return appCors(auth.response);
        const response = Response.json({ ...auth.principal, path: new URL(request.url).pathname });
        if (options.appExpose) {
          // the application set its own list before dpopkit's headers were added
          response.headers.set('Access-Control-Allow-Origin', '*');
          response.headers.set('Access-Control-Expose-Headers', options.appExpose);
        }
        return auth.decorate(response);
      },
      port: 0, hostname: '127.0.0.1',
    }, () => resolve(s as Server));
  });
  return listen(server);
};

export const ADAPTERS: ReadonlyArray<readonly [name: string, start: StartApi]> = [
  ['node:http', startNode],
  ['Hono', startHono],
  ['Express', startExpress],
  ['Fastify', startFastify],
  ['Web Request', startWeb],
];
