/**
 * A failing database is not a bug in the request: every `Storage` call that throws becomes
 * `temporarily_unavailable` (503), logged once with its cause, so a client can retry and an
 * outage never surfaces as a 500 or a crash.
 *
 * @module
 */
import type { Logger } from './context.js';
import { OAuthError } from './errors.js';
import type { Storage } from './storage.js';
import { invalidArgument } from '../core/argument-error.js';

const METHODS: readonly (keyof Storage)[] = [
  'migrate', 'close', 'upsertClient', 'getClient', 'registerClient', 'saveInteraction', 'getInteraction', 'consumeInteraction',
  'saveCode', 'findCode', 'consumeCode', 'savePushedRequest', 'consumePushedRequest',
  'saveAuthSession', 'findAuthSession', 'advanceAuthSession', 'acceptTotpStep', 'createRefreshFamily', 'findRefreshToken',
  'rotateRefreshToken', 'revokeRefreshFamily', 'revokeGrant', 'revokeAccessToken', 'isAccessTokenRevoked',
  'listSigningKeys', 'saveSigningKey', 'purgeExpired',
];

export function guardStorage(storage: Storage, log: Logger): Storage {
  const guarded = {} as Record<string, unknown>;
  for (const name of METHODS) {
    const method = storage[name];
    if (typeof method !== 'function') throw invalidArgument(`storage.${name} must be a function (the Storage port)`);
    guarded[name] = async (...args: unknown[]) => {
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(storage, args);
      } catch (err) {
        if (err instanceof OAuthError) throw err;
        log.error({ err, op: name }, 'storage failure');
        throw new OAuthError('temporarily_unavailable', 'storage_unavailable', 'the server cannot reach its storage; try again shortly', { status: 503 });
      }
    };
  }
  return guarded as unknown as Storage;
}
