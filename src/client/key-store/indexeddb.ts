/**
 * A browser `KeyStore`: the `CryptoKeyPair` object itself, kept in IndexedDB.
 *
 * IndexedDB stores `CryptoKey`s by structured clone, which keeps `extractable: false`: the page
 * can sign with the private key after a reload, but no script (an XSS payload included) can
 * ever read it out (RFC 9449 §11.4, §2 "the private key … never leaves the client").
 *
 * @module
 */
import { isSupportedAlgorithm } from '../../core/crypto/algorithms.js';
import type { DPoPKeyPair, KeyPairLike } from '../../core/crypto/backend.js';
import type { KeyStore } from './types.js';

export interface IndexedDbKeyStoreOptions {
  /** Database name (default `dpopkit`). */
  dbName?: string;
  /** Object store name (default `keys`). */
  storeName?: string;
  /** Record key of the pair (default `dpop`); use one per client or account. */
  keyName?: string;
}

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

/**
 * A key store in IndexedDB (browsers only). The client generates a non-extractable key for it.
 *
 * @example
 * ```ts
 * const client = createDPoPClient({ keyStore: indexedDbKeyStore() });
 * ```
 */
export function indexedDbKeyStore(options: IndexedDbKeyStoreOptions = {}): KeyStore {
  const dbName = options.dbName ?? 'dpopkit';
  const storeName = options.storeName ?? 'keys';
  const keyName = options.keyName ?? 'dpop';
  let db: Promise<IDBDatabase> | undefined;

  function open(): Promise<IDBDatabase> {
    if (!db) {
      if (typeof indexedDB === 'undefined') return Promise.reject(new Error('indexedDbKeyStore needs IndexedDB (a browser)'));
      const request = indexedDB.open(dbName, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(storeName)) request.result.createObjectStore(storeName);
      };
      db = promised(request);
      db.catch(() => { db = undefined; });
    }
    return db;
  }

  async function run<T>(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const database = await open();
    const tx = database.transaction(storeName, mode);
    // Listen for the end of the transaction before anything can finish it.
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
    const result = await promised(action(tx.objectStore(storeName)));
    await done;
    return result;
  }

  return {
    async load(): Promise<KeyPairLike | undefined> {
      const stored = (await run('readonly', (store) => store.get(keyName))) as { privateKey?: unknown; publicKey?: unknown; alg?: unknown } | undefined;
      if (!stored || !stored.privateKey || !stored.publicKey) return undefined;
      // Without a recorded alg (older records) the client reads it from the CryptoKey itself.
      return { privateKey: stored.privateKey, publicKey: stored.publicKey, ...(isSupportedAlgorithm(stored.alg) ? { alg: stored.alg } : {}) };
    },
    async save(pair: DPoPKeyPair) {
      // The CryptoKey objects themselves, never an export: structured clone keeps them opaque.
      await run('readwrite', (store) => store.put({ privateKey: pair.privateKey, publicKey: pair.publicKey, alg: pair.alg }, keyName));
    },
    async clear() {
      await run('readwrite', (store) => store.delete(keyName));
    },
  };
}
