/**
 * The `/metrics` text of `dpopkit serve` (Prometheus exposition format 0.0.4), in process: every
 * series declared up front, label values escaped, histograms cumulative with +Inf, _sum and
 * _count, an in-memory replay cache's fill level, failures of a timed store counted.
 */
import { describe, expect, it } from 'vitest';
import { collectReplayCacheSize, createRegistry, METRICS, timed } from '../../src/cli/serve/metrics.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';

describe('dpopkit serve metrics', () => {
  it('declares every series with HELP and TYPE before it first happens', () => {
    const text = createRegistry().text();
    for (const [name, [type]] of Object.entries(METRICS)) expect(text).toContain(`# TYPE ${name} ${type}\n`);
  });

  it('writes cumulative histogram buckets, +Inf, _sum and _count; escapes label values', () => {
    const registry = createRegistry();
    registry.observe('dpopkit_as_request_seconds', { endpoint: 'token' }, 0.003);
    registry.observe('dpopkit_as_request_seconds', { endpoint: 'token' }, 0.2);
    registry.inc('dpopkit_as_refusals_total', { endpoint: 'token', error: 'invalid_grant', reason: 'a "quoted"\\reason' });
    const text = registry.text();
    expect(text).toContain('dpopkit_as_request_seconds_bucket{endpoint="token",le="0.0025"} 0\n');
    expect(text).toContain('dpopkit_as_request_seconds_bucket{endpoint="token",le="0.005"} 1\n');
    expect(text).toContain('dpopkit_as_request_seconds_bucket{endpoint="token",le="0.25"} 2\n');
    expect(text).toContain('dpopkit_as_request_seconds_bucket{endpoint="token",le="+Inf"} 2\n');
    expect(text).toContain('dpopkit_as_request_seconds_count{endpoint="token"} 2\n');
    expect(text).toMatch(/dpopkit_as_request_seconds_sum\{endpoint="token"\} 0\.203/);
    expect(text).toContain('reason="a \\"quoted\\"\\\\reason"} 1\n');
  });

  it('reports an in-memory replay cache\'s entries and capacity at each scrape', async () => {
    const registry = createRegistry();
    const cache = createMemoryReplayCache({ maxEntries: 100 });
    collectReplayCacheSize(registry, 'api', cache, { type: 'memory', maxEntries: 100 });
    const now = Math.floor(Date.now() / 1000);
    for (const k of ['a', 'b', 'c']) await cache.reserve(k, now + 60);
    expect(registry.text()).toContain('dpopkit_replay_cache_entries{cache="api"} 3\n');
    expect(registry.text()).toContain('dpopkit_replay_cache_capacity{cache="api"} 100\n');
    collectReplayCacheSize(registry, 'authorization-server', {}, { type: 'redis' });
    expect(registry.text()).not.toContain('cache="authorization-server"');
  });

  it('times a store\'s calls by operation and counts its failures', async () => {
    const registry = createRegistry();
    const store = timed(registry, { async ok() { return 1; }, async broken() { throw new Error('down'); } }, 'dpopkit_storage_seconds', 'dpopkit_storage_errors_total');
    expect(await store.ok()).toBe(1);
    await expect(store.broken()).rejects.toThrow('down');
    const text = registry.text();
    expect(text).toContain('dpopkit_storage_seconds_count{op="ok"} 1\n');
    expect(text).toContain('dpopkit_storage_seconds_count{op="broken"} 1\n');
    expect(text).toContain('dpopkit_storage_errors_total{op="broken"} 1\n');
  });
});
