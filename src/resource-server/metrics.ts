/**
 * Counters a metrics exporter can read (issue 3): accepted requests, refusals by reason,
 * replays, nonce challenges. Plain numbers, no exporter dependency.
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

export interface MetricsRecorder {
  accept(): void;
  reject(reason: ResourceServerReason): void;
  /** A copy of the counters at this moment. */
  snapshot(): ResourceServerMetrics;
}

export function createMetrics(): MetricsRecorder {
  let accepted = 0;
  let replays = 0;
  let nonceChallenges = 0;
  const rejected: Partial<Record<ResourceServerReason, number>> = {};
  return {
    accept() {
      accepted++;
    },
    reject(reason) {
      rejected[reason] = (rejected[reason] ?? 0) + 1;
      if (reason === 'replayed') replays++;
      else if (reason === 'nonce_missing' || reason === 'nonce_invalid') nonceChallenges++;
    },
    snapshot() {
      return { accepted, rejected: { ...rejected }, replays, nonceChallenges };
    },
  };
}
