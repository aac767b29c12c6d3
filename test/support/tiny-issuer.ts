/**
 * A tiny real issuer for store tests: an ES256 signing key published by a real JWKS server on
 * port 0, and a function minting RFC 9068 access tokens bound to a DPoP key (`cnf.jkt`). It
 * stands in for the authorization server, which is not what these tests are about.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export interface TinyIssuer {
  issuer: string;
  jwksUri: string;
  /** An `at+jwt` for `audience`, bound to `jkt`, valid for 10 minutes. */
  mint(audience: string, jkt: string): Promise<string>;
  close(): Promise<void>;
}

export async function createTinyIssuer(issuer = 'https://as.example.com'): Promise<TinyIssuer> {
  const key = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const jwksUri = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`;
  let n = 0;
  return {
    issuer,
    jwksUri,
    mint: (audience, jkt) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ client_id: 'c1', scope: 'api', cnf: { jkt } })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('alice')
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .setJti(`at-${++n}`)
        .sign(key.privateKey);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
