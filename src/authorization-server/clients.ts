/**
 * Client records with a short in-memory cache, and the check of client secrets with a cache of
 * successful verifications (scrypt is deliberately slow; a client presenting the same secret
 * again is recognised by its SHA-256 instead of another scrypt run).
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { verifyPassword } from './passwords.js';
import type { ClientRecord, Storage } from './storage.js';

const RECORD_TTL = 30;
const SECRET_TTL = 300;
const MAX_ENTRIES = 10_000;

export interface ClientDirectory {
  /** The client, from a cache at most 30 s old. */
  get(clientId: string, now: number): Promise<ClientRecord | undefined>;
  /**
   * Whether `secret` is this client's secret (scrypt; successes cached for 5 minutes). `guard`
   * wraps the scrypt run only, not a cache hit (the throttle counts and gates that work).
   */
  checkSecret(client: ClientRecord, secret: string, now: number, guard?: (verify: () => Promise<boolean>) => Promise<boolean>): Promise<boolean>;
}

/**
 * @param configured the client ids of the current configuration: the configuration is the source
 *   of truth, so a client removed from it stops working although its stored record remains.
 *   Any other id is a client only if it registered itself (RFC 7591: `registeredAt` set).
 * @param options.dpopRequired every client is treated as `dpopBoundAccessTokens` (the server
 *   requires DPoP of everyone).
 */
export function createClientDirectory(storage: Storage, configured: ReadonlySet<string>, options: { dpopRequired?: boolean } = {}): ClientDirectory {
  const records = new Map<string, { record: ClientRecord | undefined; until: number }>();
  const verified = new Map<string, { digest: Buffer; hash: string; until: number }>();

  return {
    async get(clientId, now) {
      const cached = records.get(clientId);
      if (cached && cached.until > now) return cached.record;
      let record = await storage.getClient(clientId);
      if (!configured.has(clientId)) {
        // A registered client (RFC 7591); an unknown id is not remembered, so a client that
        // registers a moment after a probe of its id is found at once.
        if (record?.registeredAt === undefined) return undefined;
      }
      if (record && options.dpopRequired && !record.dpopBoundAccessTokens) record = { ...record, dpopBoundAccessTokens: true };
      if (records.size >= MAX_ENTRIES) records.clear();
      records.set(clientId, { record, until: now + RECORD_TTL });
      return record;
    },
    async checkSecret(client, secret, now, guard) {
      if (!client.clientSecretHash) return false;
      const digest = createHash('sha256').update(`${client.clientId}\0${secret}`).digest();
      const hit = verified.get(client.clientId);
      // The cached success only counts for the same stored hash (a changed secret invalidates it).
      if (hit && hit.until > now && hit.hash === client.clientSecretHash && timingSafeEqual(hit.digest, digest)) return true;
      const hash = client.clientSecretHash;
      const ok = guard ? await guard(() => verifyPassword(secret, hash)) : await verifyPassword(secret, hash);
      if (ok) {
        if (verified.size >= MAX_ENTRIES) verified.clear();
        verified.set(client.clientId, { digest, hash: client.clientSecretHash, until: now + SECRET_TTL });
      }
      return ok;
    },
  };
}
