import * as crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createProof } from '../../src/core/proof/create.js';
import { verifyProof } from '../../src/core/proof/verify.js';
import { exportPublicJwk, generateKeyPair, keyThumbprint } from '../../src/core/keys.js';
import { accessTokenHash } from '../../src/core/thumbprint.js';
import { DEFAULT_ALGORITHMS, type DPoPAlgorithm } from '../../src/core/crypto/algorithms.js';
import { backend as web } from '../../src/core/crypto/web.js';

const URL_ = 'https://api.example.com/resource';
const decode = (segment: string): Record<string, unknown> => JSON.parse(Buffer.from(segment, 'base64url').toString()) as Record<string, unknown>;

describe('RFC 9449 §4.2 createProof', () => {
  for (const alg of DEFAULT_ALGORITHMS) {
    it(`${alg}: header typ/alg/jwk, claims, and it verifies`, async () => {
      const keyPair = await generateKeyPair(alg as DPoPAlgorithm, { extractable: true });
      const proof = await createProof(keyPair, { htm: 'POST', htu: `${URL_}?q=1#frag`, alg: alg as DPoPAlgorithm });
      const [h, p] = proof.split('.');
      const header = decode(h!);
      const claims = decode(p!);
      expect(header).toMatchObject({ typ: 'dpop+jwt', alg });
      expect(header.jwk).toEqual(await exportPublicJwk(keyPair));
      expect(claims).toMatchObject({ htm: 'POST', htu: URL_ });
      expect(typeof claims.iat).toBe('number');
      expect(Math.abs((claims.iat as number) - Date.now() / 1000)).toBeLessThan(5);
      const result = await verifyProof(proof, { method: 'POST', url: URL_, replayCache: false });
      expect(result.jkt).toBe(await keyThumbprint(keyPair));
    });
  }

  it('jti has at least 96 bits of randomness and never repeats', async () => {
    const keyPair = await generateKeyPair('ES256', { extractable: true });
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const jti = decode((await createProof(keyPair, { htm: 'GET', htu: URL_ })).split('.')[1]!).jti as string;
      expect(Buffer.from(jti, 'base64url').length * 8).toBeGreaterThanOrEqual(96);
      seen.add(jti);
    }
    expect(seen.size).toBe(2000);
  });

  it('adds ath (base64url SHA-256 of the token) and nonce when given', async () => {
    const keyPair = await generateKeyPair('ES256', { extractable: true });
    const proof = await createProof(keyPair, { htm: 'GET', htu: URL_, accessToken: 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU', nonce: 'n-1' });
    expect(decode(proof.split('.')[1]!)).toMatchObject({ ath: 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo', nonce: 'n-1' });
    expect(decode(proof.split('.')[0]!).jwk).not.toHaveProperty('d');
  });

  it('signs with a non-extractable WebCrypto key without ever exporting it', async () => {
    const keyPair = await generateKeyPair('ES256');
    const privateKey = keyPair.privateKey as CryptoKey;
    expect(privateKey).toBeInstanceOf(globalThis.CryptoKey);
    expect(privateKey.extractable).toBe(false);
    await expect(crypto.webcrypto.subtle.exportKey('jwk', privateKey)).rejects.toThrow();
    const proof = await createProof(keyPair, { htm: 'GET', htu: URL_ });
    expect((await verifyProof(proof, { method: 'GET', url: URL_, replayCache: false })).header.alg).toBe('ES256');
  });

  it('accepts extractable WebCrypto CryptoKeys and Node KeyObjects alike', async () => {
    const web = await crypto.webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']) as CryptoKeyPair;
    const p1 = await createProof(web, { htm: 'GET', htu: URL_ });
    const node = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const p2 = await createProof(node, { htm: 'GET', htu: URL_ });
    expect((await verifyProof(p1, { method: 'GET', url: URL_, replayCache: false })).header.alg).toBe('EdDSA');
    expect((await verifyProof(p2, { method: 'GET', url: URL_, replayCache: false })).header.alg).toBe('ES384');
  });

  it('refuses bad calls with TypeError (caller mistakes are not DPoPErrors)', async () => {
    const keyPair = await generateKeyPair('ES256');
    await expect(createProof(keyPair, { htm: '', htu: URL_ })).rejects.toBeInstanceOf(TypeError);
    await expect(createProof({} as never, { htm: 'GET', htu: URL_ })).rejects.toBeInstanceOf(TypeError);
    await expect(generateKeyPair('HS256' as DPoPAlgorithm)).rejects.toBeInstanceOf(TypeError);
    await expect(generateKeyPair('RS256', { modulusLength: 1024 })).rejects.toBeInstanceOf(TypeError);
  });
});

describe('WebCrypto backend (browsers and edge runtimes)', () => {
  for (const alg of ['ES256', 'EdDSA', 'PS256', 'RS256'] as const) {
    it(`${alg}: web-signed proofs verify on the Node backend and web verifies Node's`, async () => {
      const pair = await web.generateKeyPair(alg, { extractable: false });
      const jwk = await web.exportPublicJwk(pair.publicKey);
      const input = 'eyJ0ZXN0IjoxfQ.eyJ4IjoxfQ';
      const sig = await web.sign(alg, pair.privateKey, input);
      const imported = await web.importPublicJwk(jwk, alg);
      expect(await web.verify(alg, imported, input, sig)).toBe(true);
      expect(await web.verifyCompact(alg, imported, input, web.base64urlEncode(sig))).toBe(true);
      // Node backend verifies what WebCrypto signed.
      const proof = await createProof(pair, { htm: 'GET', htu: URL_, alg });
      expect((await verifyProof(proof, { method: 'GET', url: URL_, replayCache: false })).jkt).toBe(await keyThumbprint(pair));
    });
  }

  it('hashes, HMACs and base64url-encodes exactly like the Node backend', async () => {
    const { backend: node } = await import('../../src/core/crypto/node.js');
    expect(web.base64urlEncode(await web.sha256('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'))).toBe(await accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'));
    const secret = new Uint8Array(32).fill(7);
    expect(Buffer.from(await web.hmacSha256(secret, 'x'))).toEqual(Buffer.from(node.hmacSha256(secret, 'x') as Uint8Array));
    const bytes = new Uint8Array([0, 255, 250, 1, 2, 3, 62, 63]);
    expect(web.base64urlEncode(bytes)).toBe(node.base64urlEncode(bytes));
    expect(Buffer.from(web.base64urlDecode(node.base64urlEncode(bytes)))).toEqual(Buffer.from(bytes));
    expect(web.base64urlDecodeText(node.base64urlEncode('héllo'))).toBe('héllo');
  });
});
