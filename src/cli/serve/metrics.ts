/**
 * Prometheus metrics of `dpopkit serve`, served at `/metrics` on the admin listener, in the
 * text exposition format (version 0.0.4) written here by hand: a few counters and histograms
 * need about a hundred lines, and writing them ourselves keeps `prom-client` (and its
 * dependencies) out of every install of the server side.
 *
 * Where the numbers come from, without touching the request path of the library:
 * - the resource server's own counters (`resourceServer.metrics()`), read at scrape time;
 * - the authorization server's refusal log entries (`request refused`, `nonce challenge`,
 *   `… blocked`), which already carry `endpoint`, `error` and `reason`;
 * - thin wrappers, in `start.ts`, around the HTTP handlers (requests by outcome and latency),
 *   the storage (latency per operation) and the replay caches (latency).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';
import type { ResourceServerMetrics } from '../../resource-server/index.js';

type Labels = Record<string, string>;

/** Seconds: 0.5 ms … 10 s. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  type: 'counter' | 'histogram' | 'gauge';
  help: string;
  values: Map<string, { labels: Labels; value: number; buckets?: number[]; sum?: number; count?: number }>;
}

export interface Registry {
  inc(name: string, labels?: Labels, by?: number): void;
  observe(name: string, labels: Labels, seconds: number): void;
  /** Called at each scrape, to copy counters kept elsewhere. */
  onCollect(collect: (set: (name: string, labels: Labels, value: number) => void) => void): void;
  text(): string;
}

/** The series `dpopkit serve` exports (name → type, help). */
export const METRICS = {
  dpopkit_as_requests_total: ['counter', 'Authorization server requests, by endpoint and outcome (ok, refused, throttled, unavailable, error)'],
  dpopkit_as_refusals_total: ['counter', 'Authorization server refusals (4xx), by endpoint, OAuth error and reason'],
  dpopkit_as_nonce_challenges_total: ['counter', 'use_dpop_nonce challenges sent by the authorization server (RFC 9449 §8), by endpoint'],
  dpopkit_as_request_seconds: ['histogram', 'Authorization server request latency, by endpoint'],
  dpopkit_throttled_total: ['counter', 'Guessing attempts blocked by the throttle, by counter (username, address, client, …)'],
  dpopkit_rs_requests_total: ['counter', 'Resource server requests, by outcome (accepted, refused)'],
  dpopkit_rs_refusals_total: ['counter', 'Resource server refusals, by reason'],
  dpopkit_rs_replays_total: ['counter', 'DPoP proofs refused as replays by the resource server (RFC 9449 §11.1)'],
  dpopkit_rs_nonce_challenges_total: ['counter', 'use_dpop_nonce challenges sent by the resource server (RFC 9449 §9)'],
  dpopkit_rs_verify_seconds: ['histogram', 'Resource server request latency: access-token and proof verification (the demo route does nothing else)'],
  dpopkit_storage_seconds: ['histogram', 'Authorization server storage latency, by operation'],
  dpopkit_storage_errors_total: ['counter', 'Storage operations that failed, by operation'],
  dpopkit_replay_cache_seconds: ['histogram', 'Replay cache latency (one reserve), by cache (authorization-server, api)'],
  dpopkit_replay_cache_errors_total: ['counter', 'Replay cache reserves that failed (full or unreachable), by cache'],
  dpopkit_replay_cache_entries: ['gauge', 'Entries held by an in-memory replay cache, by cache (Redis and PostgreSQL caches: see their own monitoring)'],
  dpopkit_replay_cache_capacity: ['gauge', 'Entries an in-memory replay cache can hold (maxEntries); when entries reach it, proofs are refused with 503'],
} as const satisfies Record<string, readonly ['counter' | 'histogram' | 'gauge', string]>;

export function createRegistry(): Registry {
  const series = new Map<string, Series>();
  const collectors: Array<(set: (name: string, labels: Labels, value: number) => void) => void> = [];
  const get = (name: string): Series => {
    let s = series.get(name);
    if (!s) {
      const [type, help] = (METRICS as Record<string, readonly [Series['type'], string]>)[name] ?? ['counter', name];
      s = { type, help, values: new Map() };
      series.set(name, s);
    }
    return s;
  };
  // Declare every series up front, so a scrape lists each one (at 0) before it first happens.
  for (const name of Object.keys(METRICS)) get(name);
  const entry = (s: Series, labels: Labels) => {
    const key = labelText(labels);
    let e = s.values.get(key);
    if (!e) {
      e = s.type === 'histogram' ? { labels, value: 0, buckets: BUCKETS.map(() => 0), sum: 0, count: 0 } : { labels, value: 0 };
      s.values.set(key, e);
    }
    return e;
  };
  return {
    inc(name, labels = {}, by = 1) {
      entry(get(name), labels).value += by;
    },
    observe(name, labels, seconds) {
      const e = entry(get(name), labels);
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) e.buckets![i]!++;
      e.sum! += seconds;
      e.count!++;
    },
    onCollect(collect) {
      collectors.push(collect);
    },
    text() {
      for (const collect of collectors) collect((name, labels, value) => (entry(get(name), labels).value = value));
      const lines: string[] = [];
      for (const [name, s] of series) {
        lines.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
        for (const e of s.values.values()) {
          if (s.type !== 'histogram') {
            lines.push(`${name}${labelText(e.labels)} ${e.value}`);
            continue;
          }
          BUCKETS.forEach((le, i) => lines.push(`${name}_bucket${labelText({ ...e.labels, le: String(le) })} ${e.buckets![i]}`));
          lines.push(`${name}_bucket${labelText({ ...e.labels, le: '+Inf' })} ${e.count}`);
          lines.push(`${name}_sum${labelText(e.labels)} ${e.sum}`, `${name}_count${labelText(e.labels)} ${e.count}`);
        }
      }
      return `${lines.join('\n')}\n`;
    },
  };
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

/** The `/metrics` route of the admin listener. */
export function metricsRoute(registry: Registry) {
  return (_request: IncomingMessage, response: ServerResponse) => {
    const text = registry.text();
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };
}

/** The resource server's counters, copied at each scrape. */
export function collectResourceServer(registry: Registry, snapshot: () => ResourceServerMetrics): void {
  registry.onCollect((set) => {
    const m = snapshot();
    const refused = Object.values(m.rejected).reduce((a, b) => a + (b ?? 0), 0);
    set('dpopkit_rs_requests_total', { outcome: 'accepted' }, m.accepted);
    set('dpopkit_rs_requests_total', { outcome: 'refused' }, refused);
    for (const [reason, count] of Object.entries(m.rejected)) set('dpopkit_rs_refusals_total', { reason }, count ?? 0);
    set('dpopkit_rs_replays_total', {}, m.replays);
    set('dpopkit_rs_nonce_challenges_total', {}, m.nonceChallenges);
  });
}

/**
 * A logger that counts the authorization server's refusal entries, then passes every entry on.
 * Those entries carry only `endpoint`, `error`, `reason` and counts: nothing secret is read.
 */
export function countingLogger(registry: Registry, next: Logger): Logger {
  const look = (obj: object, msg?: string) => {
    const o = obj as Record<string, unknown>;
    if (msg === 'request refused') registry.inc('dpopkit_as_refusals_total', { endpoint: String(o.endpoint ?? 'other'), error: String(o.error), reason: String(o.reason) });
    else if (msg === 'nonce challenge (use_dpop_nonce)') registry.inc('dpopkit_as_nonce_challenges_total', { endpoint: String(o.endpoint ?? 'other') });
    else if (typeof msg === 'string' && msg.endsWith('blocked')) registry.inc('dpopkit_throttled_total', { counter: String(o.throttle ?? 'unknown') });
  };
  return {
    debug: (obj, msg) => (look(obj, msg), next.debug(obj, msg)),
    info: (obj, msg) => (look(obj, msg), next.info(obj, msg)),
    warn: (obj, msg) => (look(obj, msg), next.warn(obj, msg)),
    error: (obj, msg) => (look(obj, msg), next.error(obj, msg)),
  };
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
export function countedNodeHandler(registry: Registry, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const started = process.hrtime.bigint();
    response.once('finish', () => {
      const endpoint = asEndpoint(request.url);
      registry.inc('dpopkit_as_requests_total', { endpoint, outcome: outcomeOf(response.statusCode) });
      registry.observe('dpopkit_as_request_seconds', { endpoint }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    handler(request, response);
  };
}

/** A Web fetch handler timed into `dpopkit_rs_verify_seconds` (CORS preflights left out). */
export function timedFetch(registry: Registry, fetch: (request: Request) => Response | Promise<Response>) {
  return async (request: Request): Promise<Response> => {
    if (request.method === 'OPTIONS') return fetch(request);
    const started = process.hrtime.bigint();
    try {
      return await fetch(request);
    } finally {
      registry.observe('dpopkit_rs_verify_seconds', {}, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}

/** Every async method of `target` timed into `histogram` (and failures counted) by operation name. */
export function timed<T extends object>(registry: Registry, target: T, histogram: string, errors: string, labels: Labels = {}): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'close' || property === 'migrate') return value;
      return (...args: unknown[]) => {
        const started = process.hrtime.bigint();
        const op = { ...labels, op: property };
        const done = () => registry.observe(histogram, op, Number(process.hrtime.bigint() - started) / 1e9);
        let result: unknown;
        try {
          result = value.apply(object, args);
        } catch (error) {
          registry.inc(errors, op);
          throw error;
        }
        if (result instanceof Promise) {
          return result.then(
            (v) => (done(), v),
            (error) => {
              done();
              registry.inc(errors, op);
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

/** An in-memory replay cache's fill level, read at each scrape (other backends report nothing here). */
export function collectReplayCacheSize(registry: Registry, cache: string, replayCache: object, config: { type: string; maxEntries?: number }): void {
  if (config.type !== 'memory' || typeof (replayCache as { size?: unknown }).size !== 'number') return;
  const capacity = config.maxEntries ?? 1_000_000; // createMemoryReplayCache's default
  registry.onCollect((set) => {
    set('dpopkit_replay_cache_entries', { cache }, (replayCache as { size: number }).size);
    set('dpopkit_replay_cache_capacity', { cache }, capacity);
  });
}
