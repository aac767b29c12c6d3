/**
 * Listen with a Web `fetch` handler or a node:http listener on the port of a configured URL,
 * and close cleanly.
 *
 * @module
 */
import { serve } from '@hono/node-server';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenPort } from '../config/schema.js';

export interface Listening {
  url: string;
  port: number;
  /** Stop accepting and wait for the requests in flight. */
  close(): Promise<void>;
  /** Drop every connection now (after the shutdown bound). */
  destroy(): void;
}

/** A Web `fetch` handler (served with @hono/node-server), or a node:http listener as `{ node }`. */
export type Handler = ((request: Request) => Response | Promise<Response>) | { node: RequestListener };

export function listen(url: string, handler: Handler): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const port = Number(listenPort(url));
    const hostname = hostnameOf(url);
    const ready = () => {
      resolve({
        url,
        port: (server.address() as AddressInfo).port,
        // Graceful: stop accepting, let requests in flight finish, drop idle keep-alive
        // connections as they become idle. The caller bounds the wait (`shutdownTimeout`) and
        // calls `destroy()` when it runs out.
        close: () => new Promise<void>((done) => {
          server.close(() => {
            clearInterval(idle);
            done();
          });
          server.closeIdleConnections();
          const idle = setInterval(() => server.closeIdleConnections(), 50);
        }),
        destroy: () => server.closeAllConnections(),
      });
    };
    const server: Server = typeof handler === 'function'
      ? (serve({ fetch: handler, port, hostname }, ready) as Server)
      : createServer(handler.node).listen({ port, host: hostname }, ready);
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
