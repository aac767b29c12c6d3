/**
 * Expired rows of a table the SQL stores fill with short-lived entries (the replay cache, the
 * replay quota) are deleted now and then by whichever caller crosses the interval: no timer to
 * keep or stop. The deletion runs in the background; one that fails is simply tried again at
 * the next interval (an expired row is never read as live: every lookup checks `expires_at`).
 *
 * @module
 */
import type { SqlExecutor } from './executor.js';

/** Seconds between sweeps. */
const SWEEP_EVERY = 60;

/** `sweep(now)`: at most once a minute, `DELETE FROM table WHERE expires_at <= now`. */
export function expiredRowsSweeper(executor: SqlExecutor, table: string): (now: number) => void {
  const statement = `DELETE FROM ${table} WHERE expires_at <= $1`;
  let next = 0;
  return (now) => {
    if (now < next) return;
    next = now + SWEEP_EVERY;
    executor.query(statement, [Math.floor(now)]).catch(() => {});
  };
}
