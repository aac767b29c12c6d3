// Client-side group commit for the SQL replay cache: alone under light load, batched under load,
// in order, never more than `max` per batch or `inFlight` batches out, a failed batch fails all
// of its calls (and only those).
import { describe, expect, it } from 'vitest';
import { groupBatch } from '../../src/stores/group-batch.js';

/** A store whose answers the test releases by hand, recording every batch it was sent. */
function manualStore() {
  const batches: number[][] = [];
  const pending: Array<{ items: number[]; answer: (fail?: Error) => void }> = [];
  const send = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push(items);
      pending.push({ items, answer: (fail) => (fail ? reject(fail) : resolve(items.map((i) => `r${i}`))) });
    });
  const release = async (fail?: Error) => {
    pending.shift()!.answer(fail);
    await new Promise((r) => setImmediate(r));
  };
  return { send, batches, pending, release };
}

describe('groupBatch', () => {
  it('light load: each call goes at once, alone, and gets its own answer', async () => {
    const store = manualStore();
    const call = groupBatch(store.send, { inFlight: 2 });
    const a = call(1);
    const b = call(2);
    expect(store.batches).toEqual([[1], [2]]);
    await store.release();
    await store.release();
    expect([await a, await b]).toEqual(['r1', 'r2']);
  });

  it('under load: calls wait for a free slot and leave together, in order, at most `max` per batch', async () => {
    const store = manualStore();
    const call = groupBatch(store.send, { inFlight: 1, max: 3 });
    const answers = [1, 2, 3, 4, 5, 6].map((i) => call(i));
    expect(store.batches).toEqual([[1]]);
    await store.release();
    expect(store.batches).toEqual([[1], [2, 3, 4]]);
    await store.release();
    expect(store.batches).toEqual([[1], [2, 3, 4], [5, 6]]);
    await store.release();
    expect(await Promise.all(answers)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });

  it('never more than inFlight batches out', async () => {
    const store = manualStore();
    const call = groupBatch(store.send, { inFlight: 3 });
    const answers = Array.from({ length: 20 }, (_, i) => call(i));
    expect(store.pending).toHaveLength(3);
    await store.release();
    expect(store.pending).toHaveLength(3);
    expect(store.batches[3]).toEqual(Array.from({ length: 17 }, (_, i) => i + 3));
    while (store.pending.length > 0) await store.release();
    expect(await Promise.all(answers)).toHaveLength(20);
  });

  it('a batch that fails rejects each of its calls with the error; the next batch is unaffected', async () => {
    const store = manualStore();
    const call = groupBatch(store.send, { inFlight: 1 });
    const first = call(1);
    const [x, y] = [call(2), call(3)];
    const failure = new Error('database went away');
    const failed = expect(first).rejects.toBe(failure);
    await store.release(failure);
    await failed;
    await store.release();
    expect([await x, await y]).toEqual(['r2', 'r3']);
  });

  it('a send that throws at once, or answers the wrong number of results, fails its calls, not the batcher', async () => {
    let mode: 'throw' | 'short' | 'ok' = 'throw';
    const call = groupBatch((items: number[]) => {
      if (mode === 'throw') throw new Error('bad statement'); // before any promise exists
      return Promise.resolve(mode === 'short' ? [] : items.map(String));
    });
    await expect(call(1)).rejects.toThrow('bad statement');
    mode = 'short';
    await expect(call(2)).rejects.toThrow('a batch of 1 got 0 answers');
    mode = 'ok';
    expect(await call(3)).toBe('3');
  });
});
