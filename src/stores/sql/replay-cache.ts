/**
 * The replay cache in SQL (RFC 9449 §11.1), for a fleet that shares PostgreSQL but has no Redis.
 *
 * One statement per proof, atomic: `INSERT … ON CONFLICT (key) DO UPDATE … WHERE the old entry
 * has expired RETURNING 1`. Of concurrent copies of a proof, one inserts; the others meet the
 * conflict, find a live entry, update nothing and get no row: a replay. Never SELECT-then-INSERT.
 * Keys are the SHA-256 of `jkt:jti` (fixed length). Expired rows are deleted now and then, by
 * the caller that happens to cross the interval. Any database error fails closed with
 * `replay_cache_unavailable` (503).
 *
 * @module
 */
import { DPoPError } from '../../core/errors.js';
import type { ReplayCache } from '../../core/replay.js';
import type { SqlExecutor } from './executor.js';
import { migrate, quoteSchema } from './schema.js';
import { sha256 } from './sha256.js';

export interface SqlReplayCache extends ReplayCache {
  reserve(key: string, expiresAt: number): Promise<boolean>;
  /** Create or migrate the schema (the same migrations as the storage). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/** Seconds between sweeps of expired rows. */
const SWEEP_EVERY = 60;

export function createSqlReplayCache(executor: SqlExecutor, schema: string, clock: () => number = () => Date.now() / 1000): SqlReplayCache {
  const s = quoteSchema(schema);
  const insert = `INSERT INTO ${s}.replay_cache AS r (key, expires_at) VALUES ($1, $2)
    ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE r.expires_at <= $3
    RETURNING 1`;
  let nextSweep = 0;

  const unavailable = (cause: unknown) =>
    new DPoPError('temporarily_unavailable', 'replay_cache_unavailable', 'the replay cache (database) cannot be reached; try again shortly', {
      cause,
      detail: { cause: cause instanceof Error ? cause.message : String(cause) },
    });

  return {
    async reserve(key, expiresAt) {
      const now = clock();
      // Live at least until expiresAt, and never less than a second (Keycloak #43505).
      const expiry = Math.max(Math.ceil(expiresAt), Math.floor(now) + 1);
      let fresh: boolean;
      try {
        fresh = (await executor.query(insert, [sha256(key), expiry, Math.floor(now)])).rows.length === 1;
      } catch (err) {
        throw unavailable(err);
      }
      if (now >= nextSweep) {
        nextSweep = now + SWEEP_EVERY;
        executor.query(`DELETE FROM ${s}.replay_cache WHERE expires_at <= $1`, [Math.floor(now)]).catch(() => {});
      }
      return fresh;
    },
    migrate: () => migrate(executor, schema),
    close: () => executor.close(),
  };
}
