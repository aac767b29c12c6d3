/**
 * The admin port of `dpopkit serve --workers N`, held by the primary: one `/metrics` for the
 * whole fleet and one `/readyz` from every worker's probes. (Served by the workers themselves,
 * the shared port would hand each scrape to one worker in turn: one worker's numbers at a time.)
 *
 * - `/metrics`: each ready worker sends its registry as prom-client JSON over the cluster
 *   channel; prom-client's `AggregatorRegistry.aggregate` sums them (counters, histogram
 *   buckets, gauges; the replay cache's fullness ratio takes the maximum). Asked by the primary
 *   rather than through `AggregatorRegistry.clusterMetrics()`, which asks every connected worker
 *   (a worker still starting has no answer yet and fails the whole scrape after 5 s): here only
 *   workers that reported ready are asked, a worker that does not answer within the timeout
 *   counts with its last answer, and the counters of a worker that exited are kept (its last
 *   answer), so sums never go down when a worker is replaced, which Prometheus would read as a
 *   counter reset.
 * - `/readyz`: 200 when at least one worker is ready and every ready worker's probes (storage,
 *   replay caches) answer `ok`; a check that failed in any worker is reported with that
 *   worker's reason, and `workers` says how many of how many are ready (one being replaced
 *   leaves the others serving). 503 once the primary is shutting down.
 *
 * @module
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { startAdmin, type AdminListening, type Checks } from './admin.js';
import { loadPromClient, metricsRoute } from './metrics.js';
import type { Fleet } from './workers.js';

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** A worker's probes take up to a second; its answer crosses the channel well within two. */
const READINESS_TIMEOUT_MS = 2000;
const METRICS_TIMEOUT_MS = 2000;

export async function startFleetAdmin(admin: NonNullable<Config['admin']>, fleet: Fleet): Promise<AdminListening> {
  const prom = await loadPromClient();
  const { AggregatorRegistry } = prom;
  /** Each worker's last answer, by cluster worker id. */
  const last = new Map<number, MetricsJson>();
  /** The counters and histograms of workers that exited, summed. */
  let retired: MetricsJson = [];

  const exposition = async () => {
    const answers = await fleet.ask('metrics', METRICS_TIMEOUT_MS);
    for (const { worker, value } of answers) if (Array.isArray(value)) last.set(worker, value as MetricsJson);
    const ready = new Set(fleet.ready());
    const gone = [...last.keys()].filter((id) => !ready.has(id));
    if (gone.length > 0) {
      // Gauges describe a process that is no more; counts it made stay counted. (`type` is the
      // string prom-client writes, `counter`, …, whatever its declaration's enum says.)
      const kept = gone.map((id) => last.get(id)!.filter((m) => ['counter', 'histogram'].includes(m.type as unknown as string)));
      for (const id of gone) last.delete(id);
      retired = await AggregatorRegistry.aggregate([retired, ...kept]).getMetricsAsJSON();
    }
    const registry = AggregatorRegistry.aggregate([...last.values(), retired]);
    return { contentType: registry.contentType, text: await registry.metrics() };
  };

  const readiness = async (): Promise<{ checks: Checks; also: { workers: { ready: number; of: number } } }> => {
    const answers = await fleet.ask('readiness', READINESS_TIMEOUT_MS);
    const also = { workers: { ready: answers.length, of: fleet.size } };
    if (answers.length === 0) return { checks: { workers: 'none ready' }, also };
    const checks: Checks = {};
    for (const { worker, value, error } of answers) {
      if (error !== undefined || typeof value !== 'object' || value === null) {
        checks[`worker ${worker}`] = error ?? 'no answer';
        continue;
      }
      for (const [name, state] of Object.entries(value as Checks)) {
        // The first failure seen wins; `ok` only where every worker said so.
        if (checks[name] === undefined || checks[name] === 'ok') checks[name] = state === 'ok' ? 'ok' : `${state} (worker ${worker})`;
      }
    }
    return { checks, also };
  };

  return startAdmin({ port: admin.port, host: admin.host, readiness, routes: { '/metrics': metricsRoute(exposition) } });
}
