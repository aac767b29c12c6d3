/**
 * `dpopkit serve --workers N`: N processes (node:cluster) sharing the listening ports, the
 * PostgreSQL storage and the Redis (or PostgreSQL) replay cache. The primary only supervises:
 * it forks the first worker, then the others once it is ready, prints the banner once all are, replaces a worker that dies, and
 * on SIGTERM/SIGINT passes the signal on and exits 0 when every worker has closed cleanly.
 *
 * A fleet needs shared state: with PGlite (one process's embedded database) or a memory replay
 * cache (one process's memory) a second worker would issue codes the first cannot redeem and
 * accept proofs the first has seen, so N > 1 is refused for them.
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/schema.js';

/** Why this configuration cannot run in N > 1 workers, or undefined. */
export function workersProblem(config: Config, workers: number): string | undefined {
  if (workers <= 1) return undefined;
  const problems: string[] = [];
  if (config.authorizationServer.storage.type !== 'postgres') problems.push('authorizationServer.storage is PGlite (one process\'s database): use { "type": "postgres", "url": … } or DATABASE_URL');
  if (config.authorizationServer.replayCache.type === 'memory') problems.push('authorizationServer.replayCache is in memory (one process\'s): use Redis (REDIS_URL) or PostgreSQL');
  if (config.api?.replayCache?.type === 'memory') problems.push('api.replayCache is in memory: use Redis or PostgreSQL, or leave it out');
  return problems.length ? `--workers ${workers} needs state shared by every worker:\n  ${problems.join('\n  ')}` : undefined;
}

/** Run as the primary: fork `workers`, resolve once every one has reported ready. */
export function superviseWorkers(workers: number, shutdownTimeoutMs: number): Promise<void> {
  let stopping = false;
  let ready = 0;
  const live = new Set<Worker>();
  return new Promise((resolveReady, rejectReady) => {
    const fork = () => {
      const worker = cluster.fork();
      live.add(worker);
      worker.on('message', (message: unknown) => {
        if ((message as { dpopkit?: string })?.dpopkit !== 'ready') return;
        ready++;
        // The first worker starts alone: it migrates the schema and creates the signing key,
        // which the others then load (started together, each would create a key of its own).
        if (ready === 1) for (let i = 1; i < workers; i++) fork();
        if (ready === workers) resolveReady();
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        if (stopping) {
          if (live.size === 0) process.exit(exitCode);
          return;
        }
        if (ready < workers) {
          rejectReady(new Error(`a worker exited with ${signal ?? code} before the fleet was ready`));
          for (const w of live) w.process.kill('SIGKILL');
          return;
        }
        process.stderr.write(`dpopkit: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
        fork();
      });
      worker.on('exit', (code) => {
        if (code !== 0) exitCode = 1;
      });
    };
    let exitCode = 0;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      for (const w of live) w.process.kill('SIGTERM');
      setTimeout(() => process.exit(1), shutdownTimeoutMs + 2000).unref();
      if (live.size === 0) process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    fork();
  });
}

/** In a worker: tell the primary this worker is listening. */
export function reportReady(): void {
  if (cluster.isWorker) process.send?.({ dpopkit: 'ready' });
}

export const isWorker = (): boolean => cluster.isWorker;

/** In a worker: on SIGTERM/SIGINT close (requests in flight finish), exit 0; past the bound, 1. */
export function stopOnSignal(close: () => Promise<void>, shutdownTimeoutSeconds: number): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), shutdownTimeoutSeconds * 1000).unref();
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
