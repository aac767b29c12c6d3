/**
 * The authorization server's `Storage` in memory: for tests, examples and a single process
 * that may forget everything at restart (clients and users come back from the configuration;
 * signing keys, grants and refresh tokens do not). It passes the same contract as the SQL
 * storage (`test/contracts/storage.ts`), and its `attempts` the `AttemptStore` contract.
 *
 * Atomicity: every method does all its reads and writes synchronously, with no `await` in
 * between, so on one event loop no two calls interleave: of two concurrent consumptions of a
 * code one wins, a rotation retires the presented token, binds the family's key and adds the
 * successor in one step, and a call that fails (a duplicate token hash) fails before it changes
 * anything. Records are copied in and out, so a caller never holds the stored object.
 *
 * @module
 */
import type {
  AuthorizationCodeRecord,
  AuthSessionRecord,
  ClientRecord,
  ConsumeResult,
  InteractionRecord,
  PushedRequestRecord,
  RefreshFamilyRecord,
  RotateResult,
  SigningKeyRecord,
  Storage,
} from '../authorization-server/storage.js';
import { createMemoryAttemptStore, type MemoryAttemptStoreOptions } from './memory-throttle.js';

export interface MemoryStorageOptions {
  /** Bound on the failed-attempt counters of `attempts` (default 100,000). */
  attempts?: MemoryAttemptStoreOptions;
}

/** A single-use record and whether it was used (when, for the purge). */
interface Used<T> {
  record: T;
  used: boolean;
}

interface RefreshToken {
  familyId: string;
  rotated: boolean;
  /** The family's key when this token was issued (RFC 9449 §5); absent while it was unbound. */
  jkt?: string;
}

const copy = <T>(value: T): T => structuredClone(value);

/**
 * @example
 * ```ts
 * import { createAuthorizationServer } from 'dpopkit/authorization-server';
 * import { createMemoryStorage } from 'dpopkit/stores/memory';
 *
 * const as = await createAuthorizationServer({ issuer: 'http://localhost:4000', storage: createMemoryStorage(), clients: [...] });
 * ```
 */
export function createMemoryStorage(options: MemoryStorageOptions = {}): Storage {
  const clients = new Map<string, ClientRecord>();
  const interactions = new Map<string, Used<InteractionRecord>>();
  const codes = new Map<string, Used<AuthorizationCodeRecord>>();
  const pushed = new Map<string, Used<PushedRequestRecord>>();
  const authSessions = new Map<string, Used<AuthSessionRecord>>();
  const totpSteps = new Map<string, number>();
  const families = new Map<string, RefreshFamilyRecord>();
  const tokens = new Map<string, RefreshToken>();
  const revokedAccessTokens = new Map<string, number>();
  const signingKeys = new Map<string, SigningKeyRecord>();
  let closed = false;

  /** Like a closed database connection: every call after `close()` fails. */
  const open = () => {
    if (closed) throw new Error('the memory storage is closed');
  };
  /** Primary keys are unique, as in the SQL schema. */
  const insert = <T>(map: Map<string, T>, key: string, value: T, what: string) => {
    if (map.has(key)) throw new Error(`duplicate ${what}`);
    map.set(key, value);
  };
  /** Single use: live, unused and (when given) of `clientId`. */
  const consume = <T extends { expiresAt: number; clientId: string }>(entry: Used<T> | undefined, now: number, clientId?: string): T | undefined => {
    if (!entry || entry.used || entry.record.expiresAt <= now) return undefined;
    if (clientId !== undefined && entry.record.clientId !== clientId) return undefined;
    entry.used = true;
    return copy(entry.record);
  };

  return {
    async migrate() {
      open();
    },
    async close() {
      closed = true;
    },
    attempts: createMemoryAttemptStore(options.attempts),

    async upsertClient(client) {
      open();
      clients.set(client.clientId, copy(client));
    },
    async getClient(clientId) {
      open();
      const client = clients.get(clientId);
      return client && copy(client);
    },
    async registerClient(client, limit) {
      open();
      // Synchronous from the count to the write: atomic in one process. The cap first, as in SQL.
      let registered = 0;
      for (const c of clients.values()) if (c.registeredAt !== undefined) registered++;
      if (registered >= limit) return 'full';
      if (clients.has(client.clientId)) return 'exists';
      clients.set(client.clientId, copy(client));
      return 'created';
    },

    async saveInteraction(record) {
      open();
      insert(interactions, record.id, { record: copy(record), used: false }, 'interaction id');
    },
    async getInteraction(id, now) {
      open();
      const entry = interactions.get(id);
      return entry && !entry.used && entry.record.expiresAt > now ? copy(entry.record) : undefined;
    },
    async consumeInteraction(id, now) {
      open();
      return consume(interactions.get(id), now);
    },

    async saveCode(record) {
      open();
      insert(codes, record.id, { record: copy(record), used: false }, 'authorization code id');
    },
    async findCode(id, now) {
      open();
      const entry = codes.get(id);
      // A used code is found until purged, even past its expiry; an expired unused one is absent.
      if (!entry || (!entry.used && entry.record.expiresAt <= now)) return undefined;
      return { record: copy(entry.record), used: entry.used };
    },
    async consumeCode(id, now, clientId): Promise<ConsumeResult<AuthorizationCodeRecord>> {
      open();
      const entry = codes.get(id);
      const record = consume(entry, now, clientId);
      if (record) return { outcome: 'consumed', record };
      // RFC 6749 §4.1.2: a used code coming back from its own client is an attack; anyone else's is absent.
      if (entry?.used && entry.record.clientId === clientId) return { outcome: 'reused', record: copy(entry.record) };
      return { outcome: 'missing' };
    },

    async savePushedRequest(record) {
      open();
      insert(pushed, record.id, { record: copy(record), used: false }, 'request_uri id');
    },
    async consumePushedRequest(id, now, clientId) {
      open();
      return consume(pushed.get(id), now, clientId);
    },

    async saveAuthSession(record) {
      open();
      insert(authSessions, record.id, { record: copy(record), used: false }, 'auth_session id');
    },
    async findAuthSession(id, now) {
      open();
      const entry = authSessions.get(id);
      return entry && !entry.used && entry.record.expiresAt > now ? copy(entry.record) : undefined;
    },
    async advanceAuthSession(id, now, owner, next) {
      open();
      const entry = authSessions.get(id);
      if (!entry || entry.used || entry.record.expiresAt <= now) return false;
      if (entry.record.clientId !== owner.clientId || entry.record.jkt !== owner.jkt) return false;
      if (next) insert(authSessions, next.id, { record: copy(next), used: false }, 'auth_session id');
      entry.used = true;
      return true;
    },
    async acceptTotpStep(subject, step) {
      open();
      const last = totpSteps.get(subject);
      if (last !== undefined && last >= step) return false;
      totpSteps.set(subject, step);
      return true;
    },

    async createRefreshFamily(family, tokenHash) {
      open();
      if (families.has(family.familyId)) throw new Error('duplicate refresh family id');
      if (tokens.has(tokenHash)) throw new Error('duplicate refresh token hash');
      families.set(family.familyId, copy(family));
      tokens.set(tokenHash, family.jkt === undefined ? { familyId: family.familyId, rotated: false } : { familyId: family.familyId, rotated: false, jkt: family.jkt });
    },
    async findRefreshToken(tokenHash) {
      open();
      const token = tokens.get(tokenHash);
      const family = token && families.get(token.familyId);
      return token && family ? { family: copy(family), rotated: token.rotated } : undefined;
    },
    async rotateRefreshToken(tokenHash, nextTokenHash, now, key): Promise<RotateResult> {
      open();
      const token = tokens.get(tokenHash);
      const family = token && families.get(token.familyId);
      if (!token || !family) return { outcome: 'missing' };
      const live = family.revokedAt === undefined && family.expiresAt > now;
      // RFC 9449 §5: a bound family's current token needs the family's key.
      if (!token.rotated && live && (!key || family.jkt === undefined || family.jkt === key.jkt)) {
        if (tokens.has(nextTokenHash)) throw new Error('duplicate refresh token hash'); // before any change
        token.rotated = true;
        if (key?.bind && key.jkt !== undefined && family.jkt === undefined) family.jkt = key.jkt;
        tokens.set(nextTokenHash, family.jkt === undefined ? { familyId: family.familyId, rotated: false } : { familyId: family.familyId, rotated: false, jkt: family.jkt });
        return { outcome: 'rotated', family: copy(family) };
      }
      // The key this token needs: the family's for the current token, the one in force when it
      // was issued for a retired one (old unbound tokens still set off reuse detection).
      const needs = token.rotated ? token.jkt : family.jkt;
      if (key && needs !== undefined && needs !== key.jkt) return { outcome: 'mismatch', family: copy(family) };
      // Current token of a revoked or expired family: behaves as absent.
      if (!token.rotated) return { outcome: 'missing' };
      // RFC 9700 §4.14.2: a retired token came back: revoke the whole family.
      family.revokedAt ??= now;
      return { outcome: 'reused', family: copy(family) };
    },
    async revokeRefreshFamily(familyId, now) {
      open();
      const family = families.get(familyId);
      if (family) family.revokedAt ??= now;
    },
    async revokeGrant(grantId, now) {
      open();
      for (const family of families.values()) if (family.grantId === grantId) family.revokedAt ??= now;
    },

    async revokeAccessToken(jti, expiresAt) {
      open();
      revokedAccessTokens.set(jti, Math.max(revokedAccessTokens.get(jti) ?? expiresAt, expiresAt));
    },
    async isAccessTokenRevoked(jti, now) {
      open();
      return (revokedAccessTokens.get(jti) ?? 0) > now;
    },

    async listSigningKeys(now) {
      open();
      return [...signingKeys.values()]
        .filter((k) => k.expiresAt > now)
        .sort((a, b) => b.activatesAt - a.activatesAt || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0))
        .map(copy);
    },
    async saveSigningKey(record) {
      open();
      signingKeys.set(record.kid, copy(record));
    },

    async purgeExpired(now) {
      open();
      const spent = <T extends { expiresAt: number }>(map: Map<string, Used<T>>, usedToo: boolean) => {
        for (const [id, entry] of map) if (entry.record.expiresAt <= now || (usedToo && entry.used)) map.delete(id);
      };
      spent(interactions, true);
      spent(codes, false); // a used code stays until it expires, to be recognised as reused
      spent(pushed, true);
      spent(authSessions, true);
      const gone = new Set<string>();
      for (const [id, family] of families) {
        if (family.expiresAt <= now) {
          families.delete(id);
          gone.add(id);
        }
      }
      if (gone.size > 0) for (const [hash, token] of tokens) if (gone.has(token.familyId)) tokens.delete(hash);
      for (const [jti, expiresAt] of revokedAccessTokens) if (expiresAt <= now) revokedAccessTokens.delete(jti);
      for (const [kid, k] of signingKeys) if (k.expiresAt <= now) signingKeys.delete(kid);
    },
  };
}
