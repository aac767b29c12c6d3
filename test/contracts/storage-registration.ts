/**
 * The `Storage` contract's part for dynamic client registration (RFC 7591) and resource
 * indicators (RFC 8707): `registerClient` (atomic cap, never over an existing id), the new
 * client fields, and the resources kept with codes and refresh-token families. Called from
 * `storageContract` (test/contracts/storage.ts), so every storage runs it.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ClientRecord, Storage } from '../../src/authorization-server/storage.js';

const T = 1_700_000_000;
const uid = (p: string) => `${p}-${randomUUID()}`;

function registered(over: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: uid('dpk'),
    clientName: 'a registered app',
    tokenEndpointAuthMethod: 'private_key_jwt',
    jwksUri: 'https://app.example/jwks.json',
    redirectUris: ['http://127.0.0.1/callback', 'com.example.app:/cb'],
    grantTypes: ['authorization_code', 'refresh_token'],
    scope: 'read',
    dpopBoundAccessTokens: true,
    resources: ['https://api.example', 'https://notes.example/v1'],
    registeredAt: T,
    ...over,
  };
}

/**
 * How many registered clients the storage holds, probed with an id that exists (so nothing is
 * ever written): `registerClient(taken, limit)` is `full` exactly when count >= limit.
 */
async function registeredCount(storage: Storage, taken: ClientRecord): Promise<number> {
  const full = async (limit: number) => (await storage.registerClient(taken, limit)) === 'full';
  if (!(await full(1))) return 0;
  let low = 1; // full
  let high = 2;
  while (await full(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await full(mid)) low = mid;
    else high = mid;
  }
  return low;
}

export function registrationContract(storage: () => Storage): void {
  describe('registered clients (RFC 7591) and resources (RFC 8707)', () => {
    it('registerClient stores a new client: every field round-trips (registeredAt, jwksUri, resources)', async () => {
      const c = registered();
      expect(await storage().registerClient(c, 1_000_000)).toBe('created');
      expect(await storage().getClient(c.clientId)).toEqual(c);
      // configured clients carry resources too
      const configured: ClientRecord = { clientId: uid('cfg'), tokenEndpointAuthMethod: 'none', redirectUris: [], grantTypes: ['authorization_code'], scope: '', dpopBoundAccessTokens: false, resources: ['https://api.example'] };
      await storage().upsertClient(configured);
      expect(await storage().getClient(configured.clientId)).toEqual(configured);
    });

    it('registerClient never writes over an existing id (a configured client\'s, or a registered one\'s): `exists`, nothing changed', async () => {
      const configured: ClientRecord = { clientId: uid('cfg'), tokenEndpointAuthMethod: 'client_secret_basic', clientSecretHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', redirectUris: [], grantTypes: ['client_credentials'], scope: 'read', dpopBoundAccessTokens: false };
      await storage().upsertClient(configured);
      expect(await storage().registerClient(registered({ clientId: configured.clientId }), 1_000_000)).toBe('exists');
      expect(await storage().getClient(configured.clientId)).toEqual(configured);
      const first = registered();
      expect(await storage().registerClient(first, 1_000_000)).toBe('created');
      expect(await storage().registerClient({ ...first, clientName: 'thief' }, 1_000_000)).toBe('exists');
      expect((await storage().getClient(first.clientId))?.clientName).toBe('a registered app');
    });

    it('upsertClient (the configuration) replaces a registered record whole: the configuration wins its id', async () => {
      const c = registered();
      await storage().registerClient(c, 1_000_000);
      const configured: ClientRecord = { clientId: c.clientId, tokenEndpointAuthMethod: 'none', redirectUris: ['https://app.example/cb'], grantTypes: ['authorization_code'], scope: '', dpopBoundAccessTokens: false };
      await storage().upsertClient(configured);
      const after = await storage().getClient(c.clientId);
      expect(after).toEqual(configured);
      expect(after?.registeredAt).toBeUndefined();
    });

    it('the cap is exact under concurrency: with room for 3 more, 8 concurrent registrations create 3 and refuse 5 (`full`)', async () => {
      const probe = registered();
      await storage().registerClient(probe, 1_000_000);
      const before = await registeredCount(storage(), probe);
      expect(before).toBeGreaterThan(0);
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => storage().registerClient(registered(), before + 3)));
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(3);
      expect(outcomes.filter((o) => o === 'full')).toHaveLength(5);
      expect(await storage().registerClient(registered(), before + 3)).toBe('full');
      // configured clients do not count against it
      await storage().upsertClient({ clientId: uid('cfg'), tokenEndpointAuthMethod: 'none', redirectUris: [], grantTypes: ['authorization_code'], scope: '', dpopBoundAccessTokens: false });
      expect(await storage().registerClient(registered(), before + 4)).toBe('created');
    });

    it('codes and refresh-token families keep the resources granted (absent stays absent)', async () => {
      const with_ = { id: uid('code'), clientId: 'c1', subject: 'alice', redirectUri: 'https://app.example/cb', scope: 'read', codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', codeChallengeMethod: 'S256' as const, resources: ['https://api.example', 'https://notes.example/v1'], authTime: T, expiresAt: T + 60 };
      await storage().saveCode(with_);
      expect((await storage().findCode(with_.id, T))?.record.resources).toEqual(with_.resources);
      const without = { ...with_, id: uid('code') };
      delete (without as { resources?: string[] }).resources;
      await storage().saveCode(without);
      expect((await storage().findCode(without.id, T))?.record.resources).toBeUndefined();
      const family = { familyId: uid('fam'), clientId: 'c1', subject: 'alice', scope: 'read', resources: ['https://notes.example/v1'], authTime: T, createdAt: T, expiresAt: T + 3600 };
      const tokenHash = uid('rt');
      await storage().createRefreshFamily(family, tokenHash);
      expect((await storage().findRefreshToken(tokenHash))?.family.resources).toEqual(['https://notes.example/v1']);
      const next = uid('rt');
      const rotated = await storage().rotateRefreshToken(tokenHash, next, T + 1, { bind: false });
      expect(rotated.outcome === 'rotated' && rotated.family.resources).toEqual(['https://notes.example/v1']);
    });
  });
}
