/**
 * `dpopkit serve`: the authorization server, the demo API and the demo page, composed from the
 * configuration. Nothing here is protocol logic; it only wires the role packages together.
 *
 * The two servers share no replay state: each has its own replay cache (see `stores.ts`) and
 * its own nonce secret, derived from the configured one with HKDF (RFC 5869) under a label per
 * role. So a flood at one cannot fill the other's cache, and a nonce one hands out is no good at
 * the other, while every process of a fleet that shares the configured secret still derives
 * the same two.
 *
 * @module
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { createAuthorizationServer, hashPassword, type ThrottleOptions } from '../../authorization-server/index.js';
import { toNodeHandler } from '../../authorization-server/adapters/node.js';
import { createMemoryAttemptStore } from '../../stores/memory.js';
import type { Config } from '../config/schema.js';
import { createDemoApi } from './api.js';
import { createDemoSite } from './demo-site.js';
import { readiness, replayCacheProbe, startAdmin, type Probe } from './admin.js';
import { collectReplayCacheSize, countedNodeHandler, countingLogger, createServeMetrics, loadPromClient, metricsRoute, processExposition, resourceServerHook, timed, timedFetch } from './metrics.js';
import { answerPrimary } from './workers.js';
import { fetchWithRequestId, nodeWithRequestId, withRequestId } from './request-id.js';
import { listen, type Listening } from './listen.js';
import { createLogger, resolveLogFormat, type LogFormat } from './logger.js';
import { apiReplayCacheConfig, openReplayCache, openStorage, warnOnRedisEviction } from './stores.js';

/** Longest wait for one readiness probe. */
const PROBE_TIMEOUT_MS = 1000;

/** HKDF `info` labels: one secret per role, never the configured one itself. */
export const NONCE_LABELS = {
  authorizationServer: 'dpopkit serve: authorization server DPoP nonces',
  api: 'dpopkit serve: resource server DPoP nonces',
} as const;

/** A 32-byte nonce secret for one role, from the configured secret (HKDF-SHA256, RFC 5869). */
export function roleNonceSecret(secret: string, label: string): string {
  return Buffer.from(hkdfSync('sha256', secret, 'dpopkit serve', label, 32)).toString('base64url');
}

export interface Running {
  urls: { issuer: string; api?: string; demo?: string };
  /** The servers' log, and whether it is written for people or programs (`log.format`). */
  logger: { info(obj: object, msg?: string): void };
  logFormat: LogFormat;
  close(): Promise<void>;
}

export interface StartOptions {
  /**
   * One of `--workers N`: the primary serves the admin port, and asks this process for its
   * metrics and readiness over the cluster channel instead.
   */
  fleetWorker?: boolean;
}

export async function startServers(config: Config, options: StartOptions = {}): Promise<Running> {
  const logger = createLogger(config.log);
  const asConfig = config.authorizationServer;
  // Prometheus series for /metrics on the admin listener (prom-client is loaded, and anything
  // wrapped, only with one).
  const metrics = config.admin ? createServeMetrics(await loadPromClient()) : undefined;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch((error) => logger.error({ err: error }, 'close failed'));
  };
  try {
    // Stateless nonces are HMACs: a fleet must share the secret; one process may invent its own.
    const asNonce = asConfig.dpop.nonce;
    const apiNonce = config.api?.dpop.nonce ?? false;
    const configured = asNonce ? asNonce.secret : undefined;
    const nonceSecret = configured ?? randomBytes(32).toString('base64url');
    if (configured === undefined && (asNonce || (apiNonce && apiNonce.secret === undefined))) {
      logger.info('no nonce secret configured: using a random one, so nonces do not survive a restart or work across processes; to share one, set DPOPKIT_NONCE_SECRET (or dpop.nonce.secret) to at least 32 bytes, e.g. `openssl rand -base64 32`');
    }

    const storage = await openStorage(asConfig.storage);
    closers.push(() => storage.close());
    const { shared, ...quota } = asConfig.dpop.replayQuota ?? {};
    const replay = await openReplayCache(asConfig.replayCache, shared ?? asConfig.replayCache.type === 'redis');
    closers.push(() => replay.close());
    const apiReplay = config.api ? await openReplayCache(apiReplayCacheConfig(asConfig.replayCache, config.api)) : undefined;
    if (apiReplay) closers.push(() => apiReplay.close());
    // A Redis that may evict keys can drop live replay entries: say so at start, once per server.
    await warnOnRedisEviction({ 'authorization-server': replay, api: apiReplay }, logger);

    const users = await Promise.all(
      asConfig.users.map(async ({ password, passwordHash, ...user }) => {
        if (password) logger.warn({ user: user.username }, 'user has a plain-text password in the configuration: use `dpopkit hash-password` outside development');
        return { ...user, passwordHash: passwordHash ?? (await hashPassword(password!)) };
      }),
    );
    const authorizationServer = await createAuthorizationServer({
      issuer: asConfig.issuer,
      storage: metrics ? timed(storage, metrics.storageSeconds, metrics.storageErrors) : storage,
      replayCache: metrics ? timed(replay.cache, metrics.replayCacheSeconds, metrics.replayCacheErrors, { cache: 'authorization-server' }) : replay.cache,
      dpop: {
        ...asConfig.dpop,
        nonce: asNonce && { ...asNonce, secret: roleNonceSecret(nonceSecret, NONCE_LABELS.authorizationServer) },
        // Counted in the shared replay cache's store when one was opened (replayQuota.shared):
        // one bound per holder for the whole fleet.
        replayQuota: { ...quota, ...(replay.quota ? { store: replay.quota } : {}) },
      },
      tokens: asConfig.tokens,
      signingKeys: asConfig.signingKeys,
      corsOrigins: asConfig.corsOrigins,
      // RFC 8707 resources and RFC 7591 registration, when configured.
      ...(asConfig.resources !== undefined ? { resources: asConfig.resources } : {}),
      ...(asConfig.registration !== undefined ? { registration: asConfig.registration } : {}),
      ...(asConfig.loginHint !== undefined ? { loginHint: asConfig.loginHint } : {}),
      throttle: throttleOptions(asConfig.throttle),
      clients: asConfig.clients,
      users,
      // Every line it writes while handling a request carries that request's id (reqId).
      logger: withRequestId(metrics ? countingLogger(metrics, logger.child({ role: 'authorization-server' })) : logger.child({ role: 'authorization-server' })),
    });
    closers.push(() => authorizationServer.close());

    const servers: Listening[] = [];
    // The node adapter hands each request's socket address to the throttle.
    const asHandler = toNodeHandler(authorizationServer);
    const counted = metrics ? countedNodeHandler(metrics, asHandler) : asHandler;
    const asListen = asConfig.listenPort === undefined ? asConfig.issuer : withPort(asConfig.issuer, asConfig.listenPort);
    servers.push(await listen(asListen, { node: nodeWithRequestId(logger.child({ role: 'authorization-server' }), counted) }));
    closers.push(() => servers[0]!.close());

    let apiUrl: string | undefined;
    if (config.api) {
      const api = createDemoApi({
        // The API's secret: its own if configured, else the shared one, under the API's label.
        // Its proof algorithms: its own if configured, else the authorization server's.
        config: {
          ...config.api,
          dpop: {
            ...config.api.dpop,
            algs: config.api.dpop.algs ?? asConfig.dpop.algs,
            nonce: apiNonce && { ...apiNonce, secret: roleNonceSecret(apiNonce.secret ?? nonceSecret, NONCE_LABELS.api) },
          },
        },
        issuer: asConfig.issuer,
        replayCache: metrics ? timed(apiReplay!.cache, metrics.replayCacheSeconds, metrics.replayCacheErrors, { cache: 'api' }) : apiReplay!.cache,
        logger: withRequestId(logger.child({ role: 'resource-server' })),
        ...(metrics ? { metricsHook: resourceServerHook(metrics) } : {}),
      });
      const apiFetch = metrics ? timedFetch(metrics, api.fetch) : api.fetch;
      const listening = await listen(config.api.url, fetchWithRequestId(logger.child({ role: 'resource-server' }), apiFetch));
      closers.push(() => listening.close());
      apiUrl = config.api.url;
    }
    let demoUrl: string | undefined;
    if (config.demo) {
      const site = createDemoSite(config.demo, asConfig.issuer, apiUrl);
      const listening = await listen(config.demo.url, site.fetch);
      closers.push(() => listening.close());
      demoUrl = config.demo.url;
    }
    if (config.admin && metrics) {
      collectReplayCacheSize(metrics, 'authorization-server', replay.cache, asConfig.replayCache);
      if (apiReplay && config.api) collectReplayCacheSize(metrics, 'api', apiReplay.cache, apiReplayCacheConfig(asConfig.replayCache, config.api));
      // /readyz: probes of what every token and API request needs.
      const probes: Record<string, Probe> = {
        storage: () => storage.getClient('dpopkit-readyz'),
        replayCache: replayCacheProbe(replay.cache),
        ...(apiReplay ? { apiReplayCache: replayCacheProbe(apiReplay.cache) } : {}),
      };
      if (options.fleetWorker) {
        // The primary holds the admin port: it asks each worker over the cluster channel and
        // sums what they answer (fleet-admin.ts). On shutdown its readiness turns `shutting down` first.
        const draining = answerPrimary({
          metrics: () => metrics.registry.getMetricsAsJSON(),
          readiness: () => readiness(probes, PROBE_TIMEOUT_MS),
        });
        closers.push(async () => draining());
      } else {
        const admin = await startAdmin({
          port: config.admin.port,
          host: config.admin.host,
          readiness: async () => ({ checks: await readiness(probes, PROBE_TIMEOUT_MS) }),
          routes: { '/metrics': metricsRoute(processExposition(metrics)) },
        });
        // Closed first on shutdown (closers run in reverse): /readyz stops saying ready at once.
        closers.push(() => {
          admin.draining();
          return admin.close();
        });
      }
    }
    return { urls: { issuer: asConfig.issuer, api: apiUrl, demo: demoUrl }, logger, logFormat: resolveLogFormat(config.log.format), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The issuer's URL with another port (same host, so a loopback issuer still binds loopback only). */
function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return `${u.protocol}//${u.host}`;
}

/** `throttle` of the configuration as the authorization server takes it (`store: 'storage'` is its default). */
function throttleOptions({ store, ...rest }: Config['authorizationServer']['throttle']): ThrottleOptions {
  return store === 'memory' ? { ...rest, store: createMemoryAttemptStore() } : rest;
}
