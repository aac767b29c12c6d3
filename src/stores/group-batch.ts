/**
 * Group commit on the client side: calls that arrive while the store is busy travel together.
 *
 * A call is sent at once, alone, when fewer than `inFlight` batches are out: under light load
 * nothing waits. Otherwise it joins the calls waiting for the next free slot, and they leave as
 * one batch (at most `max`) the moment a batch comes back. Under load the batches grow by
 * themselves, so one statement and one commit serve many calls; a database pays per statement
 * and per commit far more than per row. Used by the SQL replay cache, where each commit also
 * waits for the disk, and by the SQL replay-cache quota.
 *
 * @module
 */

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export interface GroupBatchOptions {
  /** Batches out at once (default 2). */
  inFlight?: number;
  /** Most calls in one batch (default 256). */
  max?: number;
}

/**
 * `send` answers one result per item, in order; if it throws, every call of that batch rejects
 * with the error.
 */
export function groupBatch<I, O>(send: (items: I[]) => Promise<O[]>, options: GroupBatchOptions = {}): (item: I) => Promise<O> {
  const inFlight = options.inFlight ?? 2;
  const max = options.max ?? 256;
  let out = 0;
  let waiting: Waiting<I, O>[] = [];

  const dispatch = (batch: Waiting<I, O>[]): void => {
    out++;
    let answer: Promise<O[]>;
    try {
      answer = send(batch.map((w) => w.item));
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer
      .then((results) => {
        if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} got ${results.length} answers`);
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
      })
      .catch((err: unknown) => {
        for (const w of batch) w.reject(err);
      })
      .finally(() => {
        out--;
        drain();
      });
  };

  /** Send what waits, in batches of at most `max`, while a slot is free. */
  const drain = (): void => {
    while (out < inFlight && waiting.length > 0) {
      const next = waiting.length <= max ? waiting : waiting.slice(0, max);
      waiting = waiting.length <= max ? [] : waiting.slice(max);
      dispatch(next);
    }
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      const call = { item, resolve, reject };
      if (out < inFlight) dispatch([call]);
      else waiting.push(call);
    });
}
