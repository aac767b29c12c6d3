/**
 * Private keys on disk for the CLI: a private JWK (with its `alg`) in a file only the owner can
 * read (mode 0600). One rule for every command that reads a key file (`proof`, `request`,
 * `thumbprint` of a private key): the file is checked here, before any network, and every
 * problem is one {@link KeyFileError} line that names the file, says what is wrong and how to
 * fix it.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import type { DPoPAlgorithm } from '../core/crypto/algorithms.js';
import type { DPoPKeyPair } from '../core/crypto/backend.js';
import { generateKeyPair, importKeyPair } from '../core/keys.js';
import { usage } from './output.js';

export interface LoadedKey {
  keyPair: DPoPKeyPair & { privateKey: KeyObject; publicKey: KeyObject };
  alg: DPoPAlgorithm;
}

/** A key file that cannot be used; a usage error (exit 2), printed as one line. */
export function keyFileError(path: string, problem: string, fix: string): Error {
  return usage(`key file ${path}: ${problem}; ${fix}`);
}

/** `path` quoted for a shell command line when it needs it. */
export function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

const keygenHint = (path: string) => `make one with: dpopkit keygen --out ${shellQuote(path)}`;
const GIVE_PRIVATE_JWK = 'give a private JWK as written by dpopkit keygen';

/**
 * A private key readable by group or others must be taken as leaked (as OpenSSH does): refuse
 * it. Windows has no such mode bits; it is not checked there.
 */
export async function checkKeyFileMode(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw keyFileError(path, `mode ${mode.toString(8).padStart(4, '0')} lets other users read the private key`, `run: chmod 600 ${shellQuote(path)}`);
  }
}

/** Write a private JWK readable by its owner only; refuse to overwrite unless asked. */
export async function writeKeyFile(path: string, privateJwk: JsonWebKey & { alg: string }, overwrite: boolean): Promise<void> {
  await writeFile(path, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag: overwrite ? 'w' : 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw usage(`${path} exists; pass --force to overwrite it`);
    throw keyFileError(path, `cannot be written (${err.code ?? err.message})`, 'choose another --out path');
  });
}

/** The JSON of a key file, or a key-file error saying why there is none. */
async function readJwk(path: string, hint = GIVE_PRIVATE_JWK): Promise<JsonWebKey & { alg?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw keyFileError(path, 'does not exist', keygenHint(path));
    if (code === 'EISDIR') throw keyFileError(path, 'is a directory', 'give the path of a file written by dpopkit keygen');
    if (code === 'EACCES') throw keyFileError(path, 'cannot be read (permission denied)', 'run dpopkit as the file\'s owner');
    throw keyFileError(path, `cannot be read (${code ?? (err as Error).message})`, hint);
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch (err) {
    throw keyFileError(path, `is not JSON (${(err as Error).message})`, hint);
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw keyFileError(path, 'is not a JSON Web Key (not a JSON object)', hint);
  return jwk as JsonWebKey & { alg?: string };
}

/** Whether the file at `path` exists (anything else that goes wrong is reported on reading it). */
export async function keyFileExists(path: string): Promise<boolean> {
  return stat(path).then(() => true, (err: NodeJS.ErrnoException) => err.code !== 'ENOENT');
}

/**
 * Read a key file written by `dpopkit keygen` (or any private JWK): its mode first (0600), then
 * its JSON, the private key, its alg, and that it is not a weak key.
 */
export async function readKeyFile(path: string): Promise<LoadedKey> {
  const jwk = await readJwk(path);
  await checkKeyFileMode(path);
  if (typeof jwk.d !== 'string') throw keyFileError(path, 'holds no private key (no "d" member)', `${GIVE_PRIVATE_JWK}, not the public one`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw keyFileError(path, `is not a valid private JWK (${(err as Error).message})`, GIVE_PRIVATE_JWK);
  }
  const publicKey = createPublicKey(privateKey);
  let keyPair: DPoPKeyPair;
  try {
    // The file's alg, checked against the key (or the key's natural one); weak keys refused.
    keyPair = await importKeyPair({ privateKey, publicKey }, jwk.alg as DPoPAlgorithm | undefined);
  } catch (err) {
    throw keyFileError(path, (err as Error).message, GIVE_PRIVATE_JWK);
  }
  return { keyPair: { privateKey, publicKey, alg: keyPair.alg }, alg: keyPair.alg };
}

/**
 * `request --key FILE`: the key in FILE, checked like every key file; a missing file is created
 * with a new ES256 key (mode 0600, never overwriting one that appeared meanwhile).
 */
export async function readOrCreateKeyFile(path: string): Promise<LoadedKey & { created: boolean }> {
  if (await keyFileExists(path)) return { ...(await readKeyFile(path)), created: false };
  const generated = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = (generated.privateKey as KeyObject).export({ format: 'jwk' }) as JsonWebKey;
  await writeKeyFile(path, { ...privateJwk, alg: 'ES256' }, false);
  return { ...(await readKeyFile(path)), created: true };
}

/**
 * Any JWK file (`thumbprint`): a public one as it is; a private one under the same rule as
 * every key file (owner-only mode).
 */
export async function readAnyJwkFile(path: string): Promise<JsonWebKey & { alg?: string }> {
  const jwk = await readJwk(path, 'give a JWK (public or private) as JSON');
  if (typeof jwk.d === 'string') await checkKeyFileMode(path);
  return jwk;
}
