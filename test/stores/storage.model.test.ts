/**
 * Model-based property test of the SQL storage's refresh-token families and authorization
 * codes (RFC 9700 §4.14.2 rotation with reuse detection; RFC 6749 §4.1.2 single-use codes):
 * random sequences of operations run against PGlite and against a plain in-memory model of the
 * port's contract, and every answer must agree. Sequential on purpose (concurrency has its own
 * tests in the contract); this checks the state machine, including time and revocation.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefreshFamilyRecord, Storage } from '../../src/authorization-server/storage.js';
import pg from 'pg';
import { createPGliteStorage, createPostgresStorage } from '../../src/stores/postgres.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const pgSchema = `dpopkit_t_${Math.random().toString(36).slice(2, 10)}`;
const backends: [string, () => Storage, () => Promise<void>][] = [
  ['PGlite', () => createPGliteStorage(), async () => {}],
  [
    'PostgreSQL',
    () => createPostgresStorage({ connectionString: PG_URL, schema: pgSchema }),
    async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
      await c.end();
    },
  ],
];

type Op =
  | { kind: 'createFamily'; family: number; grant: number; life: number }
  | { kind: 'rotate'; token: number }
  | { kind: 'find'; token: number }
  | { kind: 'revokeFamily'; family: number }
  | { kind: 'revokeGrant'; grant: number }
  | { kind: 'saveCode'; code: number; life: number }
  | { kind: 'consumeCode'; code: number }
  | { kind: 'tick'; seconds: number }
  | { kind: 'purge' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('createFamily' as const), family: fc.nat(2), grant: fc.nat(1), life: fc.integer({ min: 1, max: 25 }) }),
  fc.record({ kind: fc.constant('rotate' as const), token: fc.nat(6) }),
  fc.record({ kind: fc.constant('rotate' as const), token: fc.nat(6) }),
  fc.record({ kind: fc.constant('find' as const), token: fc.nat(6) }),
  fc.record({ kind: fc.constant('revokeFamily' as const), family: fc.nat(2) }),
  fc.record({ kind: fc.constant('revokeGrant' as const), grant: fc.nat(1) }),
  fc.record({ kind: fc.constant('saveCode' as const), code: fc.nat(2), life: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('consumeCode' as const), code: fc.nat(2) }),
  fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 10 }) }),
  fc.constant({ kind: 'purge' as const }),
);

interface ModelFamily { record: RefreshFamilyRecord }
interface ModelToken { hash: string; familyId: string; rotated: boolean }
interface ModelCode { id: string; expiresAt: number; consumed: boolean }

describe.each(backends)('SQL storage on %s agrees with a model of the Storage contract (fast-check)', (_name, open, drop) => {
  let storage: Storage;
  beforeAll(async () => {
    storage = open();
    await storage.migrate();
  });
  afterAll(async () => {
    await storage?.close();
    await drop();
  });

  it('RFC 9700 §4.14.2 / RFC 6749 §4.1.2: random operation sequences give the model\'s answers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }), async (ops) => {
        const run = randomUUID(); // ids unique to this run: runs share one database
        let now = 1_700_000_000;
        const families = new Map<string, ModelFamily>();
        const tokens: ModelToken[] = []; // index = the token number ops refer to
        const codes = new Map<string, ModelCode>();
        const familyId = (n: number) => `${run}-f${n}`;
        const grantId = (n: number) => `${run}-g${n}`;
        const codeId = (n: number) => `${run}-c${n}`;

        for (const o of ops) {
          switch (o.kind) {
            case 'createFamily': {
              const id = familyId(o.family);
              if (families.has(id)) break; // ids are unique in real use
              const record: RefreshFamilyRecord = { familyId: id, clientId: 'c', subject: 's', scope: 'a', grantId: grantId(o.grant), authTime: now, createdAt: now, expiresAt: now + o.life };
              const hash = `${run}-t${tokens.length}`;
              await storage.createRefreshFamily(record, hash);
              families.set(id, { record });
              tokens.push({ hash, familyId: id, rotated: false });
              break;
            }
            case 'rotate': {
              const token = tokens[o.token];
              const presented = token?.hash ?? `${run}-unknown-${o.token}`;
              const next = `${run}-t${tokens.length}`;
              const got = await storage.rotateRefreshToken(presented, next, now);
              if (!token) {
                expect(got).toEqual({ outcome: 'missing' });
                break;
              }
              const fam = families.get(token.familyId);
              if (!fam) {
                expect(got).toEqual({ outcome: 'missing' }); // purged
                break;
              }
              if (token.rotated) {
                fam.record = { ...fam.record, revokedAt: fam.record.revokedAt ?? now };
                expect(got).toEqual({ outcome: 'reused', family: fam.record });
              } else if (fam.record.revokedAt !== undefined || fam.record.expiresAt <= now) {
                expect(got).toEqual({ outcome: 'missing' });
              } else {
                expect(got).toEqual({ outcome: 'rotated', family: fam.record });
                token.rotated = true;
                tokens.push({ hash: next, familyId: fam.record.familyId, rotated: false });
              }
              break;
            }
            case 'find': {
              const token = tokens[o.token];
              const got = await storage.findRefreshToken(token?.hash ?? `${run}-unknown-${o.token}`);
              const fam = token && families.get(token.familyId);
              expect(got).toEqual(token && fam ? { family: fam.record, rotated: token.rotated } : undefined);
              break;
            }
            case 'revokeFamily': {
              await storage.revokeRefreshFamily(familyId(o.family), now);
              const fam = families.get(familyId(o.family));
              if (fam) fam.record = { ...fam.record, revokedAt: fam.record.revokedAt ?? now };
              break;
            }
            case 'revokeGrant': {
              await storage.revokeGrant(grantId(o.grant), now);
              for (const fam of families.values()) {
                if (fam.record.grantId === grantId(o.grant)) fam.record = { ...fam.record, revokedAt: fam.record.revokedAt ?? now };
              }
              break;
            }
            case 'saveCode': {
              const id = codeId(o.code);
              if (codes.has(id)) break;
              await storage.saveCode({ id, clientId: 'c', subject: 's', redirectUri: 'https://a/cb', scope: 'a', codeChallenge: 'x', codeChallengeMethod: 'S256', authTime: now, expiresAt: now + o.life });
              codes.set(id, { id, expiresAt: now + o.life, consumed: false });
              break;
            }
            case 'consumeCode': {
              const id = codeId(o.code);
              const got = await storage.consumeCode(id, now, 'c');
              const code = codes.get(id);
              const want = !code ? 'missing' : code.consumed ? 'reused' : code.expiresAt > now ? 'consumed' : 'missing';
              expect(got.outcome).toBe(want);
              if (want === 'consumed') code!.consumed = true;
              break;
            }
            case 'tick':
              now += o.seconds;
              break;
            case 'purge': {
              await storage.purgeExpired(now);
              for (const [id, fam] of families) {
                if (fam.record.expiresAt > now) continue;
                families.delete(id);
                // Its tokens go with it (ON DELETE CASCADE), even if the family id is reused.
                for (const t of tokens) if (t.familyId === id) t.familyId = `${id}-purged`;
              }
              for (const [id, code] of codes) if (code.expiresAt <= now) codes.delete(id);
              break;
            }
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
