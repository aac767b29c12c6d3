/**
 * A Node `KeyStore`: the private JWK in a file only its owner can read (mode 0600).
 *
 * Writes are atomic (a temporary file in the same directory, then `rename`), so a crash never
 * leaves half a key. A file that group or others can read is refused on load: its key must be
 * taken as leaked, and a leaked DPoP key makes its tokens usable by whoever holds it.
 *
 * Node only (imports `node:fs`); exported as `dpopkit/client/file-key-store`, not from
 * `dpopkit/client`, so browser bundles never see it.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, KeyObject, randomBytes, type JsonWebKey } from 'node:crypto';
import { chmod, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { invalidArgument } from '../../core/argument-error.js';
import { algorithmForJwk, isSupportedAlgorithm } from '../../core/crypto/algorithms.js';
import type { DPoPKeyPair } from '../../core/crypto/backend.js';
import type { KeyStore } from './types.js';

/** A key file that may not be used: unreadable, not a private JWK, or readable by others. */
export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  constructor(message: string, readonly path: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function toKeyObject(key: unknown): KeyObject {
  if (key instanceof KeyObject) return key;
  // An extractable WebCrypto CryptoKey converts; a non-extractable one cannot be written anywhere.
  if (typeof CryptoKey !== 'undefined' && key instanceof CryptoKey) {
    if (!key.extractable) throw invalidArgument('fileKeyStore needs an extractable private key (a non-extractable key cannot be written to a file)');
    return KeyObject.from(key);
  }
  throw invalidArgument('fileKeyStore stores node:crypto KeyObjects or extractable CryptoKeys', 'ERR_INVALID_ARG_TYPE');
}

/**
 * A key store in the file at `path` (a private JWK with its `alg`, mode 0600).
 *
 * @example
 * ```ts
 * import { fileKeyStore } from 'dpopkit/client/file-key-store';
 * const client = createDPoPClient({ keyStore: fileKeyStore('./dpop-key.json') });
 * ```
 */
export function fileKeyStore(path: string): KeyStore {
  return {
    requiresExtractableKey: true,

    async load(): Promise<DPoPKeyPair | undefined> {
      let mode: number;
      try {
        mode = (await stat(path)).mode;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`, path, { cause: err });
      }
      if ((mode & 0o077) !== 0) {
        throw new KeyFileError(`key file ${path} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; it must be readable by its owner only (chmod 600)`, path);
      }
      let jwk: JsonWebKey & { alg?: string };
      try {
        jwk = JSON.parse(await readFile(path, 'utf8')) as JsonWebKey & { alg?: string };
      } catch (err) {
        throw new KeyFileError(`key file ${path} is not a JSON Web Key`, path, { cause: err });
      }
      if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') throw new KeyFileError(`key file ${path} holds no private key (no "d" member)`, path);
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
      } catch (err) {
        throw new KeyFileError(`key file ${path} is not a valid private JWK`, path, { cause: err });
      }
      const alg = jwk.alg ?? algorithmForJwk(jwk);
      if (!isSupportedAlgorithm(alg)) throw new KeyFileError(`key file ${path} names unsupported alg ${String(alg)}`, path);
      // The alg travels with the pair, so a PS256 key keeps signing PS256 (not RS256).
      return { privateKey, publicKey: createPublicKey(privateKey), alg };
    },

    async save(pair: DPoPKeyPair): Promise<void> {
      const privateKey = toKeyObject(pair.privateKey);
      const jwk = privateKey.export({ format: 'jwk' }) as JsonWebKey;
      // A pair from plain JavaScript may lack its alg: then the key's natural one is written.
      const alg = isSupportedAlgorithm(pair.alg) ? pair.alg : algorithmForJwk(jwk);
      const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
      // 'wx' + 0600: created fresh, owner-only from the first byte (no chmod window).
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify({ ...jwk, alg }, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await chmod(temp, 0o600); // in case a umask or ACL widened nothing it should not
        await rename(temp, path);
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        throw err;
      }
    },

    async clear(): Promise<void> {
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    },
  };
}
