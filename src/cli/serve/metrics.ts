/**
 * Prometheus metrics of `dpopkit serve`, served at `/metrics` on the admin listener through
 * [prom-client](https://github.com/siimon/prom-client), an optional peer dependency loaded only
 * when the configuration has an admin port. Each process keeps its own registry (state lives in
 * instances); with `--workers N` the primary sums the workers' registries (`fleet-admin.ts`).
 *
 * Where the numbers come from, without a metrics library in the request path of the roles:
 * - the resource server's metrics hook (`createResourceServer({ metricsHook })`): requests by
 *   outcome and reason, proof-verify and token-verify durations, JWK Set fetches;
 * - the authorization server's refusal log entries (`request refused`, `nonce challenge`,
 *   `… blocked`), which already carry `endpoint`, `error` and `reason`;
 * - thin wrappers, in `start.ts`, around the HTTP handlers (requests by outcome and latency),
 *   the storage (latency per operation) and the replay caches (latency), and the in-memory
 *   replay caches' fill level, read at each scrape.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../core/logger.js';
import { isNonceChallenge, type ResourceServerMetricsHook } from '../../resource-server/metrics.js';
import { importPeer } from '../../stores/optional-peer.js';

export type PromClient = typeof import('prom-client');

/** prom-client, or MissingPeerError naming the package (`npm install prom-client`). */
export function loadPromClient(): Promise<PromClient> {
  return importPeer('prom-client', 'the admin port\'s /metrics (dpopkit serve with "admin")', () => import('prom-client'));
}

/** Seconds, for whole requests and store calls: 0.5 ms … 10 s. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds, for one verification (an ES256 signature is tens of microseconds): 25 µs … 1 s. */
const VERIFY_BUCKETS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

type ReplayCacheName = 'authorization-server' | 'api';

/** How a replay cache's fill level is read at scrape time. */
interface CacheLevel {
  /** Entries held and the most it can hold (an in-memory cache). */
  entries?: () => number;
  capacity?: number;
  /** 0 to 1; undefined when unknown (no limit, or the server did not answer). */
  fullness(): number | undefined | Promise<number | undefined>;
}

/** The series `dpopkit serve` exports, each registered in one registry of its own. */
export interface ServeMetrics {
  registry: Registry;
  asRequests: Counter<'endpoint' | 'outcome'>;
  asRefusals: Counter<'endpoint' | 'error' | 'reason'>;
  asReplays: Counter<'endpoint'>;
  asNonceChallenges: Counter<'endpoint'>;
  asRequestSeconds: Histogram<'endpoint'>;
  throttled: Counter<'endpoint'>;
  throttleBlocks: Counter<'counter'>;
  rsRequests: Counter<'outcome'>;
  rsRefusals: Counter<'reason'>;
  rsReplays: Counter<string>;
  rsNonceChallenges: Counter<string>;
  rsRequestSeconds: Histogram<string>;
  rsProofVerifySeconds: Histogram<'outcome'>;
  rsTokenVerifySeconds: Histogram<'kind' | 'outcome'>;
  rsJwksFetches: Counter<'reason' | 'outcome'>;
  storageSeconds: Histogram<'op'>;
  storageErrors: Counter<'op'>;
  replayCacheSeconds: Histogram<'cache' | 'op'>;
  replayCacheErrors: Counter<'cache' | 'op'>;
  replayCacheEntries: Gauge<'cache'>;
  replayCacheCapacity: Gauge<'cache'>;
  replayCacheFullness: Gauge<'cache'>;
  /** Replay caches whose fill level is read at each scrape. */
  replayCacheLevels: Map<ReplayCacheName, CacheLevel>;
}

export function createServeMetrics(prom: PromClient): ServeMetrics {
  const registry = new prom.Registry();
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new prom.Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets = REQUEST_BUCKETS) =>
    new prom.Histogram<L>({ name, help, labelNames, buckets, registers });
  const levels = new Map<ReplayCacheName, CacheLevel>();
  // Read at each scrape. Summed over workers like the rest, except the ratio: the workers share
  // one Redis, and the fullest cache is the one that matters.
  const gauge = (name: string, help: string, read: (level: CacheLevel) => number | undefined | Promise<number | undefined>, aggregator: 'sum' | 'max' = 'sum') =>
    new prom.Gauge<'cache'>({
      name, help, labelNames: ['cache'], registers, aggregator,
      async collect() {
        await Promise.all([...levels].map(async ([cache, level]) => {
          const value = await Promise.resolve().then(() => read(level)).catch(() => undefined);
          // Unknown now (Redis away): no sample rather than a stale one.
          if (value === undefined || Number.isNaN(value)) this.remove({ cache });
          else this.set({ cache }, value);
        }));
      },
    });
  return {
    registry,
    asRequests: counter('dpopkit_as_requests_total', 'Authorization server requests, by endpoint and outcome (ok, refused, throttled, unavailable, error)', ['endpoint', 'outcome']),
    asRefusals: counter('dpopkit_as_refusals_total', 'Authorization server refusals (4xx), by endpoint, OAuth error and reason', ['endpoint', 'error', 'reason']),
    asReplays: counter('dpopkit_as_replays_total', 'DPoP proofs refused as replays by the authorization server (RFC 9449 §11.1), by endpoint', ['endpoint']),
    asNonceChallenges: counter('dpopkit_as_nonce_challenges_total', 'use_dpop_nonce challenges sent by the authorization server (RFC 9449 §8), by endpoint', ['endpoint']),
    asRequestSeconds: histogram('dpopkit_as_request_seconds', 'Authorization server request latency, by endpoint', ['endpoint']),
    throttled: counter('dpopkit_throttled_total', 'Attempts refused by the guessing throttle (429, reason throttled), by endpoint', ['endpoint']),
    throttleBlocks: counter('dpopkit_throttle_blocks_total', 'Blocks begun by the guessing throttle, by counter (username, address, client, …)', ['counter']),
    rsRequests: counter('dpopkit_rs_requests_total', 'Resource server requests, by outcome (accepted, refused)', ['outcome']),
    rsRefusals: counter('dpopkit_rs_refusals_total', 'Resource server refusals, by reason', ['reason']),
    rsReplays: counter('dpopkit_rs_replays_total', 'DPoP proofs refused as replays by the resource server (RFC 9449 §11.1)'),
    rsNonceChallenges: counter('dpopkit_rs_nonce_challenges_total', 'use_dpop_nonce challenges sent by the resource server (RFC 9449 §9)'),
    rsRequestSeconds: histogram('dpopkit_rs_request_seconds', 'Resource server request latency, whole request (the demo route does nothing but verify)', []),
    rsProofVerifySeconds: histogram('dpopkit_rs_proof_verify_seconds', 'Resource server DPoP proof verification (RFC 9449 §4.3, replay-cache reservation included), by outcome', ['outcome'], VERIFY_BUCKETS),
    rsTokenVerifySeconds: histogram('dpopkit_rs_token_verify_seconds', 'Resource server access-token verification, by kind (jwt, introspection) and outcome', ['kind', 'outcome'], VERIFY_BUCKETS),
    rsJwksFetches: counter('dpopkit_rs_jwks_fetches_total', 'JWK Set fetches by the resource server, by reason (initial, unknown_kid, max_age) and outcome', ['reason', 'outcome']),
    storageSeconds: histogram('dpopkit_storage_seconds', 'Authorization server storage latency, by operation', ['op']),
    storageErrors: counter('dpopkit_storage_errors_total', 'Storage operations that failed, by operation', ['op']),
    replayCacheSeconds: histogram('dpopkit_replay_cache_seconds', 'Replay cache latency, by cache (authorization-server, api) and operation', ['cache', 'op']),
    replayCacheErrors: counter('dpopkit_replay_cache_errors_total', 'Replay cache operations that failed (full or unreachable), by cache and operation', ['cache', 'op']),
    replayCacheEntries: gauge('dpopkit_replay_cache_entries', 'Entries held by an in-memory replay cache, by cache (Redis and PostgreSQL caches: see their own monitoring)', (c) => c.entries?.()),
    replayCacheCapacity: gauge('dpopkit_replay_cache_capacity', 'Entries an in-memory replay cache can hold (maxEntries); when entries reach it, proofs are refused with 503', (c) => c.capacity),
    replayCacheFullness: gauge('dpopkit_replay_cache_fullness_ratio', 'How full a replay cache is, 0 to 1: entries over maxEntries in memory, used_memory over maxmemory on Redis; at 1 proofs are refused with 503', (c) => c.fullness(), 'max'),
    replayCacheLevels: levels,
  };
}

/** The `/metrics` route of the admin listener: whatever `exposition` answers, in its content type. */
export function metricsRoute(exposition: () => Promise<{ contentType: string; text: string }>) {
  return async (_request: IncomingMessage, response: ServerResponse) => {
    const { contentType, text } = await exposition();
    response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };
}

/** One process's exposition. */
export function processExposition(metrics: ServeMetrics) {
  return async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() });
}

/**
 * The resource server's hook: counters and histograms straight from its request path. Each call
 * is one label lookup and an addition; no label value comes from the request (reasons are a
 * closed list).
 */
export function resourceServerHook(metrics: ServeMetrics): ResourceServerMetricsHook {
  const accepted = metrics.rsRequests.labels('accepted');
  const refused = metrics.rsRequests.labels('refused');
  const proofOk = metrics.rsProofVerifySeconds.labels('ok');
  const proofRefused = metrics.rsProofVerifySeconds.labels('refused');
  return {
    request(outcome, reason) {
      if (outcome === 'accepted') return accepted.inc();
      refused.inc();
      if (reason === undefined) return;
      metrics.rsRefusals.inc({ reason });
      if (reason === 'replayed') metrics.rsReplays.inc();
      else if (isNonceChallenge(reason)) metrics.rsNonceChallenges.inc();
    },
    proofVerified: (seconds, ok) => (ok ? proofOk : proofRefused).observe(seconds),
    tokenVerified: (seconds, kind, ok) => metrics.rsTokenVerifySeconds.observe({ kind, outcome: ok ? 'ok' : 'refused' }, seconds),
    jwksFetched: (reason, ok) => metrics.rsJwksFetches.inc({ reason, outcome: ok ? 'ok' : 'error' }),
  };
}

/**
 * A logger that counts the authorization server's refusal entries, then passes every entry on.
 * Those entries carry only `endpoint`, `error`, `reason` and counts: nothing secret is read.
 */
export function countingLogger(metrics: ServeMetrics, next: Logger): Logger {
  const look = (obj: object, msg?: string) => {
    const o = obj as Record<string, unknown>;
    if (msg === 'request refused') {
      const endpoint = endpointLabel(o.endpoint);
      const reason = String(o.reason);
      metrics.asRefusals.inc({ endpoint, error: String(o.error), reason });
      if (reason === 'replayed') metrics.asReplays.inc({ endpoint });
      else if (reason === 'throttled') metrics.throttled.inc({ endpoint });
    } else if (msg === 'nonce challenge (use_dpop_nonce)') metrics.asNonceChallenges.inc({ endpoint: endpointLabel(o.endpoint) });
    else if (typeof msg === 'string' && msg.endsWith('blocked')) metrics.throttleBlocks.inc({ counter: String(o.throttle ?? 'unknown') });
  };
  return {
    debug: (obj, msg) => (look(obj, msg), next.debug(obj, msg)),
    info: (obj, msg) => (look(obj, msg), next.info(obj, msg)),
    warn: (obj, msg) => (look(obj, msg), next.warn(obj, msg)),
    error: (obj, msg) => (look(obj, msg), next.error(obj, msg)),
  };
}

/**
 * The endpoint a log entry names, as the label the request series use (the last segment of the
 * route: `introspect`, not the log's `introspection`), so refusals and requests join on it.
 */
const LOGGED_ENDPOINTS: Record<string, string> = { introspection: 'introspect', revocation: 'revoke', registration: 'register', authorize_challenge: 'authorize-challenge' };
function endpointLabel(logged: unknown): string {
  const name = typeof logged === 'string' ? logged : 'other';
  return LOGGED_ENDPOINTS[name] ?? name;
}

/** The authorization server's routes, as metric labels (anything else is `other`: no label explosion). */
const AS_ENDPOINTS = new Set(['token', 'authorize', 'par', 'login', 'introspect', 'revoke', 'jwks', 'register', 'authorize-challenge']);
export function asEndpoint(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0]!;
  if (path.startsWith('/.well-known/')) return 'metadata';
  const last = path.split('/').filter(Boolean).pop() ?? '';
  return AS_ENDPOINTS.has(last) ? last : 'other';
}

export function outcomeOf(status: number): string {
  if (status < 400) return 'ok';
  if (status === 429) return 'throttled';
  if (status === 503) return 'unavailable';
  return status < 500 ? 'refused' : 'error';
}

/** A node:http listener that counts and times each request (on `finish`). */
export function countedNodeHandler(metrics: ServeMetrics, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const started = performance.now();
    response.once('finish', () => {
      const endpoint = asEndpoint(request.url);
      metrics.asRequests.inc({ endpoint, outcome: outcomeOf(response.statusCode) });
      metrics.asRequestSeconds.observe({ endpoint }, (performance.now() - started) / 1000);
    });
    handler(request, response);
  };
}

/** A Web fetch handler timed into `dpopkit_rs_request_seconds` (CORS preflights left out). */
export function timedFetch(metrics: ServeMetrics, fetch: (request: Request) => Response | Promise<Response>) {
  return async (request: Request): Promise<Response> => {
    if (request.method === 'OPTIONS') return fetch(request);
    const started = performance.now();
    try {
      return await fetch(request);
    } finally {
      metrics.rsRequestSeconds.observe((performance.now() - started) / 1000);
    }
  };
}

/** Every method of `target` timed into `histogram` (and failures counted into `errors`) by operation name. */
export function timed<T extends object, L extends string>(
  target: T,
  histogram: Histogram<L | 'op'>,
  errors: Counter<L | 'op'>,
  labels: Partial<Record<L, string>> = {},
): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'close' || property === 'migrate') return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const op = { ...labels, op: property } as Partial<Record<L | 'op', string>>;
        const done = () => histogram.observe(op, (performance.now() - started) / 1000);
        let result: unknown;
        try {
          result = value.apply(object, args);
        } catch (error) {
          errors.inc(op);
          throw error;
        }
        if (result instanceof Promise) {
          return result.then(
            (v) => (done(), v),
            (error) => {
              done();
              errors.inc(op);
              throw error;
            },
          );
        }
        done();
        return result;
      };
    },
  });
}

/**
 * A replay cache's fill level, read at each scrape: an in-memory cache's entries and capacity;
 * a Redis server's memory against its `maxmemory` (one `INFO memory`; nothing when it has no
 * limit). A PostgreSQL cache reports nothing here: watch the database's own monitoring.
 */
export function collectReplayCacheSize(metrics: ServeMetrics, cache: ReplayCacheName, replayCache: object, config: { type: string; maxEntries?: number }): void {
  const sized = replayCache as { size?: unknown; memoryUse?: () => Promise<{ usedBytes: number; maxBytes: number }> };
  if (config.type === 'memory' && typeof sized.size === 'number') {
    const capacity = config.maxEntries ?? 1_000_000; // createMemoryReplayCache's default
    const entries = () => sized.size as number;
    metrics.replayCacheLevels.set(cache, { entries, capacity, fullness: () => entries() / capacity });
  } else if (config.type === 'redis' && typeof sized.memoryUse === 'function') {
    const memoryUse = sized.memoryUse.bind(replayCache);
    metrics.replayCacheLevels.set(cache, {
      fullness: async () => {
        const { usedBytes, maxBytes } = await memoryUse();
        return maxBytes > 0 ? usedBytes / maxBytes : undefined;
      },
    });
  }
}
