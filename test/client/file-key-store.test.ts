/**
 * fileKeyStore: a private JWK at mode 0600, written atomically, refused when group/others can
 * read it; and a client that keeps its key (and so its thumbprint) across runs.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDPoPClient, generateKeyPair, keyThumbprint } from '../../src/client/index.js';
import { fileKeyStore, KeyFileError } from '../../src/client/key-store/file.js';
import { verifyProof } from '../../src/core/proof/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'dpopkit-keystore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fileKeyStore (RFC 9449 §2: the private key must stay with the client)', () => {
  it('an empty store: the client generates a key, saves it with mode 0600, and reloads the same key later', async () => {
    const path = join(dir, 'client.json');
    const first = createDPoPClient({ keyStore: fileKeyStore(path) });
    const jkt = await first.thumbprint();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    expect(jwk.d).toBeTypeOf('string');
    expect(jwk.alg).toBe('ES256');
    // A second run with the same file signs with the same key: same thumbprint, valid proofs.
    const second = createDPoPClient({ keyStore: fileKeyStore(path) });
    expect(await second.thumbprint()).toBe(jkt);
    const proof = await second.proof('GET', 'https://rs.example/x');
    expect((await verifyProof(proof, { method: 'GET', url: 'https://rs.example/x', replayCache: false })).jkt).toBe(jkt);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to load a key file readable by group or others (0644, 0640)', async () => {
    for (const mode of [0o644, 0o640]) {
      const path = join(dir, `open-${mode.toString(8)}.json`);
      await fileKeyStore(join(dir, 'src.json')).save(await generateKeyPair('ES256', { extractable: true }));
      writeFileSync(path, readFileSync(join(dir, 'src.json')));
      chmodSync(path, mode);
      const err = await fileKeyStore(path).load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyFileError);
      expect((err as Error).message).toMatch(new RegExp(`mode 0${mode.toString(8)}.*chmod 600`));
      // A client with that store fails to get its key rather than using a leaked one.
      await expect(createDPoPClient({ keyStore: fileKeyStore(path) }).thumbprint()).rejects.toBeInstanceOf(KeyFileError);
    }
  });

  it('save replaces atomically (rename): the file is always a whole key, still 0600; rotateKey writes the new key', async () => {
    const path = join(dir, 'rotate.json');
    const client = createDPoPClient({ keyStore: fileKeyStore(path) });
    const before = await client.thumbprint();
    await client.rotateKey();
    const after = await client.thumbprint();
    expect(after).not.toBe(before);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await keyThumbprint((await fileKeyStore(path).load())!)).toBe(after);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('load: missing file → undefined; not JSON or no private part → KeyFileError; clear removes the file', async () => {
    expect(await fileKeyStore(join(dir, 'none.json')).load()).toBeUndefined();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, 'not json', { mode: 0o600 });
    await expect(fileKeyStore(bad).load()).rejects.toThrow(/not a JSON Web Key/);
    writeFileSync(bad, JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }), { mode: 0o600 });
    await expect(fileKeyStore(bad).load()).rejects.toThrow(/no private key/);
    const store = fileKeyStore(join(dir, 'cleared.json'));
    await store.save(await generateKeyPair('EdDSA', { extractable: true }));
    await store.clear();
    expect(await store.load()).toBeUndefined();
    await store.clear(); // idempotent
  });

  it('a non-extractable key cannot be written to a file (clear error, nothing written)', async () => {
    const path = join(dir, 'nx.json');
    await expect(fileKeyStore(path).save(await generateKeyPair('ES256'))).rejects.toThrow(/extractable/);
    expect(() => statSync(path)).toThrow();
  });

  it('other algorithms round-trip with their alg (EdDSA, ES384, and PS256, which an RSA key alone would not tell)', async () => {
    for (const alg of ['EdDSA', 'ES384', 'PS256'] as const) {
      const path = join(dir, `${alg}.json`);
      const client = createDPoPClient({ keyStore: fileKeyStore(path), alg });
      const jkt = await client.thumbprint();
      expect(JSON.parse(readFileSync(path, 'utf8')).alg).toBe(alg);
      const proof = await createDPoPClient({ keyStore: fileKeyStore(path) }).proof('POST', 'https://as.example/token');
      const verified = await verifyProof(proof, { method: 'POST', url: 'https://as.example/token', replayCache: false });
      expect([verified.jkt, verified.header.alg]).toEqual([jkt, alg]);
    }
  });
});
