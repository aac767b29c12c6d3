/**
 * Password and client-secret hashing with scrypt (RFC 7914) from node:crypto.
 *
 * Hashes are self-describing strings `scrypt$N$r$p$salt$hash` (salt and hash base64url), so the
 * cost can be raised later without breaking stored hashes. Comparison is constant time.
 *
 * Each verification costs ~16 MiB and tens of milliseconds of a libuv worker thread, so the
 * server runs them through a {@link ScryptGate}: a few at a time, a short queue, and a refusal
 * beyond it, so that guessing cannot exhaust the CPU, the memory or the thread pool that file
 * and crypto work of every other request shares.
 *
 * @module
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { invalidArgument } from '../core/argument-error.js';

const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const MAX_N = 1 << 20;

function scrypt(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFC'), salt, keyLength, { ...options, maxmem: 256 * options.N! * options.r! + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Hash a password (or client secret) with scrypt and a random 16-byte salt.
 *
 * @returns `scrypt$16384$8$1$<salt>$<hash>`, the format `users[].passwordHash` expects.
 * @example
 * ```ts
 * const passwordHash = await hashPassword('correct horse battery staple');
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string' || password.length === 0) throw invalidArgument('hashPassword needs a non-empty string');
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Whether `hash` looks like a string made by {@link hashPassword}. */
export function isPasswordHash(hash: unknown): hash is string {
  return typeof hash === 'string' && parse(hash) !== undefined;
}

function parse(hash: string): { n: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((v) => Number.isInteger(v) && v > 0) || n > MAX_N || (n & (n - 1)) !== 0 || r > 32 || p > 16) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length < 16) return undefined;
  return { n, r, p, salt, key };
}

/** A fixed hash to spend the same time on when the user is unknown (no user enumeration by timing). */
let dummy: Promise<string> | undefined;

/**
 * Check a password against a stored hash in constant time. An unusable or missing hash still
 * costs one scrypt run, so the answer time does not reveal whether a user exists.
 */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const parsed = hash === undefined ? undefined : parse(hash);
  if (!parsed) {
    dummy ??= hashPassword('dpopkit-dummy-password');
    await verifyPassword(password, await dummy);
    return false;
  }
  const key = await scrypt(password, parsed.salt, parsed.key.length, { N: parsed.n, r: parsed.r, p: parsed.p });
  return timingSafeEqual(key, parsed.key);
}

/** Thrown by {@link ScryptGate.run} when as many verifications are running and queued as allowed. */
export class ScryptBusyError extends Error {
  override readonly name = 'ScryptBusyError';
  constructor() {
    super('too many password and secret verifications are waiting; try again shortly');
  }
}

export interface ScryptGateOptions {
  /** Verifications running at once (default 2: Node's thread pool has 4 threads, shared with file I/O and crypto). */
  maxConcurrent?: number;
  /** Verifications waiting for a slot (default 32); one more is refused with {@link ScryptBusyError}. */
  maxQueue?: number;
}

/** A counting semaphore with a bounded queue, for scrypt verifications (one per server instance). */
export interface ScryptGate {
  /** Run `task` when a slot is free (first come, first served); reject at once when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Verifications running now. */
  readonly running: number;
  /** Verifications waiting now. */
  readonly waiting: number;
}

export function createScryptGate(options: ScryptGateOptions = {}): ScryptGate {
  const maxConcurrent = options.maxConcurrent ?? 2;
  const maxQueue = options.maxQueue ?? 32;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw invalidArgument('throttle.scrypt.maxConcurrent must be a positive integer');
  if (!Number.isInteger(maxQueue) || maxQueue < 0) throw invalidArgument('throttle.scrypt.maxQueue must be a non-negative integer');
  let running = 0;
  const queue: Array<() => void> = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else running--;
  };
  return {
    get running() {
      return running;
    },
    get waiting() {
      return queue.length;
    },
    async run(task) {
      if (running < maxConcurrent) running++;
      else if (queue.length < maxQueue) await new Promise<void>((resolve) => queue.push(resolve));
      else throw new ScryptBusyError();
      // The slot passes straight from a finishing task to the next waiter (running unchanged).
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
