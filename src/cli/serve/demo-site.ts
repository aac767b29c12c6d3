/**
 * The demo page server: the built single-page app (demo/dist) and `/config.json`, which tells
 * the page where the authorization server and the API are.
 *
 * @module
 */
import { Hono } from 'hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DemoConfig } from '../config/schema.js';

/** demo/dist of the package, wherever it is installed (dist/cli/serve/ → package root). */
export const DEMO_DIST = fileURLToPath(new URL('../../../demo/dist/', import.meta.url));

export function createDemoSite(config: DemoConfig, issuer: string, apiUrl: string | undefined) {
  if (!existsSync(DEMO_DIST)) throw new Error(`the demo is not built (${DEMO_DIST} is missing): run \`npm run build\``);
  const app = new Hono();
  app.use('*', async (c, next) => {
    await next();
    // The page runs key material: no framing, no third-party scripts, nothing cached stale.
    // img-src data: for the inline icon (index.html); nothing else the page shows is an image.
    c.header('Content-Security-Policy', `default-src 'self'; img-src 'self' data:; connect-src 'self' ${new URL(issuer).origin} ${apiUrl ? new URL(apiUrl).origin : ''}; form-action ${new URL(issuer).origin}; frame-ancestors 'none'`);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
  });
  app.get('/config.json', (c) =>
    c.json({ issuer, api: apiUrl ? new URL('/api/hello', apiUrl).href : undefined, clientId: config.clientId, redirectUri: config.redirectUri, scope: config.scope }),
  );
  app.use('/*', serveStatic({ root: DEMO_DIST }));
  // Single-page app: the redirect URI path (and any other page path) serves index.html.
  app.get('*', serveStatic({ root: DEMO_DIST, path: 'index.html' }));
  return { fetch: app.fetch };
}
