/**
 * A fleet starting together on one database: each process may create the first signing key.
 * Every process must then publish every key (a resource server reading the JWK Set from any
 * of them verifies tokens any of them signed) and settle on one signing key.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSigningKeys } from '../../src/authorization-server/signing-keys.js';
import type { Storage } from '../../src/authorization-server/storage.js';
import { STORAGES } from './support/harness.js';

describe.each(STORAGES)('signing keys created by processes starting together on $name', (factory) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('both keys are published by both; within seconds both sign with the same key', async () => {
    const { storage, cleanup } = await factory.open();
    cleanups.push(cleanup);
    await storage.migrate();
    // Two processes' key sets on one storage, made to race: both find no key (each waits at its
    // first read for the other), both create one, and A reads the keys back before B has saved.
    let arrivals = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((r) => (bothRead = r));
    let aReadBack!: () => void;
    const aHasReadBack = new Promise<void>((r) => (aReadBack = r));
    const racing = (who: 'a' | 'b'): Storage => {
      let reads = 0;
      return Object.assign(Object.create(storage) as Storage, {
        listSigningKeys: async (now: number) => {
          const keys = await storage.listSigningKeys(now);
          const read = reads++;
          if (read === 0) {
            if (++arrivals === 2) bothRead();
            await barrier;
          }
          if (who === 'a' && read === 1) aReadBack();
          return keys;
        },
        saveSigningKey: async (record: Parameters<Storage['saveSigningKey']>[0]) => {
          if (who === 'b') await aHasReadBack;
          return storage.saveSigningKey(record);
        },
      });
    };
    const a = createSigningKeys(racing('a'), { alg: 'ES256' }, 600);
    const b = createSigningKeys(racing('b'), { alg: 'ES256' }, 600);
    const t = Math.floor(Date.now() / 1000);
    // B's clock is a second ahead: its key activates later, so both must settle on B's.
    const [keyA, keyB] = await Promise.all([a.active(t), b.active(t + 1)]);
    expect(keyA.kid).not.toBe(keyB.kid);
    const kidsOf = async (keys: typeof a, at: number) => (await keys.published(at)).map((k) => k.kid).sort();
    const both = [keyA.kid, keyB.kid].sort();
    // B read both back; A read before B saved and knows only its own for now.
    expect(await kidsOf(b, t + 1)).toEqual(both);
    expect(await kidsOf(a, t + 1)).toEqual([keyA.kid]);
    // After the settling read (2 s), both publish both and sign with the same key, B's.
    const later = t + 3;
    expect(await kidsOf(a, later)).toEqual(both);
    expect(await kidsOf(b, later)).toEqual(both);
    expect((await a.active(later)).kid).toBe(keyB.kid);
    expect((await b.active(later)).kid).toBe(keyB.kid);
    expect(await a.verificationKey(keyA.kid, later)).toBeDefined(); // A's tokens stay valid
  });
});
