/**
 * The `/metrics` series of `dpopkit serve` (prom-client), in process: every series registered
 * before it first happens and documented in docs/operations.md; histograms cumulative with +Inf,
 * _sum and _count; label values escaped; an in-memory replay cache's entries, capacity and
 * fullness; a timed store's failures counted; the resource server's hook feeding the RS series;
 * the authorization server's log entries feeding refusals, replays, throttled attempts and blocks.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as prom from 'prom-client';
import { collectReplayCacheSize, countingLogger, createServeMetrics, resourceServerHook, timed } from '../../src/cli/serve/metrics.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** The value of one exposition line (`name{labels}`), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('dpopkit serve metrics', () => {
  it('registers every series with HELP and TYPE before it first happens; each is in docs/operations.md, and every documented one exists', async () => {
    const metrics = createServeMetrics(prom);
    const text = await metrics.registry.metrics();
    const registered = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    for (const name of registered) expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    const docs = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const documented = [...docs.matchAll(/^\| `(dpopkit_[a-z_]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...registered].sort());
    // Two registries share nothing (state lives in instances).
    expect(await createServeMetrics(prom).registry.getMetricsAsJSON()).toHaveLength(registered.length);
  });

  it('writes cumulative histogram buckets, +Inf, _sum and _count; escapes label values', async () => {
    const metrics = createServeMetrics(prom);
    metrics.asRequestSeconds.observe({ endpoint: 'token' }, 0.003);
    metrics.asRequestSeconds.observe({ endpoint: 'token' }, 0.2);
    metrics.asRefusals.inc({ endpoint: 'token', error: 'invalid_grant', reason: 'a "quoted"\\reason' });
    const text = await metrics.registry.metrics();
    expect(text).toContain('dpopkit_as_request_seconds_bucket{le="0.0025",endpoint="token"} 0\n');
    expect(text).toContain('dpopkit_as_request_seconds_bucket{le="0.005",endpoint="token"} 1\n');
    expect(text).toContain('dpopkit_as_request_seconds_bucket{le="0.25",endpoint="token"} 2\n');
    expect(text).toContain('dpopkit_as_request_seconds_bucket{le="+Inf",endpoint="token"} 2\n');
    expect(text).toContain('dpopkit_as_request_seconds_count{endpoint="token"} 2\n');
    expect(text).toMatch(/dpopkit_as_request_seconds_sum\{endpoint="token"\} 0\.203/);
    expect(text).toContain('reason="a \\"quoted\\"\\\\reason"} 1\n');
  });

  it('reports an in-memory replay cache\'s entries, capacity and fullness at each scrape', async () => {
    const metrics = createServeMetrics(prom);
    const cache = createMemoryReplayCache({ maxEntries: 100 });
    collectReplayCacheSize(metrics, 'api', cache, { type: 'memory', maxEntries: 100 });
    const now = Math.floor(Date.now() / 1000);
    for (const k of ['a', 'b', 'c']) await cache.reserve(k, now + 60);
    let text = await metrics.registry.metrics();
    expect(value(text, 'dpopkit_replay_cache_entries{cache="api"}')).toBe(3);
    expect(value(text, 'dpopkit_replay_cache_capacity{cache="api"}')).toBe(100);
    expect(value(text, 'dpopkit_replay_cache_fullness_ratio{cache="api"}')).toBe(0.03);
    await cache.reserve('d', now + 60);
    text = await metrics.registry.metrics();
    expect(value(text, 'dpopkit_replay_cache_entries{cache="api"}')).toBe(4);
    collectReplayCacheSize(metrics, 'authorization-server', {}, { type: 'postgres' });
    expect(await metrics.registry.metrics()).not.toContain('cache="authorization-server"');
  });

  it('a Redis replay cache: fullness is used_memory over maxmemory; nothing when unlimited or unreachable', async () => {
    const metrics = createServeMetrics(prom);
    let answer: () => Promise<{ usedBytes: number; maxBytes: number }> = async () => ({ usedBytes: 25, maxBytes: 100 });
    collectReplayCacheSize(metrics, 'api', { memoryUse: () => answer() }, { type: 'redis' });
    let text = await metrics.registry.metrics();
    expect(value(text, 'dpopkit_replay_cache_fullness_ratio{cache="api"}')).toBe(0.25);
    expect(text).not.toContain('dpopkit_replay_cache_entries{');
    answer = async () => ({ usedBytes: 25, maxBytes: 0 });
    text = await metrics.registry.metrics();
    expect(text).not.toContain('dpopkit_replay_cache_fullness_ratio{');
    answer = async () => ({ usedBytes: 50, maxBytes: 100 });
    expect(value(await metrics.registry.metrics(), 'dpopkit_replay_cache_fullness_ratio{cache="api"}')).toBe(0.5);
    answer = () => Promise.reject(new Error('Redis away'));
    expect(await metrics.registry.metrics()).not.toContain('dpopkit_replay_cache_fullness_ratio{');
  });

  it('times a store\'s calls by operation and counts its failures', async () => {
    const metrics = createServeMetrics(prom);
    const store = timed({ async ok() { return 1; }, async broken() { throw new Error('down'); } }, metrics.storageSeconds, metrics.storageErrors);
    expect(await store.ok()).toBe(1);
    await expect(store.broken()).rejects.toThrow('down');
    const text = await metrics.registry.metrics();
    expect(value(text, 'dpopkit_storage_seconds_count{op="ok"}')).toBe(1);
    expect(value(text, 'dpopkit_storage_seconds_count{op="broken"}')).toBe(1);
    expect(value(text, 'dpopkit_storage_errors_total{op="broken"}')).toBe(1);
  });

  it('the resource server\'s hook: requests by outcome and reason, replays, nonce challenges, the two verify histograms, JWKS fetches', async () => {
    const metrics = createServeMetrics(prom);
    const hook = resourceServerHook(metrics);
    hook.request!('accepted', undefined);
    hook.request!('refused', 'replayed');
    hook.request!('refused', 'nonce_missing');
    hook.request!('refused', 'ath_mismatch');
    hook.proofVerified!(0.0004, true);
    hook.proofVerified!(0.00003, false);
    hook.tokenVerified!(0.0002, 'jwt', true);
    hook.tokenVerified!(0.05, 'introspection', false);
    hook.jwksFetched!('initial', true);
    hook.jwksFetched!('unknown_kid', false);
    const text = await metrics.registry.metrics();
    expect(value(text, 'dpopkit_rs_requests_total{outcome="accepted"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_requests_total{outcome="refused"}')).toBe(3);
    expect(value(text, 'dpopkit_rs_refusals_total{reason="replayed"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_refusals_total{reason="ath_mismatch"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_replays_total')).toBe(1);
    expect(value(text, 'dpopkit_rs_nonce_challenges_total')).toBe(1);
    expect(value(text, 'dpopkit_rs_proof_verify_seconds_count{outcome="ok"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_proof_verify_seconds_bucket{le="0.0005",outcome="ok"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_proof_verify_seconds_bucket{le="0.00025",outcome="ok"}')).toBe(0);
    expect(value(text, 'dpopkit_rs_proof_verify_seconds_count{outcome="refused"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_token_verify_seconds_count{kind="jwt",outcome="ok"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_token_verify_seconds_count{kind="introspection",outcome="refused"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_jwks_fetches_total{reason="initial",outcome="ok"}')).toBe(1);
    expect(value(text, 'dpopkit_rs_jwks_fetches_total{reason="unknown_kid",outcome="error"}')).toBe(1);
  });

  it('the authorization server\'s log entries: refusals by reason, replays, throttled attempts, blocks, nonce challenges', async () => {
    const metrics = createServeMetrics(prom);
    const log = countingLogger(metrics, silent);
    log.info({ endpoint: 'token', error: 'invalid_dpop_proof', reason: 'replayed', status: 400 }, 'request refused');
    log.info({ endpoint: 'login', error: 'temporarily_unavailable', reason: 'throttled', status: 429 }, 'request refused');
    log.warn({ throttle: 'username', failures: 5, retryAfter: 60 }, 'failed attempts: blocked');
    log.debug({ endpoint: 'token', error: 'use_dpop_nonce', reason: 'nonce_missing', status: 400 }, 'nonce challenge (use_dpop_nonce)');
    log.info({ endpoint: 'authorize_challenge', error: 'temporarily_unavailable', reason: 'throttled', status: 429 }, 'request refused');
    log.info({ endpoint: 'introspection', error: 'invalid_client', reason: 'client_unknown', status: 401 }, 'request refused');
    log.info({ anything: 1 }, 'something else');
    const text = await metrics.registry.metrics();
    expect(value(text, 'dpopkit_as_refusals_total{endpoint="token",error="invalid_dpop_proof",reason="replayed"}')).toBe(1);
    expect(value(text, 'dpopkit_as_replays_total{endpoint="token"}')).toBe(1);
    expect(value(text, 'dpopkit_throttled_total{endpoint="login"}')).toBe(1);
    // The log's endpoint names become the request series' labels, so the two join.
    expect(value(text, 'dpopkit_throttled_total{endpoint="authorize-challenge"}')).toBe(1);
    expect(value(text, 'dpopkit_as_refusals_total{endpoint="introspect",error="invalid_client",reason="client_unknown"}')).toBe(1);
    expect(value(text, 'dpopkit_throttle_blocks_total{counter="username"}')).toBe(1);
    expect(value(text, 'dpopkit_as_nonce_challenges_total{endpoint="token"}')).toBe(1);
  });
});
