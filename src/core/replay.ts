/**
 * The replay-cache port (RFC 9449 §11.1).
 *
 * A server MUST remember each accepted proof's `jti` for as long as the proof could still be
 * accepted, and refuse a second use. Implementations live in `src/stores/` (memory, Redis,
 * PostgreSQL); every one passes the contract suite in `test/contracts/replay-cache.ts`.
 *
 * @module
 */

export interface ReplayCache {
  /**
   * Atomically record `key` unless it is already present: one insert-if-absent, never a
   * read-then-write (the node-oidc-provider TOCTOU pattern).
   *
   * @param key `"<jkt>:<jti>"` (per key, so one client cannot poison another's jti space).
   * @param expiresAt Epoch seconds after which the proof can no longer pass the `iat` window
   *   (computed from the proof's own `iat`, never from "now"; Keycloak #43505). The entry must
   *   live at least until then.
   * @returns `true` when the key was new (proof accepted), `false` when seen before (replay).
   * @throws DPoPError `replay_cache_full` when no room is left: an implementation must never
   *   evict a live entry to make room (Spring CVE-2026-41707). `replay_cache_unavailable` when
   *   the backing store cannot be reached (fail closed).
   */
  reserve(key: string, expiresAt: number): Promise<boolean> | boolean;
}

/** The replay-cache key of a proof: per key thumbprint, so jti spaces never mix. */
export function replayKey(jkt: string, jti: string): string {
  return `${jkt}:${jti}`;
}
