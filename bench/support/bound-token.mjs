// What the resource-server benchmarks share: an issuer key (ES256, its public JWK for the JWKS),
// a client key pair, and an RFC 9068 access token bound to the client key (cnf.jkt), valid an hour.
import * as crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { generateKeyPair, keyThumbprint } from '../../dist/index.js';

/** @returns {{ issuerJwk: object, client: object, clientJwk: object, token: string }} */
export async function boundToken({ issuer, audience }) {
  const issuerKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuerJwk = { ...issuerKey.publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'ES256', use: 'sig' };
  const client = await generateKeyPair('ES256', { extractable: true });
  const jkt = await keyThumbprint(client);
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ iss: issuer, aud: audience, sub: 'bench', client_id: 'bench', scope: 'read', cnf: { jkt }, iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'bench' })
    .sign(issuerKey.privateKey);
  return { issuerJwk, client, clientJwk: client.publicKey.export({ format: 'jwk' }), token };
}
