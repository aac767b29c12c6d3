/**
 * The authorization server's replay-cache quota (`dpop.replayQuota.store`) in SQL, for a fleet
 * that shares PostgreSQL but has no Redis: a holder (a confidential client, or one DPoP key of a
 * public client) has at most `limit` live entries in the shared replay cache, however many
 * servers its requests reach. Counted in each process, the bound would be `limit` per server.
 *
 * `take` is one call of the schema's `replay_quota_take` (migration 7): it locks the holder,
 * counts its live entries and adds one only below the limit, in one round trip, so of any number
 * of concurrent takes in any number of processes no more than `limit` succeed. Takes that arrive
 * while the store is busy go as one call (`group-batch.ts`), as the replay cache's proofs do. `release` takes
 * one entry of the given expiry back. Holders are stored as their SHA-256 (a holder names a
 * client or a key thumbprint). Expiry is judged by the callers' clock, like the replay cache's;
 * expired rows are deleted now and then by the caller that crosses the interval. Errors are
 * thrown as they are: the authorization server then refuses with 503, as when the replay cache
 * fails.
 *
 * @module
 */
import type { QuotaTake, ReplayQuota } from '../../authorization-server/replay-quota.js';
import type { SqlExecutor } from './executor.js';
import { migrate, quoteSchema } from './schema.js';
import { groupBatch } from '../group-batch.js';
import { sha256 } from '../sha256.js';
import { expiredRowsSweeper } from './sweep.js';

export interface SqlReplayQuota extends ReplayQuota {
  /** Create or migrate the schema (the same migrations as the storage and the replay cache). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

interface Take {
  holder: string;
  limit: number;
  expiresAt: number;
  now: number;
}

export function createSqlReplayQuota(executor: SqlExecutor, schema: string): SqlReplayQuota {
  const s = quoteSchema(schema);
  const takeAll = `SELECT ${s}.replay_quota_take($1::text[], $2::bigint[], $3::bigint[], $4::integer[]) AS answers`;
  const release = `UPDATE ${s}.replay_quota SET entries = entries - 1 WHERE holder = $1 AND expires_at = $2 AND entries > 0`;
  const sweep = expiredRowsSweeper(executor, `${s}.replay_quota`);

  /** One call for a batch; per take, 0 (taken) or when the holder's oldest entry expires. */
  const send = async (takes: Take[]): Promise<number[]> => {
    const { rows } = await executor.query<{ answers: Array<string | number> }>(takeAll, [
      takes.map((t) => t.holder),
      takes.map((t) => t.expiresAt),
      takes.map((t) => t.now),
      takes.map((t) => t.limit),
    ]);
    sweep(Math.max(...takes.map((t) => t.now)));
    const answers = rows[0]?.answers;
    if (!Array.isArray(answers)) throw new Error('replay_quota_take gave no answer');
    return answers.map(Number);
  };
  const takeBatched = groupBatch(send);

  return {
    async take(holder, limit, expiresAt, now): Promise<QuotaTake> {
      // Whole seconds, as the in-process count keeps them.
      const oldest = await takeBatched({ holder: sha256(holder), limit, expiresAt: Math.ceil(expiresAt), now: Math.floor(now) });
      return oldest === 0 ? { ok: true } : { ok: false, retryAfter: Math.max(1, Math.ceil(oldest - now)) };
    },
    async release(holder, expiresAt) {
      await executor.query(release, [sha256(holder), Math.ceil(expiresAt)]);
    },
    migrate: () => migrate(executor, schema),
    close: () => executor.close(),
  };
}
