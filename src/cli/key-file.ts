/**
 * Private keys on disk for the CLI: a private JWK (with its `alg`) in a file only the owner can
 * read (mode 0600).
 *
 * @module
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { DPoPAlgorithm } from '../core/crypto/algorithms.js';
import type { DPoPKeyPair } from '../core/crypto/backend.js';
import { importKeyPair } from '../core/keys.js';
import { usage } from './output.js';

export interface LoadedKey {
  keyPair: DPoPKeyPair & { privateKey: KeyObject; publicKey: KeyObject };
  alg: DPoPAlgorithm;
}

/** Write a private JWK readable by its owner only; refuse to overwrite unless asked. */
export async function writeKeyFile(path: string, privateJwk: JsonWebKey & { alg: string }, overwrite: boolean): Promise<void> {
  await writeFile(path, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag: overwrite ? 'w' : 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw usage(`${path} exists; pass --force to overwrite it`);
    throw err;
  });
}

/** Read a key file written by `dpopkit keygen` (or any private JWK). */
export async function readKeyFile(path: string): Promise<LoadedKey> {
  let jwk: JsonWebKey & { alg?: string };
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as JsonWebKey & { alg?: string };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usage(code === 'ENOENT' ? `key file ${path} does not exist` : `key file ${path} is not a JSON Web Key`);
  }
  if (typeof jwk !== 'object' || jwk === null || !('d' in jwk)) throw usage(`key file ${path} holds no private key (no "d" member)`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    throw usage(`key file ${path} is not a valid private JWK`);
  }
  const publicKey = createPublicKey(privateKey);
  let keyPair: DPoPKeyPair;
  try {
    // The file's alg, checked against the key (or the key's natural one); weak keys refused.
    keyPair = await importKeyPair({ privateKey, publicKey }, jwk.alg as DPoPAlgorithm | undefined);
  } catch (err) {
    throw usage(`key file ${path}: ${(err as Error).message}`);
  }
  return { keyPair: { privateKey, publicKey, alg: keyPair.alg }, alg: keyPair.alg };
}
