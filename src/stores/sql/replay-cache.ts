/**
 * The replay cache in SQL (RFC 9449 §11.1), for a fleet that shares PostgreSQL but has no Redis.
 *
 * One statement per batch of proofs, atomic per proof: `INSERT … SELECT FROM unnest(keys,
 * expiries) ON CONFLICT (key) DO UPDATE … WHERE the old entry has expired RETURNING key`. Of
 * concurrent copies of a proof, one inserts; the others meet the conflict, find a live entry,
 * update nothing and are not returned: a replay. Never SELECT-then-INSERT. Keys are the SHA-256
 * of `jkt:jti` (fixed length). Expired rows are deleted now and then, by the caller that happens
 * to cross the interval. Any database error fails closed with `replay_cache_unavailable` (503).
 *
 * Batches form only under load (see `group-batch.ts`): a proof goes alone while fewer than two
 * statements are out, else it leaves with every proof that arrived meanwhile when the next one
 * comes back. One statement and one commit (which waits for the disk, so that an accepted proof
 * is never forgotten in a crash) then serve many proofs. At the token endpoint, bench 30
 * measured 0.30× the in-process cache with no batching, 0.37× with four statements out at once,
 * 0.55× with two, 0.57× with one. Copies of one key in one batch are sent once: every copy after
 * the first is a replay, as it would be one statement later.
 *
 * @module
 */
import { DPoPError } from '../../core/errors.js';
import type { ReplayCache } from '../../core/replay.js';
import type { SqlExecutor } from './executor.js';
import { migrate, quoteSchema } from './schema.js';
import { groupBatch } from '../group-batch.js';
import { sha256 } from '../sha256.js';
import { expiredRowsSweeper } from './sweep.js';

export interface SqlReplayCache extends ReplayCache {
  reserve(key: string, expiresAt: number): Promise<boolean>;
  /** Create or migrate the schema (the same migrations as the storage). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export function createSqlReplayCache(executor: SqlExecutor, schema: string, clock: () => number = () => Date.now() / 1000): SqlReplayCache {
  const s = quoteSchema(schema);
  const insert = `INSERT INTO ${s}.replay_cache AS r (key, expires_at)
    SELECT * FROM unnest($1::text[], $2::bigint[])
    ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE r.expires_at <= $3
    RETURNING key`;
  const sweep = expiredRowsSweeper(executor, `${s}.replay_cache`);

  const unavailable = (cause: unknown) =>
    new DPoPError('temporarily_unavailable', 'replay_cache_unavailable', 'the replay cache (database) cannot be reached; try again shortly', {
      cause,
      detail: { cause: cause instanceof Error ? cause.message : String(cause) },
    });

  /** One statement for a batch; per entry, whether it was new. */
  const reserveAll = async (entries: Array<{ key: string; expiresAt: number }>): Promise<boolean[]> => {
    const now = Math.floor(clock());
    // One row per key (ON CONFLICT may touch a row once per statement): a later copy is a replay.
    const first = new Map<string, number>();
    const expiries: number[] = [];
    for (const [i, e] of entries.entries()) {
      if (first.has(e.key)) continue;
      first.set(e.key, i);
      // Live at least until expiresAt, and never less than a second (Keycloak #43505).
      expiries.push(Math.max(Math.ceil(e.expiresAt), now + 1));
    }
    let inserted: Set<string>;
    try {
      const { rows } = await executor.query<{ key: string }>(insert, [[...first.keys()], expiries, now]);
      inserted = new Set(rows.map((r) => r.key));
    } catch (err) {
      throw unavailable(err);
    }
    sweep(now);
    return entries.map((e, i) => first.get(e.key) === i && inserted.has(e.key));
  };
  const reserveBatched = groupBatch(reserveAll);

  return {
    reserve: (key, expiresAt) => reserveBatched({ key: sha256(key), expiresAt }),
    migrate: () => migrate(executor, schema),
    close: () => executor.close(),
  };
}
