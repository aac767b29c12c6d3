/**
 * The failed-attempt counters (`AttemptStore`) in SQL, on the same database as the storage, so
 * every authorization server of a fleet sees every failure. Written once for PostgreSQL and
 * PGlite.
 *
 * `hit` is ONE statement: `INSERT … ON CONFLICT (key) DO UPDATE … WHERE the key is not blocked
 * (or forgotten) RETURNING failures, blocked_until`. Concurrent hits on one key queue on its row
 * lock; PostgreSQL re-evaluates the WHERE against the row the previous hit wrote, so once a hit
 * sets a block, the queued ones update nothing and return no row: refused. The delay formula
 * (free attempts, then doubling up to the cap) is computed in the same statement.
 *
 * @module
 */
import type { AttemptState, AttemptStore } from '../../authorization-server/throttle.js';
import type { SqlExecutor } from './executor.js';
import { quoteSchema } from './schema.js';

type Row = { key?: unknown; failures: unknown; blocked_until: unknown; expires_at?: unknown };

/** `delay(n)` of `AttemptStore.hit` in SQL; $3 free attempts, $4 first delay, $5 cap. */
const delay = (n: string) => `(CASE WHEN ${n} < $3::int THEN 0 ELSE LEAST($5::bigint, $4::bigint << LEAST(${n} - $3::int, 30)) END)`;
/** `blockedUntil` after the n-th failure at $2: 0 when there is no delay (never "blocked" by a clock behind ours). */
const blocked = (n: string) => `(CASE WHEN ${n} < $3::int THEN 0 ELSE $2::bigint + ${delay(n)} END)`;

export interface SqlAttemptStoreOptions {
  /**
   * This process is the database's only writer (PGlite: in memory, or a data directory that
   * only one process may open). Then every change passes through this store, so it keeps a
   * copy of the rows it has read or written and answers `peek`, the read every authenticated
   * client request makes, from that copy: no query on the hot path. Only for an executor that
   * runs statements one at a time and answers in call order (PGlite's); never for a database
   * other processes write to.
   */
  exclusive?: boolean;
}

/** Rows the exclusive copy holds at most; past it the copy starts again empty (it is only a cache). */
const MIRROR_MAX = 100_000;

/**
 * Counters in the `attempts` table of `schema` (created by the storage's `migrate()`).
 */
export function createSqlAttemptStore(executor: SqlExecutor, schema: string, options: SqlAttemptStoreOptions = {}): AttemptStore {
  const s = quoteSchema(schema);
  // $1 key, $2 now, $3 freeAttempts, $4 delay, $5 maxDelay, $6 resetAfter.
  const next = `(CASE WHEN a.expires_at <= $2::bigint THEN 1 ELSE a.failures + 1 END)`;
  const hit = `INSERT INTO ${s}.attempts AS a (key, failures, blocked_until, expires_at)
    VALUES ($1, 1, ${blocked('1')}, $2::bigint + ${delay('1')} + $6::bigint)
    ON CONFLICT (key) DO UPDATE SET
      failures = ${next},
      blocked_until = ${blocked(next)},
      expires_at = $2::bigint + ${delay(next)} + $6::bigint
    WHERE a.expires_at <= $2::bigint OR a.blocked_until <= $2::bigint
    RETURNING failures, blocked_until, expires_at`;
  const refund = `UPDATE ${s}.attempts SET failures = GREATEST(failures - 1, 0),
      blocked_until = CASE WHEN failures - 1 < $3::int THEN 0 ELSE blocked_until END
    WHERE key = $1 AND expires_at > $2::bigint
    RETURNING failures, blocked_until, expires_at`;

  /**
   * The exclusive copy: key → its row, or null for "no row". The executor runs statements one at
   * a time in call order and answers in that order, so applying each answer as it arrives keeps
   * the copy equal to the table.
   */
  const mirror = options.exclusive ? new Map<string, Stored | null>() : undefined;
  const remember = (key: string, row: Row | undefined) => {
    if (!mirror) return;
    if (mirror.size >= MIRROR_MAX && !mirror.has(key)) mirror.clear();
    mirror.set(key, row ? stored(row) : null);
  };

  return {
    async peek(keys, now) {
      const out = new Map<string, AttemptState>();
      const unknown = mirror ? keys.filter((k) => !mirror.has(k)) : keys;
      if (unknown.length > 0) {
        const list = unknown.map((_, i) => `$${i + 1}`).join(', ');
        const { rows } = await executor.query<Row>(`SELECT key, failures, blocked_until, expires_at FROM ${s}.attempts WHERE key IN (${list})`, [...unknown]);
        const found = new Map(rows.map((r) => [String(r.key), r]));
        for (const key of unknown) {
          const row = found.get(key);
          if (mirror && !mirror.has(key)) remember(key, row);
          if (!mirror && row) add(out, key, stored(row), now);
        }
      }
      if (mirror) for (const key of keys) add(out, key, mirror.get(key) ?? null, now);
      return out;
    },
    async hit(key, now, rule) {
      const { rows } = await executor.query<Row>(hit, [key, now, rule.freeAttempts, rule.delay, rule.maxDelay, rule.resetAfter]);
      if (rows[0]) {
        remember(key, rows[0]);
        return { counted: true, count: Number(rows[0].failures), blockedUntil: Number(rows[0].blocked_until) };
      }
      // Blocked: nothing was written; read the block for Retry-After.
      const seen = await executor.query<Row>(`SELECT failures, blocked_until, expires_at FROM ${s}.attempts WHERE key = $1`, [key]);
      const r = seen.rows[0];
      remember(key, r);
      return { counted: false, count: r ? Number(r.failures) : 0, blockedUntil: r ? Math.max(Number(r.blocked_until), now + 1) : now + 1 };
    },
    async refund(key, now, rule) {
      const { rows } = await executor.query<Row>(refund, [key, now, rule.freeAttempts]);
      // No row: absent or forgotten; the copy (if any) already says so by its expiry.
      if (rows[0]) remember(key, rows[0]);
    },
    async clear(key) {
      await executor.query(`DELETE FROM ${s}.attempts WHERE key = $1`, [key]);
      remember(key, undefined);
    },
    async purge(now) {
      await executor.query(`DELETE FROM ${s}.attempts WHERE expires_at <= $1::bigint`, [now]);
      if (mirror) for (const [key, row] of mirror) if (row && row.expiresAt <= now) mirror.set(key, null);
    },
  };
}

interface Stored extends AttemptState {
  expiresAt: number;
}

/** BIGINT arrives as a string (node-postgres) or a number (PGlite). */
function stored(r: Row): Stored {
  return { count: Number(r.failures), blockedUntil: Number(r.blocked_until), expiresAt: Number(r.expires_at) };
}

function add(out: Map<string, AttemptState>, key: string, row: Stored | null, now: number): void {
  if (row && row.expiresAt > now) out.set(key, { count: row.count, blockedUntil: row.blockedUntil });
}
