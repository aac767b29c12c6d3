/**
 * The `Storage` contract (src/authorization-server/storage.ts): one suite every implementation
 * must pass. Called from test/stores/storage.contract.test.ts for PGlite (memory and a data
 * directory) and PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registrationContract } from './storage-registration.js';
import type {
  AuthSessionRecord,
  AuthorizationCodeRecord,
  ClientRecord,
  RefreshFamilyRecord,
  SigningKeyRecord,
  Storage,
} from '../../src/authorization-server/storage.js';

export interface StorageHarness {
  /** A new storage instance on the harness's backing store (same store on every call). */
  open(): Promise<Storage>;
  /** Whether a closed-then-reopened instance sees earlier writes (false for in-memory). */
  persistent: boolean;
  /** Drop the backing store (schema, directory). */
  cleanup(): Promise<void>;
}

const T = 1_700_000_000;
const uid = (p: string) => `${p}-${randomUUID()}`;

function client(over: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: uid('client'),
    clientName: 'Demo',
    tokenEndpointAuthMethod: 'client_secret_basic',
    clientSecretHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' }] },
    redirectUris: ['https://app.example/cb', 'http://127.0.0.1:3000/cb'],
    grantTypes: ['authorization_code', 'refresh_token'],
    scope: 'openid api:read',
    dpopBoundAccessTokens: true,
    ...over,
  };
}

function code(over: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  return {
    id: uid('code'),
    clientId: 'c1',
    subject: 'alice',
    redirectUri: 'https://app.example/cb',
    scope: 'openid',
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    codeChallengeMethod: 'S256',
    dpopJkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I',
    nonce: 'n-0S6_WzA2Mj',
    authTime: T - 5,
    expiresAt: T + 60,
    ...over,
  };
}

function family(over: Partial<RefreshFamilyRecord> = {}): RefreshFamilyRecord {
  return {
    familyId: uid('fam'),
    clientId: 'c1',
    subject: 'alice',
    scope: 'openid offline_access',
    jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I',
    grantId: uid('grant'),
    authTime: T - 5,
    createdAt: T,
    expiresAt: T + 86_400,
    ...over,
  };
}

function signingKey(over: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid: uid('kid'),
    alg: 'ES256',
    privateJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' },
    publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    createdAt: T,
    activatesAt: T + 10,
    retiresAt: T + 1000,
    expiresAt: T + 2000,
    ...over,
  };
}

const count = <X>(xs: X[], pred: (x: X) => boolean) => xs.filter(pred).length;

export function storageContract(name: string, makeHarness: () => Promise<StorageHarness>): void {
  describe(`Storage contract: ${name}`, () => {
    let h: StorageHarness;
    let storage: Storage;

    beforeAll(async () => {
      h = await makeHarness();
      storage = await h.open();
      await storage.migrate();
    });
    afterAll(async () => {
      await storage?.close();
      await h?.cleanup();
    });

    it('migrate() is idempotent: running it again keeps the data', async () => {
      const c = client();
      await storage.upsertClient(c);
      await storage.migrate();
      await storage.migrate();
      expect(await storage.getClient(c.clientId)).toEqual(c);
    });

    registrationContract(() => storage);

    describe('clients', () => {
      it('absent → undefined; upsert then get round-trips every field (lists and JWKS as JSON)', async () => {
        expect(await storage.getClient(uid('nobody'))).toBeUndefined();
        const c = client();
        await storage.upsertClient(c);
        expect(await storage.getClient(c.clientId)).toEqual(c);
      });
      it('upsert replaces the whole record (fields left out are gone)', async () => {
        const c = client();
        await storage.upsertClient(c);
        const replaced: ClientRecord = {
          clientId: c.clientId,
          tokenEndpointAuthMethod: 'none',
          redirectUris: ['https://other.example/cb'],
          grantTypes: ['authorization_code'],
          scope: 'openid',
          dpopBoundAccessTokens: false,
        };
        await storage.upsertClient(replaced);
        expect(await storage.getClient(c.clientId)).toEqual(replaced);
      });
    });

    describe('interactions (the sign-in form state)', () => {
      it('get while live; absent once expired (expiry is exclusive: now = expiresAt is expired)', async () => {
        const r = { id: uid('ix'), clientId: 'c1', params: { redirect_uri: 'https://app.example/cb', state: 's', dpop_jkt: 'j' }, csrfHash: 'h', expiresAt: T + 60 };
        await storage.saveInteraction(r);
        expect(await storage.getInteraction(r.id, T)).toEqual(r);
        expect(await storage.getInteraction(r.id, T + 60)).toBeUndefined();
        expect(await storage.getInteraction(uid('ix'), T)).toBeUndefined();
      });
      it('single use: the first consume gets the record, later ones and later gets get nothing', async () => {
        const r = { id: uid('ix'), clientId: 'c1', params: { a: '1' }, csrfHash: 'h', expiresAt: T + 60 };
        await storage.saveInteraction(r);
        expect(await storage.consumeInteraction(r.id, T)).toEqual(r);
        expect(await storage.consumeInteraction(r.id, T)).toBeUndefined();
        expect(await storage.getInteraction(r.id, T)).toBeUndefined();
      });
      it('an expired interaction cannot be consumed', async () => {
        const r = { id: uid('ix'), clientId: 'c1', params: {}, csrfHash: 'h', expiresAt: T + 60 };
        await storage.saveInteraction(r);
        expect(await storage.consumeInteraction(r.id, T + 61)).toBeUndefined();
      });
      it('concurrency: 50 parallel consumes → exactly one gets the record', async () => {
        const r = { id: uid('ix'), clientId: 'c1', params: {}, csrfHash: 'h', expiresAt: T + 60 };
        await storage.saveInteraction(r);
        const results = await Promise.all(Array.from({ length: 50 }, () => storage.consumeInteraction(r.id, T)));
        expect(count(results, (x) => x !== undefined)).toBe(1);
      });
    });

    describe('authorization codes (RFC 6749 §4.1.2: single use)', () => {
      it('first redemption → consumed with every field; second → reused with the record', async () => {
        const c = code();
        await storage.saveCode(c);
        expect(await storage.consumeCode(c.id, T, 'c1')).toEqual({ outcome: 'consumed', record: c });
        expect(await storage.consumeCode(c.id, T + 1, 'c1')).toEqual({ outcome: 'reused', record: c });
      });
      it('optional dpop_jkt (RFC 9449 §10) and nonce absent stay absent', async () => {
        const { dpopJkt: _j, nonce: _n, ...rest } = code();
        await storage.saveCode(rest);
        const result = await storage.consumeCode(rest.id, T, 'c1');
        expect(result).toEqual({ outcome: 'consumed', record: rest });
        expect(result.outcome === 'consumed' && 'dpopJkt' in result.record).toBe(false);
      });
      it('unknown code → missing; expired unused code → missing (expired behaves as absent)', async () => {
        expect(await storage.consumeCode(uid('code'), T, 'c1')).toEqual({ outcome: 'missing' });
        const c = code({ expiresAt: T + 60 });
        await storage.saveCode(c);
        expect(await storage.consumeCode(c.id, T + 60, 'c1')).toEqual({ outcome: 'missing' });
      });
      it('a used code replayed after its expiry is still reported reused until purged (so the grant gets revoked)', async () => {
        const c = code({ expiresAt: T + 60 });
        await storage.saveCode(c);
        expect((await storage.consumeCode(c.id, T, 'c1')).outcome).toBe('consumed');
        expect((await storage.consumeCode(c.id, T + 3600, 'c1')).outcome).toBe('reused');
      });
      it('findCode: live unused → used false; once consumed → used true, even past its expiry; expired unused or unknown → undefined', async () => {
        const c = code({ expiresAt: T + 60 });
        await storage.saveCode(c);
        expect(await storage.findCode(c.id, T)).toEqual({ record: c, used: false });
        expect(await storage.findCode(c.id, T + 60)).toBeUndefined();
        expect(await storage.findCode(uid('code'), T)).toBeUndefined();
        await storage.consumeCode(c.id, T, 'c1');
        expect(await storage.findCode(c.id, T)).toEqual({ record: c, used: true });
        expect(await storage.findCode(c.id, T + 3600)).toEqual({ record: c, used: true });
      });
      it('another client cannot use a code up: missing, and the code stays consumable by its own client; nor does it see the code as reused', async () => {
        const c = code({ clientId: 'c1' });
        await storage.saveCode(c);
        expect(await storage.consumeCode(c.id, T, 'c2')).toEqual({ outcome: 'missing' });
        expect(await storage.findCode(c.id, T)).toEqual({ record: c, used: false });
        expect(await storage.consumeCode(c.id, T, 'c1')).toEqual({ outcome: 'consumed', record: c });
        expect(await storage.consumeCode(c.id, T, 'c2')).toEqual({ outcome: 'missing' });
        expect(await storage.consumeCode(c.id, T, 'c1')).toEqual({ outcome: 'reused', record: c });
      });
      it('concurrency: 50 parallel redemptions of one code → exactly one consumed, 49 reused', async () => {
        const c = code();
        await storage.saveCode(c);
        const results = await Promise.all(Array.from({ length: 50 }, () => storage.consumeCode(c.id, T, 'c1')));
        expect(count(results, (r) => r.outcome === 'consumed')).toBe(1);
        expect(count(results, (r) => r.outcome === 'reused')).toBe(49);
      });
    });

    describe('pushed authorization requests (RFC 9126 §4: request_uri used once)', () => {
      it('consumed once with its params; then absent; expired → absent', async () => {
        const r = { id: uid('par'), clientId: 'c1', params: { response_type: 'code', dpop_jkt: 'jkt' }, expiresAt: T + 60 };
        await storage.savePushedRequest(r);
        expect(await storage.consumePushedRequest(r.id, T, 'c1')).toEqual(r);
        expect(await storage.consumePushedRequest(r.id, T, 'c1')).toBeUndefined();
        const old = { ...r, id: uid('par') };
        await storage.savePushedRequest(old);
        expect(await storage.consumePushedRequest(old.id, T + 60, 'c1')).toBeUndefined();
        expect(await storage.consumePushedRequest(uid('par'), T, 'c1')).toBeUndefined();
      });
      it('another client cannot use a request_uri up: undefined, and its own client still gets it once', async () => {
        const r = { id: uid('par'), clientId: 'c1', params: { response_type: 'code' }, expiresAt: T + 60 };
        await storage.savePushedRequest(r);
        expect(await storage.consumePushedRequest(r.id, T, 'c2')).toBeUndefined();
        expect(await storage.consumePushedRequest(r.id, T, 'c1')).toEqual(r);
        expect(await storage.consumePushedRequest(r.id, T, 'c1')).toBeUndefined();
      });
      it('concurrency: 50 parallel consumes of one request_uri by its client and by others → exactly one winner, its own client', async () => {
        const r = { id: uid('par'), clientId: 'c1', params: {}, expiresAt: T + 60 };
        await storage.savePushedRequest(r);
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => storage.consumePushedRequest(r.id, T, i % 2 ? 'c1' : 'c2')));
        expect(count(results, (x) => x !== undefined)).toBe(1);
        expect(results.find((x) => x !== undefined)?.clientId).toBe('c1');
      });
      it('concurrency: 50 parallel consumes of one request_uri → exactly one winner', async () => {
        const r = { id: uid('par'), clientId: 'c1', params: {}, expiresAt: T + 60 };
        await storage.savePushedRequest(r);
        const results = await Promise.all(Array.from({ length: 50 }, () => storage.consumePushedRequest(r.id, T, 'c1')));
        expect(count(results, (x) => x !== undefined)).toBe(1);
      });
    });

    describe('refresh-token families (RFC 9700 §4.14.2 rotation with reuse detection)', () => {
      it('find: family and rotated=false for a current token; unknown → undefined', async () => {
        const f = family();
        const t0 = uid('rt');
        await storage.createRefreshFamily(f, t0);
        expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: false });
        expect(await storage.findRefreshToken(uid('rt'))).toBeUndefined();
      });
      it('rotate retires the presented token and makes the next one current', async () => {
        const f = family();
        const [t0, t1, t2] = [uid('rt'), uid('rt'), uid('rt')];
        await storage.createRefreshFamily(f, t0);
        expect(await storage.rotateRefreshToken(t0, t1, T + 10)).toEqual({ outcome: 'rotated', family: f });
        expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: true });
        expect(await storage.findRefreshToken(t1)).toEqual({ family: f, rotated: false });
        expect((await storage.rotateRefreshToken(t1, t2, T + 20)).outcome).toBe('rotated');
      });
      it('reuse of a retired token → reused, and the whole family is revoked (the current token stops working)', async () => {
        const f = family();
        const [t0, t1, t2, t3] = [uid('rt'), uid('rt'), uid('rt'), uid('rt')];
        await storage.createRefreshFamily(f, t0);
        await storage.rotateRefreshToken(t0, t1, T + 10);
        expect(await storage.rotateRefreshToken(t0, t2, T + 20)).toEqual({ outcome: 'reused', family: { ...f, revokedAt: T + 20 } });
        expect(await storage.rotateRefreshToken(t1, t3, T + 30)).toEqual({ outcome: 'missing' });
        expect((await storage.findRefreshToken(t1))?.family.revokedAt).toBe(T + 20);
        expect(await storage.findRefreshToken(t2)).toBeUndefined(); // nothing was added on reuse
      });
      it('unknown token → missing; a family past its absolute expiry no longer rotates', async () => {
        expect(await storage.rotateRefreshToken(uid('rt'), uid('rt'), T)).toEqual({ outcome: 'missing' });
        const f = family({ expiresAt: T + 100 });
        const t0 = uid('rt');
        await storage.createRefreshFamily(f, t0);
        expect(await storage.rotateRefreshToken(t0, uid('rt'), T + 100)).toEqual({ outcome: 'missing' });
        expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: false });
      });
      it('a family without jkt/grantId round-trips without those fields', async () => {
        const { jkt: _j, grantId: _g, ...f } = family();
        const t0 = uid('rt');
        await storage.createRefreshFamily(f, t0);
        expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: false });
      });
      it('revokeRefreshFamily revokes (first revocation time kept); rotation then → missing', async () => {
        const f = family();
        const t0 = uid('rt');
        await storage.createRefreshFamily(f, t0);
        await storage.revokeRefreshFamily(f.familyId, T + 5);
        await storage.revokeRefreshFamily(f.familyId, T + 9);
        expect((await storage.findRefreshToken(t0))?.family.revokedAt).toBe(T + 5);
        expect(await storage.rotateRefreshToken(t0, uid('rt'), T + 10)).toEqual({ outcome: 'missing' });
      });
      it('revokeGrant (code reuse, RFC 6749 §4.1.2) revokes every family of that code and no other', async () => {
        const grantId = uid('grant');
        const a = family({ grantId });
        const b = family({ grantId });
        const other = family();
        const [ta, tb, to] = [uid('rt'), uid('rt'), uid('rt')];
        await storage.createRefreshFamily(a, ta);
        await storage.createRefreshFamily(b, tb);
        await storage.createRefreshFamily(other, to);
        await storage.revokeGrant(grantId, T + 7);
        expect((await storage.findRefreshToken(ta))?.family.revokedAt).toBe(T + 7);
        expect((await storage.findRefreshToken(tb))?.family.revokedAt).toBe(T + 7);
        expect((await storage.findRefreshToken(to))?.family.revokedAt).toBeUndefined();
      });
      it('concurrency: 50 parallel rotations of one token → exactly one rotated, 49 reused, family ends revoked', async () => {
        const f = family();
        const t0 = uid('rt');
        await storage.createRefreshFamily(f, t0);
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => storage.rotateRefreshToken(t0, `${t0}-next-${i}`, T + 10)));
        expect(count(results, (r) => r.outcome === 'rotated')).toBe(1);
        expect(count(results, (r) => r.outcome === 'reused')).toBe(49);
        const winner = results.findIndex((r) => r.outcome === 'rotated');
        const current = await storage.findRefreshToken(`${t0}-next-${winner}`);
        expect(current?.rotated).toBe(false);
        expect(current?.family.revokedAt).toBe(T + 10);
        // The successor of the winner no longer rotates: the family is revoked.
        expect((await storage.rotateRefreshToken(`${t0}-next-${winner}`, uid('rt'), T + 11)).outcome).toBe('missing');
      });
      it('nothing half-written: rotating into an existing token hash fails and the presented token stays current', async () => {
        const f = family();
        const g = family();
        const [t0, taken, t1] = [uid('rt'), uid('rt'), uid('rt')];
        await storage.createRefreshFamily(f, t0);
        await storage.createRefreshFamily(g, taken);
        await expect(storage.rotateRefreshToken(t0, taken, T + 10)).rejects.toThrow();
        expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: false });
        expect(await storage.findRefreshToken(taken)).toEqual({ family: g, rotated: false });
        expect((await storage.rotateRefreshToken(t0, t1, T + 11)).outcome).toBe('rotated');
      });
      describe('key binding in the rotation (RFC 9449 §5)', () => {
        const [A, B] = ['A'.repeat(43), 'B'.repeat(43)];
        const unbound = () => {
          const { jkt: _j, ...f } = family();
          return f as RefreshFamilyRecord;
        };

        it('bind: an unbound family is bound to the rotation\'s key, atomically; the successor then needs that key', async () => {
          const f = unbound();
          const [t0, t1, t2] = [uid('rt'), uid('rt'), uid('rt')];
          await storage.createRefreshFamily(f, t0);
          expect(await storage.rotateRefreshToken(t0, t1, T + 10, { jkt: A, bind: true })).toEqual({ outcome: 'rotated', family: { ...f, jkt: A } });
          expect(await storage.findRefreshToken(t1)).toEqual({ family: { ...f, jkt: A }, rotated: false });
          // Another key, or none: mismatch, and nothing changes (t1 stays current, the family live).
          expect(await storage.rotateRefreshToken(t1, t2, T + 20, { jkt: B, bind: true })).toEqual({ outcome: 'mismatch', family: { ...f, jkt: A } });
          expect(await storage.rotateRefreshToken(t1, t2, T + 20, { bind: true })).toEqual({ outcome: 'mismatch', family: { ...f, jkt: A } });
          expect(await storage.findRefreshToken(t1)).toEqual({ family: { ...f, jkt: A }, rotated: false });
          expect(await storage.findRefreshToken(t2)).toBeUndefined();
          expect(await storage.rotateRefreshToken(t1, t2, T + 30, { jkt: A, bind: true })).toEqual({ outcome: 'rotated', family: { ...f, jkt: A } });
        });
        it('a retired token issued bound, presented with another key: mismatch, the family is NOT revoked; with its key: reused and revoked', async () => {
          const f = family({ jkt: A });
          const [t0, t1, t2] = [uid('rt'), uid('rt'), uid('rt')];
          await storage.createRefreshFamily(f, t0);
          await storage.rotateRefreshToken(t0, t1, T + 10, { jkt: A, bind: true });
          expect(await storage.rotateRefreshToken(t0, t2, T + 20, { jkt: B, bind: true })).toEqual({ outcome: 'mismatch', family: f });
          expect((await storage.findRefreshToken(t1))?.family.revokedAt).toBeUndefined();
          expect(await storage.rotateRefreshToken(t0, t2, T + 30, { jkt: A, bind: true })).toEqual({ outcome: 'reused', family: { ...f, revokedAt: T + 30 } });
        });
        it('a retired token issued before the family was bound sets off reuse detection whatever key comes with it (the thief who bound first loses the family)', async () => {
          const f = unbound();
          const [t0, t1, t2] = [uid('rt'), uid('rt'), uid('rt')];
          await storage.createRefreshFamily(f, t0);
          await storage.rotateRefreshToken(t0, t1, T + 10, { jkt: B, bind: true }); // bound to B
          expect(await storage.rotateRefreshToken(t0, t2, T + 20, { jkt: A, bind: true })).toEqual({ outcome: 'reused', family: { ...f, jkt: B, revokedAt: T + 20 } });
          expect(await storage.rotateRefreshToken(t1, t2, T + 21, { jkt: B, bind: true })).toEqual({ outcome: 'missing' });
        });
        it('bind: false (confidential clients) checks a bound family but never binds one', async () => {
          const f = unbound();
          const [t0, t1] = [uid('rt'), uid('rt')];
          await storage.createRefreshFamily(f, t0);
          expect(await storage.rotateRefreshToken(t0, t1, T + 10, { jkt: A, bind: false })).toEqual({ outcome: 'rotated', family: f });
          expect(await storage.findRefreshToken(t1)).toEqual({ family: f, rotated: false });
        });
        it('a bound current token of a revoked family with the wrong key is a mismatch; with its key, missing', async () => {
          const f = family({ jkt: A });
          const t0 = uid('rt');
          await storage.createRefreshFamily(f, t0);
          await storage.revokeRefreshFamily(f.familyId, T + 1);
          expect((await storage.rotateRefreshToken(t0, uid('rt'), T + 2, { jkt: B, bind: true })).outcome).toBe('mismatch');
          expect(await storage.rotateRefreshToken(t0, uid('rt'), T + 2, { jkt: A, bind: true })).toEqual({ outcome: 'missing' });
        });
        it('concurrency: 20 parallel rotations of one unbound token with 20 keys → one rotated and binds its key; the rest are reuse (the token was issued unbound) and the family ends revoked', async () => {
          const f = unbound();
          const t0 = uid('rt');
          await storage.createRefreshFamily(f, t0);
          const keys = Array.from({ length: 20 }, (_, i) => String(i).padStart(43, 'k'));
          const results = await Promise.all(keys.map((k, i) => storage.rotateRefreshToken(t0, `${t0}-next-${i}`, T + 10, { jkt: k, bind: true })));
          expect(count(results, (r) => r.outcome === 'rotated')).toBe(1);
          expect(count(results, (r) => r.outcome === 'reused')).toBe(19);
          const winner = results.findIndex((r) => r.outcome === 'rotated');
          const current = await storage.findRefreshToken(`${t0}-next-${winner}`);
          expect(current?.family.jkt).toBe(keys[winner]);
          expect(current?.family.revokedAt).toBe(T + 10);
        });
        it('concurrency: 20 parallel rotations of one bound token, half with a wrong key → one rotated; the wrong keys get mismatch and never revoke', async () => {
          const f = family({ jkt: A });
          const t0 = uid('rt');
          await storage.createRefreshFamily(f, t0);
          const results = await Promise.all(Array.from({ length: 20 }, (_, i) => storage.rotateRefreshToken(t0, `${t0}-next-${i}`, T + 10, { jkt: i % 2 ? A : B, bind: true })));
          expect(count(results, (r) => r.outcome === 'rotated')).toBe(1);
          expect(count(results, (r) => r.outcome === 'mismatch')).toBe(10);
          expect(count(results, (r) => r.outcome === 'reused')).toBe(9);
        });
        it('nothing half-written: a failed rotation that would bind leaves the family unbound and the token current', async () => {
          const f = unbound();
          const taken = uid('rt');
          await storage.createRefreshFamily(family(), taken);
          const t0 = uid('rt');
          await storage.createRefreshFamily(f, t0);
          await expect(storage.rotateRefreshToken(t0, taken, T + 10, { jkt: A, bind: true })).rejects.toThrow();
          expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: false });
        });
      });
      it('createRefreshFamily is all or nothing: a duplicate token hash leaves no family behind', async () => {
        const taken = uid('rt');
        await storage.createRefreshFamily(family(), taken);
        const f = family();
        await expect(storage.createRefreshFamily(f, taken)).rejects.toThrow();
        const other = uid('rt');
        // The family id is free again: creating it properly now succeeds.
        await storage.createRefreshFamily(f, other);
        expect(await storage.findRefreshToken(other)).toEqual({ family: f, rotated: false });
      });
    });

    describe('access-token revocation (RFC 7009)', () => {
      it('revoked until the token would have expired anyway; a later shorter revocation does not shorten it', async () => {
        const jti = uid('jti');
        expect(await storage.isAccessTokenRevoked(jti, T)).toBe(false);
        await storage.revokeAccessToken(jti, T + 300);
        expect(await storage.isAccessTokenRevoked(jti, T)).toBe(true);
        expect(await storage.isAccessTokenRevoked(jti, T + 299)).toBe(true);
        expect(await storage.isAccessTokenRevoked(jti, T + 300)).toBe(false);
        await storage.revokeAccessToken(jti, T + 100);
        expect(await storage.isAccessTokenRevoked(jti, T + 200)).toBe(true);
      });
    });

    describe('signing keys', () => {
      it('saved keys are listed (JWKs as JSON) until their expiry, newest activation first; upsert replaces', async () => {
        const base = T + 10_000_000 + Math.floor(Math.random() * 1_000_000) * 10; // a private time slice
        const a = signingKey({ createdAt: base, activatesAt: base, retiresAt: base + 100, expiresAt: base + 200 });
        const b = signingKey({ createdAt: base, activatesAt: base + 50, retiresAt: base + 150, expiresAt: base + 250 });
        await storage.saveSigningKey(a);
        await storage.saveSigningKey(b);
        const mine = (list: SigningKeyRecord[]) => list.filter((k) => k.kid === a.kid || k.kid === b.kid);
        expect(mine(await storage.listSigningKeys(base))).toEqual([b, a]);
        expect(mine(await storage.listSigningKeys(base + 200))).toEqual([b]);
        expect(mine(await storage.listSigningKeys(base + 250))).toEqual([]);
        const a2 = { ...a, retiresAt: base + 120, publicJwk: { ...a.publicJwk, use: 'sig' } };
        await storage.saveSigningKey(a2);
        expect(mine(await storage.listSigningKeys(base))).toEqual([b, a2]);
      });
    });

    describe('first-party sign-in (draft-ietf-oauth-first-party-apps): auth sessions, challenge codes, TOTP steps', () => {
      const JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';
      const OTHER_JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
      function session(over: Partial<AuthSessionRecord> = {}): AuthSessionRecord {
        return {
          id: uid('as'),
          flowId: uid('flow'),
          clientId: 'cli',
          jkt: JKT,
          stage: 'pending',
          username: 'bob',
          params: { scope: 'api:read', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', max_age: '60' },
          amr: ['pwd'],
          failures: 1,
          createdAt: T,
          expiresAt: T + 300,
          ...over,
        };
      }

      it('save then find round-trips every field; optional ones stay absent; expired or unknown → undefined', async () => {
        const full = session({ stage: 'authenticated', acr: 'urn:dpopkit:acr:mfa', authTime: T - 3, amr: ['pwd', 'otp'] });
        const bare = session({ username: undefined, params: {}, amr: [], failures: 0 });
        delete (bare as Partial<AuthSessionRecord>).username;
        await storage.saveAuthSession(full);
        await storage.saveAuthSession(bare);
        expect(await storage.findAuthSession(full.id, T)).toEqual(full);
        expect(await storage.findAuthSession(bare.id, T)).toEqual(bare);
        expect(await storage.findAuthSession(full.id, T + 300)).toBeUndefined();
        expect(await storage.findAuthSession(uid('as'), T)).toBeUndefined();
      });

      it('advance retires the session once and stores its successor in the same step; the old one is gone', async () => {
        const first = session();
        const next = session({ flowId: first.flowId, amr: ['pwd', 'otp'], failures: 2 });
        await storage.saveAuthSession(first);
        expect(await storage.advanceAuthSession(first.id, T + 1, { clientId: 'cli', jkt: JKT }, next)).toBe(true);
        expect(await storage.findAuthSession(first.id, T + 1)).toBeUndefined();
        expect(await storage.findAuthSession(next.id, T + 1)).toEqual(next);
        // Used: a second advance loses and stores nothing.
        const third = session();
        expect(await storage.advanceAuthSession(first.id, T + 2, { clientId: 'cli', jkt: JKT }, third)).toBe(false);
        expect(await storage.findAuthSession(third.id, T + 2)).toBeUndefined();
        // Without a successor: the flow ends.
        expect(await storage.advanceAuthSession(next.id, T + 2, { clientId: 'cli', jkt: JKT })).toBe(true);
        expect(await storage.findAuthSession(next.id, T + 2)).toBeUndefined();
      });

      it('another client, another key, an expired or unknown session: false, and nothing changes', async () => {
        const s1 = session();
        await storage.saveAuthSession(s1);
        const successor = session();
        expect(await storage.advanceAuthSession(s1.id, T + 1, { clientId: 'other', jkt: JKT }, successor)).toBe(false);
        expect(await storage.advanceAuthSession(s1.id, T + 1, { clientId: 'cli', jkt: OTHER_JKT }, successor)).toBe(false);
        expect(await storage.advanceAuthSession(s1.id, T + 300, { clientId: 'cli', jkt: JKT }, successor)).toBe(false);
        expect(await storage.advanceAuthSession(uid('as'), T + 1, { clientId: 'cli', jkt: JKT }, successor)).toBe(false);
        expect(await storage.findAuthSession(successor.id, T + 1)).toBeUndefined();
        expect(await storage.findAuthSession(s1.id, T + 1)).toEqual(s1);
      });

      it('concurrency: 30 parallel advances of one session → exactly one wins and exactly one successor is stored', async () => {
        const s1 = session();
        await storage.saveAuthSession(s1);
        const successors = Array.from({ length: 30 }, () => session({ flowId: s1.flowId }));
        const results = await Promise.all(successors.map((n) => storage.advanceAuthSession(s1.id, T + 1, { clientId: 'cli', jkt: JKT }, n)));
        expect(count(results, (x) => x)).toBe(1);
        const stored = await Promise.all(successors.map((n) => storage.findAuthSession(n.id, T + 1)));
        expect(count(stored, (x) => x !== undefined)).toBe(1);
        expect(stored[results.indexOf(true)]).toEqual(successors[results.indexOf(true)]);
      });

      it('purgeExpired deletes used and expired sessions, keeps live ones', async () => {
        const live = session({ expiresAt: T + 1000 });
        const old = session({ expiresAt: T + 10 });
        const used = session({ expiresAt: T + 1000 });
        for (const x of [live, old, used]) await storage.saveAuthSession(x);
        await storage.advanceAuthSession(used.id, T, { clientId: 'cli', jkt: JKT });
        await storage.purgeExpired(T + 10);
        expect(await storage.findAuthSession(live.id, T + 10)).toEqual(live);
        // A purged id can be stored again (it is really gone).
        await storage.saveAuthSession({ ...old, expiresAt: T + 1000 });
        await storage.saveAuthSession({ ...used, expiresAt: T + 1000 });
      });

      it('a code of the challenge endpoint: no redirect URI, no PKCE, acr and amr round-trip; with PKCE too', async () => {
        const bare = code({ challenge: true, acr: 'urn:dpopkit:acr:pwd', amr: ['pwd'] });
        delete bare.redirectUri;
        delete bare.codeChallenge;
        delete bare.codeChallengeMethod;
        delete bare.nonce;
        const withPkce = code({ challenge: true, acr: 'urn:dpopkit:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });
        delete withPkce.redirectUri;
        await storage.saveCode(bare);
        await storage.saveCode(withPkce);
        expect(await storage.findCode(bare.id, T)).toEqual({ record: bare, used: false });
        expect(await storage.consumeCode(withPkce.id, T, 'c1')).toEqual({ outcome: 'consumed', record: withPkce });
      });

      it('a refresh family keeps the sign-in\'s acr and amr', async () => {
        const f = family({ acr: 'urn:dpopkit:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });
        const [t0, t1] = [uid('rt'), uid('rt')];
        await storage.createRefreshFamily(f, t0);
        expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: false });
        const rotated = await storage.rotateRefreshToken(t0, t1, T + 1, { jkt: f.jkt, bind: true });
        expect(rotated).toEqual({ outcome: 'rotated', family: f });
      });

      it('RFC 6238 §5.2: a TOTP step is accepted once per user, and never one at or before the last accepted', async () => {
        const user = uid('user');
        expect(await storage.acceptTotpStep(user, 1000)).toBe(true);
        expect(await storage.acceptTotpStep(user, 1000)).toBe(false);
        expect(await storage.acceptTotpStep(user, 999)).toBe(false);
        expect(await storage.acceptTotpStep(user, 1001)).toBe(true);
        // Users are separate.
        expect(await storage.acceptTotpStep(uid('user'), 1000)).toBe(true);
      });

      it('concurrency: 30 parallel acceptances of one step → exactly one true', async () => {
        const user = uid('user');
        const results = await Promise.all(Array.from({ length: 30 }, () => storage.acceptTotpStep(user, 5000)));
        expect(count(results, (x) => x)).toBe(1);
      });
    });

    describe('purgeExpired', () => {
      it('deletes what has expired and keeps what is live', async () => {
        const now = T + 500;
        const oldCode = code({ expiresAt: now });
        const liveCode = code({ expiresAt: now + 60 });
        const usedOldCode = code({ expiresAt: now - 1 });
        await storage.saveCode(oldCode);
        await storage.saveCode(liveCode);
        await storage.saveCode(usedOldCode);
        await storage.consumeCode(usedOldCode.id, now - 10, 'c1');
        const oldFam = family({ expiresAt: now });
        const liveFam = family({ expiresAt: now + 1 });
        const [to, tl] = [uid('rt'), uid('rt')];
        await storage.createRefreshFamily(oldFam, to);
        await storage.createRefreshFamily(liveFam, tl);
        const jtiOld = uid('jti');
        const jtiLive = uid('jti');
        await storage.revokeAccessToken(jtiOld, now);
        await storage.revokeAccessToken(jtiLive, now + 60);
        await storage.purgeExpired(now);
        expect(await storage.consumeCode(usedOldCode.id, now, 'c1')).toEqual({ outcome: 'missing' });
        expect((await storage.consumeCode(liveCode.id, now, 'c1')).outcome).toBe('consumed');
        expect(await storage.findRefreshToken(to)).toBeUndefined();
        expect((await storage.findRefreshToken(tl))?.family).toEqual(liveFam);
        expect(await storage.isAccessTokenRevoked(jtiLive, now)).toBe(true);
      });
    });

    it('restart: a new instance on the same store sees clients, keys, families, rotations, revocations and unused codes', async (ctx) => {
      if (!h.persistent) ctx.skip();
      const c = client();
      const k = signingKey({ activatesAt: T, retiresAt: T + 10_000, expiresAt: T + 20_000 });
      const f = family();
      const [t0, t1] = [uid('rt'), uid('rt')];
      const jti = uid('jti');
      const unused = code({ expiresAt: T + 600 });
      await storage.upsertClient(c);
      await storage.saveSigningKey(k);
      await storage.createRefreshFamily(f, t0);
      await storage.rotateRefreshToken(t0, t1, T + 1);
      await storage.revokeAccessToken(jti, T + 600);
      await storage.saveCode(unused);
      await storage.close();

      storage = await h.open();
      await storage.migrate();
      expect(await storage.getClient(c.clientId)).toEqual(c);
      expect((await storage.listSigningKeys(T)).find((x) => x.kid === k.kid)).toEqual(k);
      expect(await storage.findRefreshToken(t0)).toEqual({ family: f, rotated: true });
      expect(await storage.findRefreshToken(t1)).toEqual({ family: f, rotated: false });
      expect(await storage.isAccessTokenRevoked(jti, T)).toBe(true);
      expect(await storage.consumeCode(unused.id, T, 'c1')).toEqual({ outcome: 'consumed', record: unused });
      // Reuse detection survives the restart too.
      expect((await storage.rotateRefreshToken(t0, uid('rt'), T + 2)).outcome).toBe('reused');
    });
  });
}
