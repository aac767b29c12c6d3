/**
 * node-postgres shim of {@link SqlExecutor}: statements go to the pool; a transaction checks
 * one client out of it, so its statements run on one connection (PostgreSQL's row locks then
 * serialize concurrent writers: READ COMMITTED re-checks a conditional UPDATE's WHERE clause
 * after the lock is released, which is what makes single-use consumption atomic).
 *
 * `pg` is an optional peer dependency, imported on the first statement: PGlite users and the
 * library's client and resource-server entry points never load it.
 *
 * @module
 */
import type pg from 'pg';
import { importPeer } from '../optional-peer.js';
import type { Queryable, SqlExecutor, SqlResult } from './executor.js';

export interface PgExecutorOptions {
  connectionString?: string;
  /** An existing pool (not closed by `close()`: its owner ends it). */
  pool?: pg.Pool;
  /** Pool size when the pool is created here (default 10). */
  max?: number;
  /** Longest a statement may run (server `statement_timeout`) or wait for an answer (default 10 s). */
  queryTimeoutMs?: number;
}

export function createPgExecutor(options: PgExecutorOptions): SqlExecutor {
  const owned = options.pool === undefined;
  let created: Promise<pg.Pool> | undefined;
  const getPool = (): Promise<pg.Pool> =>
    options.pool
      ? Promise.resolve(options.pool)
      : (created ??= importPeer('pg', 'PostgreSQL storage', () => import('pg')).then(({ default: driver }) => {
          const pool = new driver.Pool({
            connectionString: options.connectionString,
            max: options.max ?? 10,
            connectionTimeoutMillis: 5_000,
            // A hung server or a silently dead network must not hold a token request forever:
            // the server cancels long statements, and the client gives up a little later if no
            // answer comes at all.
            statement_timeout: options.queryTimeoutMs ?? 10_000,
            query_timeout: (options.queryTimeoutMs ?? 10_000) + 1_000,
          });
          // An idle client losing its connection emits 'error' on the pool; unhandled, that
          // would crash the process. The next query simply gets a new connection (or fails).
          pool.on('error', () => {});
          return pool;
        }));

  const run = async <R>(client: pg.Pool | pg.PoolClient, text: string, params?: unknown[]): Promise<SqlResult<R>> => {
    const result = await client.query(text, params as unknown[]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
  };

  return {
    query: async (text, params) => run(await getPool(), text, params),
    async transaction(fn) {
      const client = await (await getPool()).connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (text, params) => run(client, text, params) };
        const value = await fn(tx);
        await client.query('COMMIT');
        return value;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection itself failed: do not hand it back to the pool
        }
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async close() {
      if (!owned) return;
      const pool = await created?.catch(() => undefined);
      await pool?.end();
    },
  };
}
