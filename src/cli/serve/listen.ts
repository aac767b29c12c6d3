/**
 * Listen with a Web `fetch` handler on the port of a configured URL, and close cleanly.
 *
 * @module
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { listenPort } from '../config/schema.js';

export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

export function listen(url: string, fetch: (request: Request) => Response | Promise<Response>): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port: Number(listenPort(url)), hostname: hostnameOf(url) }, (info: AddressInfo) => {
      resolve({
        url,
        port: info.port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
      });
    });
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`cannot listen for ${url}: port ${listenPort(url)} is already in use`) : error),
    );
  });
}

/** Bind loopback URLs to loopback only; anything else on every interface. */
function hostnameOf(url: string): string | undefined {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '127.0.0.1' ? '127.0.0.1' : host === '[::1]' ? '::1' : undefined;
}
