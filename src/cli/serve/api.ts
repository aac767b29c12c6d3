/**
 * The demo API: one route, `GET /api/hello`, protected by dpopkit's resource server through its
 * Hono middleware, exactly as a user's own API would be.
 *
 * @module
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { createResourceServer } from '../../resource-server/index.js';
import { dpopHono, resourceMetadataHono } from '../../resource-server/adapters/hono.js';
import type { Logger } from '../../core/logger.js';
import type { ReplayCache } from '../../core/replay.js';
import type { Principal, ResourceServerMetricsHook } from '../../resource-server/index.js';
import type { ApiConfig } from '../config/schema.js';

export interface ApiOptions {
  config: ApiConfig;
  issuer: string;
  replayCache: ReplayCache;
  logger: Logger;
  /** Metrics of `dpopkit serve`'s admin port, when it has one. */
  metricsHook?: ResourceServerMetricsHook;
}

export function createDemoApi({ config, issuer, replayCache, logger, metricsHook }: ApiOptions) {
  const resourceServer = createResourceServer({
    issuer,
    audience: config.audience ?? config.url,
    // The API's own origin, as clients call it: proofs are checked against this URL, never
    // against the Host header (a proof made for another API on this address is refused).
    publicUrl: config.publicUrl ?? config.url,
    bearer: config.bearer,
    // algs, nonce, maxAge, maxFuture as configured; `start.ts` gives it the authorization
    // server's algs unless the API names its own (one demo speaks one set), and its own nonce
    // secret (derived per role).
    dpop: config.dpop,
    // RFC 9728: the document a client holding only the API's URL starts from.
    metadata: {
      resourceName: config.resourceName ?? 'dpopkit demo API',
      ...(config.scopesSupported !== undefined ? { scopesSupported: config.scopesSupported } : {}),
      ...(config.resourceDocumentation !== undefined ? { resourceDocumentation: config.resourceDocumentation } : {}),
    },
    replayCache,
    logger,
    ...(metricsHook ? { metricsHook } : {}),
  });
  const app = new Hono<{ Variables: { dpop: Principal } }>();
  if (config.corsOrigins.length > 0) {
    // Browsers must be able to send DPoP + Authorization and read the challenge and nonce (RFC 9449 §7.1, §9).
    app.use('*', cors({
      origin: config.corsOrigins,
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'DPoP', 'Content-Type'],
      exposeHeaders: ['WWW-Authenticate', 'DPoP-Nonce'],
      maxAge: 600,
    }));
  }
  // RFC 9728 §3: the metadata is public (the guard below covers /api/* only).
  app.use('*', resourceMetadataHono(resourceServer));
  app.use('/api/*', dpopHono(resourceServer));
  app.get('/api/hello', (c) => {
    const principal = c.get('dpop');
    return c.json({
      message: `Hello ${principal.subject ?? principal.clientId}: this answer needed the token and a fresh proof from its key.`,
      subject: principal.subject,
      clientId: principal.clientId,
      scopes: principal.scopes,
      scheme: principal.scheme,
      jkt: principal.jkt,
    });
  });
  app.get('/', (c) => c.json({ routes: ['GET /api/hello (DPoP-protected)', `GET ${resourceServer.resourceMetadata?.path ?? ''} (RFC 9728 metadata)`] }));
  return { fetch: app.fetch, resourceServer };
}
