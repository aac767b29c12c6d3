/**
 * The admin listener of `dpopkit serve` (`admin: { port, host }`, off by default): what an
 * orchestrator and a monitoring system ask a process, kept off the public ports.
 *
 * - `GET /healthz`: the process is alive (200).
 * - `GET /readyz`: 200 when the storage and every replay cache answer a cheap probe within a
 *   second, else 503 naming the one that failed (a load balancer stops sending requests this
 *   process would answer with 503 anyway). 503 too once shutdown has begun. With
 *   `--workers N` the primary answers, from every worker's probes (`fleet-admin.ts`).
 * - `GET /metrics`: Prometheus exposition (`metrics.ts`), when given as a route.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One dependency's probe: resolves when it answers, rejects (or times out) when it does not. */
export type Probe = () => Promise<unknown>;

/** Each dependency's state: `ok`, or a short reason (`timeout`, the error's message). */
export type Checks = Record<string, string>;

export interface AdminOptions {
  port: number;
  host: string;
  /**
   * Run on each `/readyz`: ready when every check is `ok` (see {@link readiness}). Members of
   * `also` are added to the answer (the primary of `--workers N` says how many are ready).
   */
  readiness: () => Promise<{ checks: Checks; also?: Record<string, unknown> }>;
  /** Extra routes (`/metrics`), answered before 404. */
  routes?: Record<string, (request: IncomingMessage, response: ServerResponse) => void | Promise<void>>;
}

export interface AdminListening {
  port: number;
  /** From now on `/readyz` answers 503 `shutting down`. */
  draining(): void;
  close(): Promise<void>;
}

export function startAdmin(options: AdminOptions): Promise<AdminListening> {
  let stopping = false;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, { error: 'method not allowed' });
    if (path === '/healthz') return send(response, 200, { status: 'ok' });
    if (path === '/readyz') {
      if (stopping) return send(response, 503, { status: 'unavailable', failed: ['shutting down'] });
      options.readiness().then(
        ({ checks, also }) => {
          const failed = Object.entries(checks).filter(([, c]) => c !== 'ok').map(([name]) => name);
          send(response, failed.length ? 503 : 200, { status: failed.length ? 'unavailable' : 'ok', ...(failed.length ? { failed } : {}), checks, ...also });
        },
        () => send(response, 503, { status: 'unavailable', failed: ['readiness'] }),
      );
      return;
    }
    const route = options.routes?.[path];
    if (route) {
      Promise.resolve(route(request, response)).catch(() => {
        if (!response.headersSent) send(response, 500, { error: 'internal error' });
      });
      return;
    }
    send(response, 404, { error: 'not found' });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`cannot listen for the admin port: port ${options.port} is already in use`) : error),
    );
    server.listen({ port: options.port, host: options.host }, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        draining() {
          stopping = true;
        },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Every probe at once; each `ok` or a short reason (`timeout`, the error's message). */
export async function readiness(probes: Record<string, Probe>, timeoutMs: number): Promise<Checks> {
  const entries = await Promise.all(
    Object.entries(probes).map(async ([name, probe]) => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<string>((done) => {
        timer = setTimeout(() => done('timeout'), timeoutMs);
      });
      const answered = Promise.resolve()
        .then(probe)
        .then(() => 'ok', (error: unknown) => (error instanceof Error ? error.message || error.name : 'failed'));
      const result = await Promise.race([answered, timedOut]);
      clearTimeout(timer);
      return [name, result] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * A replay cache's probe: reserve a fresh random key that lives one second. It is the very
 * operation every proof needs, so a cache that is down, full or read-only fails it.
 */
export function replayCacheProbe(cache: { reserve(key: string, expiresAt: number): Promise<boolean> | boolean }): Probe {
  return async () => {
    const fresh = await cache.reserve(`dpopkit-readyz:${randomBytes(12).toString('base64url')}`, Math.floor(Date.now() / 1000) + 1);
    if (!fresh) throw new Error('probe key was already present');
  };
}

function send(response: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
