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
 * With an admin port, the primary holds it and asks the workers that are ready for their
 * metrics and readiness over the cluster channel ({@link Fleet.ask}, {@link answerPrimary}).
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

/**
 * What each worker's environment adds to the primary's. `MALLOC_ARENA_MAX=2` unless the user set
 * it: with `dpop.threadpool`, OpenSSL work runs on libuv's threadpool, and glibc gives every
 * thread that allocates its own malloc arena (up to 8 per core), which it keeps; in 10-minute
 * soaks a fleet's RSS grew 14–18 % that way, and less than 3 % with two arenas (docs/operations.md).
 * glibc reads the variable once, when a process starts, so it is set for the workers here; a
 * single process takes it from the shell.
 */
export function workerEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '2' } : {};
}

/** What the primary may ask a worker. */
export type Question = 'metrics' | 'readiness';

/** One worker's answer: its value, or why there is none (`no answer` in time, `exited`, its error). */
export interface Answer {
  worker: number;
  value?: unknown;
  error?: string;
}

export interface Fleet {
  /** Workers the fleet runs (`--workers N`). */
  readonly size: number;
  /** Ids (`cluster` worker ids) of the workers that have reported ready and not exited. */
  ready(): number[];
  /** Ask every ready worker at once; each answers within `timeoutMs` or counts as `no answer`. */
  ask(question: Question, timeoutMs: number): Promise<Answer[]>;
}

interface Message {
  dpopkit?: string;
  id?: number;
  question?: Question;
  value?: unknown;
  error?: string;
}

/**
 * Run as the primary: fork `workers`, resolve once every one has reported ready. `onStop` runs
 * when SIGTERM/SIGINT arrives, before the signal is passed on (the admin port drains).
 */
export function superviseWorkers(workers: number, shutdownTimeoutMs: number, onStop?: () => void): Promise<Fleet> {
  let stopping = false;
  let ready = 0;
  const live = new Set<Worker>();
  const readySet = new Set<Worker>();
  let asked = 0;
  const pending = new Map<string, (answer: Answer) => void>();
  const fleet: Fleet = {
    size: workers,
    ready: () => [...readySet].map((w) => w.id),
    ask(question, timeoutMs) {
      const id = asked++;
      return Promise.all(
        [...readySet].map(
          (worker) =>
            new Promise<Answer>((resolve) => {
              const key = `${worker.id}:${id}`;
              const settle = (answer: Answer) => {
                clearTimeout(timer);
                worker.off('exit', exited);
                pending.delete(key);
                resolve(answer);
              };
              const timer = setTimeout(() => settle({ worker: worker.id, error: 'no answer' }), timeoutMs);
              const exited = () => settle({ worker: worker.id, error: 'exited' });
              worker.once('exit', exited);
              pending.set(key, settle);
              if (!worker.isConnected()) return settle({ worker: worker.id, error: 'exited' });
              // With a callback, a closed channel is reported to it instead of thrown.
              worker.send({ dpopkit: 'ask', id, question } satisfies Message, (error: Error | null) => {
                if (error) settle({ worker: worker.id, error: 'exited' });
              });
            }),
        ),
      );
    },
  };
  return new Promise((resolveReady, rejectReady) => {
    const fork = () => {
      const worker = cluster.fork(workerEnvironment());
      live.add(worker);
      worker.on('message', (message: Message | null) => {
        if (message?.dpopkit === 'answer') {
          const { value, error } = message;
          pending.get(`${worker.id}:${message.id}`)?.({ worker: worker.id, ...(error !== undefined ? { error } : { value }) });
          return;
        }
        if (message?.dpopkit !== 'ready') return;
        readySet.add(worker);
        ready++;
        // The first worker starts alone: it migrates the schema and creates the signing key,
        // which the others then load (started together, each would create a key of its own).
        if (ready === 1) for (let i = 1; i < workers; i++) fork();
        if (ready === workers) resolveReady(fleet);
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        readySet.delete(worker);
        if (stopping) {
          // Exit 0 only if every worker closed cleanly on the signal (a worker that died and
          // was replaced before it does not count; the last one to close does).
          if (code !== 0) exitCode = 1;
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
    };
    let exitCode = 0;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      onStop?.();
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

/**
 * In a worker: answer the primary's questions (its registry as prom-client JSON, its readiness
 * checks). Returns `draining`: from then on readiness answers `shutting down`.
 */
export function answerPrimary(answers: { metrics(): Promise<unknown>; readiness(): Promise<Record<string, string>> }): () => void {
  let draining = false;
  const listener = (message: Message | null) => {
    if (message?.dpopkit !== 'ask' || typeof message.id !== 'number') return;
    const { id, question } = message;
    // With a callback, a channel closed meanwhile (the primary gone) is not an uncaught error.
    const reply = (m: Message) => process.send?.(m, undefined, undefined, () => {});
    const work = question === 'metrics' ? answers.metrics() : draining ? Promise.resolve({ worker: 'shutting down' }) : answers.readiness();
    work.then(
      (value) => reply({ dpopkit: 'answer', id, value }),
      (error: unknown) => reply({ dpopkit: 'answer', id, error: error instanceof Error ? error.message : String(error) }),
    );
  };
  process.on('message', listener);
  return () => {
    draining = true;
  };
}

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
