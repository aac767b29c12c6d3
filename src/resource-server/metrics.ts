/**
 * What a metrics exporter can read or be told, with no exporter dependency:
 * - counters kept by the server (`rs.metrics()`): accepted requests, refusals by reason,
 *   replays, nonce challenges;
 * - a hook (`createResourceServer({ metricsHook })`) called as the server works: each request's
 *   outcome, how long the access token and the proof took to verify, introspection calls and
 *   JWK Set fetches. A member of the hook that is absent costs nothing: without `proofVerified`
 *   the request path reads no clock for the proof, without `tokenVerified` none for the token.
 *
 * @module
 */
import type { ResourceServerReason } from './errors.js';

export interface ResourceServerMetrics {
  /** Requests accepted. */
  accepted: number;
  /** Requests refused, by `reason`. */
  rejected: Partial<Record<ResourceServerReason, number>>;
  /** Proofs refused as replays (RFC 9449 §11.1). */
  replays: number;
  /** `use_dpop_nonce` challenges sent (RFC 9449 §9). */
  nonceChallenges: number;
}

/** Why the JWK Set was fetched: the first time, for an unknown `kid` (key rotation), or because it had grown old. */
export type JwksFetchReason = 'initial' | 'unknown_kid' | 'max_age';

/**
 * Called by the resource server as it works, for an exporter (Prometheus, OpenTelemetry, …) to
 * record. Every member is optional; durations are seconds, measured with `performance.now()`
 * only for the members present. Members are called synchronously on the request path: keep them
 * cheap, and do not throw.
 */
export interface ResourceServerMetricsHook {
  /** One request checked: accepted, or refused with its stable `reason`. */
  request?(outcome: 'accepted' | 'refused', reason: ResourceServerReason | undefined): void;
  /**
   * The access token's validation: a JWT's signature and claims (`jwt`; a token verified
   * before skips its signature) or RFC 7662 introspection (`introspection`; cached answers
   * included). `ok` is false when the token was refused or could not be checked.
   */
  tokenVerified?(seconds: number, kind: 'jwt' | 'introspection', ok: boolean): void;
  /** The DPoP proof's checks (RFC 9449 §4.3), the replay-cache reservation of its `jti` included. */
  proofVerified?(seconds: number, ok: boolean): void;
  /** One call to the introspection endpoint (a cached answer makes none). */
  introspected?(seconds: number, ok: boolean): void;
  /** One fetch of the issuer's JWK Set. */
  jwksFetched?(reason: JwksFetchReason, ok: boolean): void;
}

export interface MetricsRecorder {
  accept(): void;
  reject(reason: ResourceServerReason): void;
  /** A copy of the counters at this moment. */
  snapshot(): ResourceServerMetrics;
}

/** Whether a refusal with this reason is a `use_dpop_nonce` challenge (RFC 9449 §9). */
export function isNonceChallenge(reason: ResourceServerReason): boolean {
  return reason === 'nonce_missing' || reason === 'nonce_invalid';
}

export function createMetrics(hook?: ResourceServerMetricsHook): MetricsRecorder {
  let accepted = 0;
  let replays = 0;
  let nonceChallenges = 0;
  const rejected: Partial<Record<ResourceServerReason, number>> = {};
  const told = hook?.request !== undefined ? hook : undefined;
  return {
    accept() {
      accepted++;
      if (told) told.request!('accepted', undefined);
    },
    reject(reason) {
      rejected[reason] = (rejected[reason] ?? 0) + 1;
      if (reason === 'replayed') replays++;
      else if (isNonceChallenge(reason)) nonceChallenges++;
      if (told) told.request!('refused', reason);
    },
    snapshot() {
      return { accepted, rejected: { ...rejected }, replays, nonceChallenges };
    },
  };
}

/**
 * `run()`, then its duration (seconds, `performance.now()`) and whether it succeeded told to
 * `report`: the one way the resource server times a phase for a hook. Callers use it only when
 * the hook wants the duration, so no clock is read otherwise.
 */
export async function timed<T>(run: () => Promise<T>, report: (seconds: number, ok: boolean) => void): Promise<T> {
  const started = performance.now();
  let ok = false;
  try {
    const value = await run();
    ok = true;
    return value;
  } finally {
    report((performance.now() - started) / 1000, ok);
  }
}
