/**
 * PGlite shim of {@link SqlExecutor}. PGlite is one connection inside the process, so a
 * transaction's statements and another caller's statements would interleave on it; every
 * operation therefore goes through one promise queue, and a transaction holds the queue from
 * BEGIN to COMMIT/ROLLBACK. PGlite is imported lazily so PostgreSQL users never load it.
 *
 * @module
 */
import { importPeer } from '../optional-peer.js';
import { lockDataDir } from './data-dir-lock.js';
import type { Queryable, SqlExecutor, SqlResult } from './executor.js';

export interface PGliteExecutorOptions {
  /** Directory of the database files; omitted → in memory (lost on close). */
  dataDir?: string;
}

interface PGliteLike {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  close(): Promise<void>;
}

export function createPGliteExecutor(options: PGliteExecutorOptions = {}): SqlExecutor {
  let db: Promise<PGliteLike> | undefined;
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;

  let unlock: (() => Promise<void>) | undefined;

  const open = (): Promise<PGliteLike> =>
    (db ??= (async () => {
      const { dataDir } = options;
      // One opener per directory (see data-dir-lock.ts), taken before PGlite reads anything.
      if (dataDir !== undefined) unlock = await lockDataDir(dataDir);
      try {
        const { PGlite } = await importPeer('@electric-sql/pglite', 'PGlite storage', () => import('@electric-sql/pglite'));
        return (await PGlite.create(dataDir === undefined ? {} : { dataDir })) as unknown as PGliteLike;
      } catch (err) {
        await unlock?.();
        unlock = undefined;
        throw err;
      }
    })());

  /** Run `task` after everything queued before it, whatever their outcome. */
  const enqueue = <T>(task: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('storage is closed'));
    const next = tail.then(task, task);
    tail = next.catch(() => {});
    return next;
  };

  const run = async <R>(conn: PGliteLike, text: string, params?: unknown[]): Promise<SqlResult<R>> => {
    const result = await conn.query<R>(text, params);
    return { rows: result.rows, rowCount: result.rows.length || (result.affectedRows ?? 0) };
  };

  return {
    query: (text, params) => enqueue(async () => run(await open(), text, params)),
    transaction: (fn) =>
      enqueue(async () => {
        const conn = await open();
        await conn.query('BEGIN');
        try {
          const value = await fn({ query: (text, params) => run(conn, text, params) } satisfies Queryable);
          await conn.query('COMMIT');
          return value;
        } catch (err) {
          await conn.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }),
    async close() {
      if (closed) return;
      const last = tail;
      closed = true;
      await last;
      // A database that never opened (bad dataDir, directory in use) has nothing to close.
      if (db) await db.then((conn) => conn.close(), () => {});
      await unlock?.();
    },
  };
}
