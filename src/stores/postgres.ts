/**
 * SQL storage for the authorization server (`dpopkit/stores/postgres`): one implementation of
 * the `Storage` port that runs on PostgreSQL (node-postgres) and on PGlite (PostgreSQL compiled
 * to WebAssembly, in process: the embedded default, in memory or persisted to a directory).
 *
 * ```ts
 * const storage = createPGliteStorage({ dataDir: './data' });      // or
 * const storage = createPostgresStorage({ connectionString: process.env.DATABASE_URL });
 * await storage.migrate();   // creates/upgrades the schema; safe with several starters
 * ```
 *
 * @module
 */
import type pg from 'pg';
import type { Storage } from '../authorization-server/storage.js';
import { createPgExecutor } from './sql/pg-driver.js';
import { createPGliteExecutor } from './sql/pglite-driver.js';
import { createSqlReplayCache, type SqlReplayCache } from './sql/replay-cache.js';
import { createSqlReplayQuota, type SqlReplayQuota } from './sql/replay-quota.js';
import { createSqlStorage } from './sql/storage.js';
import { invalidArgument } from '../core/argument-error.js';

export type { Storage } from '../authorization-server/storage.js';
export { SCHEMA_VERSION } from './sql/schema.js';
export { DataDirInUseError } from './sql/data-dir-lock.js';
export type { SqlReplayCache } from './sql/replay-cache.js';
export type { SqlReplayQuota } from './sql/replay-quota.js';

/** Default PostgreSQL schema holding dpopkit's tables. */
export const DEFAULT_SCHEMA = 'dpopkit';

export interface PostgresStorageOptions {
  /** e.g. `postgres://user@host:5432/db` (typically `DATABASE_URL`). Ignored when `pool` is given. */
  connectionString?: string;
  /** An existing node-postgres pool; `close()` leaves it open (its owner ends it). */
  pool?: pg.Pool;
  /** Schema for the tables (default `dpopkit`); letters, digits and `_` only. */
  schema?: string;
  /** Size of the pool created from `connectionString` (default 10). */
  maxConnections?: number;
  /**
   * For the pool created from `connectionString`: longest a statement may run (PostgreSQL
   * `statement_timeout`), and the client gives up 1 s later if no answer comes (default 10 s).
   */
  queryTimeoutMs?: number;
}

export interface PGliteStorageOptions {
  /** Directory of the database files; omitted → in memory (gone on `close()`). */
  dataDir?: string;
  /** Schema for the tables (default `dpopkit`). */
  schema?: string;
}

/**
 * Storage on PostgreSQL. Call `migrate()` once at start; `close()` ends the pool it created.
 */
export function createPostgresStorage(options: PostgresStorageOptions = {}): Storage {
  return createSqlStorage(pgExecutor(options, 'createPostgresStorage'), options.schema ?? DEFAULT_SCHEMA);
}

/** The node-postgres executor both PostgreSQL factories share. */
function pgExecutor(options: PostgresStorageOptions, caller: string) {
  if (!options.pool && !options.connectionString) throw invalidArgument(`${caller} needs connectionString or pool`);
  return createPgExecutor({
    ...(options.pool ? { pool: options.pool } : {}),
    ...(options.connectionString ? { connectionString: options.connectionString } : {}),
    ...(options.maxConnections ? { max: options.maxConnections } : {}),
    ...(options.queryTimeoutMs ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
  });
}

/**
 * Storage on embedded PGlite (loaded on first use). One connection: operations are queued,
 * and a transaction holds the queue, so concurrent callers never interleave inside one.
 * A `dataDir` is open in one place at a time (a `dpopkit.lock` file inside it): a second opener
 * gets {@link DataDirInUseError} from its first call instead of silently losing writes.
 */
export function createPGliteStorage(options: PGliteStorageOptions = {}): Storage {
  const executor = createPGliteExecutor(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
  // One process owns a PGlite database: the throttle's counters can be read from a copy.
  return createSqlStorage(executor, options.schema ?? DEFAULT_SCHEMA, { exclusive: true });
}

/** The same connection options as the storage's (pass its `pool` to share connections). */
export interface PostgresReplayCacheOptions extends PostgresStorageOptions {
  /** The clock, in epoch seconds like every dpopkit clock (default: the system clock). */
  clock?: () => number;
}

/**
 * A replay cache on PostgreSQL (RFC 9449 §11.1): one atomic `INSERT … ON CONFLICT` per proof,
 * shared by every process on the database. For fleets without Redis; Redis is faster. Call
 * `migrate()` once (or the storage's, on the same schema).
 */
export function createPostgresReplayCache(options: PostgresReplayCacheOptions = {}): SqlReplayCache {
  return createSqlReplayCache(pgExecutor(options, 'createPostgresReplayCache'), options.schema ?? DEFAULT_SCHEMA, options.clock);
}

/**
 * The authorization server's replay-cache quota (`dpop.replayQuota.store`) on PostgreSQL, shared
 * by every server on the database: a holder has at most `limit` live entries in the replay cache
 * however many servers its requests reach, not `limit` per server. One round trip per proof
 * (a function that counts and adds under a lock on the holder). For fleets whose replay cache is
 * PostgreSQL; with Redis, use `createRedisReplayQuota`. Call `migrate()` once (or the storage's or
 * the replay cache's, on the same schema); give it and the replay cache one `pool` to share connections.
 */
export function createPostgresReplayQuota(options: PostgresStorageOptions = {}): SqlReplayQuota {
  return createSqlReplayQuota(pgExecutor(options, 'createPostgresReplayQuota'), options.schema ?? DEFAULT_SCHEMA);
}
