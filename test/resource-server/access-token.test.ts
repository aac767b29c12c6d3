/**
 * Access tokens: RFC 9068 JWTs against a real JWKS server (discovery, rotation, rate-limited
 * refetch, outages) and RFC 7662 introspection (client authentication, caching bounded by exp
 * and a maximum, inactive tokens, outages).
 */
import * as crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { createProof, findChallenge } from '../../src/index.js';
import type { RequestLike, VerifyResult } from '../../src/resource-server/index.js';
import { CLIENT_ID, CLIENT_SECRET, type AuthServer, type AuthServerFixture, useAuthServer } from './support/auth-server.js';
import { newKey } from './support/http.js';
import { AUDIENCE, testRs } from './support/rs.js';

const URL_ = 'https://api.example.com/items';
let as: AuthServer;
let key: AuthServerFixture['key'];
useAuthServer((f) => ({ as, key } = f));
beforeEach(() => {
  as.down = false;
  as.discovery = { oauth: true, openid: true };
});

/** A request to URL_ with the token and (unless `proof: false`) a fresh proof. */
async function request(token: string, options: { scheme?: string; proof?: boolean } = {}): Promise<RequestLike> {
  const headers: Record<string, string> = { host: 'api.example.com', authorization: `${options.scheme ?? 'DPoP'} ${token}` };
  if (options.proof !== false) headers.dpop = await createProof(key, { htm: 'GET', htu: URL_, accessToken: token });
  return { method: 'GET', url: '/items', headers, protocol: 'https' };
}

/** Sleep until the clock has passed `exp` (epoch seconds). */
function untilPast(exp: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 100));
}

function refused(result: VerifyResult) {
  if (result.ok) throw new Error('expected a refusal');
  return { ...result, challenge: findChallenge(result.headers['WWW-Authenticate'], 'DPoP')?.params };
}

describe('RFC 9068 JWT access tokens', () => {
  const t = () => testRs(as, { jwksUri: `${as.url}/jwks` });

  it('RFC 9068 §2.1: typ "at+jwt" and "application/at+jwt" are accepted', async () => {
    const { rs } = t();
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT']) {
      const result = await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { typ })));
      expect(result.ok, typ).toBe(true);
    }
  });

  it('RFC 9068 §4: a JWT without typ, or with typ "JWT" (e.g. an ID token), is refused as invalid_token', async () => {
    const { rs } = t();
    for (const typ of [null, 'JWT', 'dpop+jwt']) {
      const r = refused(await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { typ }))));
      expect(r.status).toBe(401);
      expect(r.challenge!.error).toBe('invalid_token');
      expect(r.reason).toBe('token_bad_typ');
    }
  });

  it('accessTokenTypes: a configured typ is accepted', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, accessTokenTypes: ['JWT'] });
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { typ: 'JWT' })))).ok).toBe(true);
  });

  it('RFC 9068 §4: HS256 (a shared secret) and "none" are never accepted; accessTokenAlgs restricts further', async () => {
    const { rs } = t();
    const hs = await new SignJWT({ iss: as.url, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 60, cnf: { jkt: key.jkt } })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' }).sign(new Uint8Array(32));
    expect(refused(await rs.verify(await request(hs))).reason).toBe('token_alg_not_allowed');
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: as.url, aud: AUDIENCE, exp: 2e9 })}.AAAA`;
    expect(refused(await rs.verify(await request(none))).reason).toBe('token_alg_not_allowed');
    const rsOnly = testRs(as, { jwksUri: `${as.url}/jwks`, accessTokenAlgs: ['RS256'] }).rs;
    expect(refused(await rsOnly.verify(await request(await as.mint({ cnf: { jkt: key.jkt } })))).reason).toBe('token_alg_not_allowed');
    expect(() => testRs(as, { accessTokenAlgs: ['HS256'] })).toThrow(TypeError);
  });

  it('RFC 9068 §4: iss must be the configured issuer', async () => {
    const r = refused(await t().rs.verify(await request(await as.mint({ iss: 'https://evil.example', cnf: { jkt: key.jkt } }))));
    expect([r.status, r.reason]).toEqual([401, 'token_bad_issuer']);
  });

  it('RFC 9068 §4: aud must contain our identifier (string or array; any configured audience)', async () => {
    const { rs } = t();
    expect(refused(await rs.verify(await request(await as.mint({ aud: 'https://other.example', cnf: { jkt: key.jkt } })))).reason).toBe('token_bad_audience');
    expect((await rs.verify(await request(await as.mint({ aud: ['https://other.example', AUDIENCE], cnf: { jkt: key.jkt } })))).ok).toBe(true);
    const multi = testRs(as, { jwksUri: `${as.url}/jwks`, audience: ['urn:a', 'urn:b'] }).rs;
    expect((await multi.verify(await request(await as.mint({ aud: 'urn:b', cnf: { jkt: key.jkt } })))).ok).toBe(true);
  });

  it('RFC 7519 §4.1.4–4.1.5: exp and nbf with a small tolerance; exp is required', async () => {
    const { rs } = t();
    const now = Math.floor(Date.now() / 1000);
    expect(refused(await rs.verify(await request(await as.mint({ exp: now - 60, cnf: { jkt: key.jkt } })))).reason).toBe('token_expired');
    expect((await rs.verify(await request(await as.mint({ exp: now - 2, cnf: { jkt: key.jkt } })))).ok).toBe(true);
    expect(refused(await rs.verify(await request(await as.mint({ nbf: now + 60, cnf: { jkt: key.jkt } })))).reason).toBe('token_not_yet_valid');
    expect(refused(await rs.verify(await request(await as.mint({ exp: undefined, cnf: { jkt: key.jkt } })))).reason).toBe('token_malformed');
  });

  it('RFC 7515 §5.2: a tampered payload fails the signature check', async () => {
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.sub = 'mallory';
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    expect(refused(await t().rs.verify(await request(forged))).reason).toBe('token_bad_signature');
  });

  it('RFC 9449 §6.1: cnf.jkt that is not a thumbprint, or cnf that is not an object, is invalid_token', async () => {
    const { rs } = t();
    expect(refused(await rs.verify(await request(await as.mint({ cnf: { jkt: 42 } })))).reason).toBe('bad_cnf');
    expect(refused(await rs.verify(await request(await as.mint({ cnf: 'x' })))).reason).toBe('bad_cnf');
  });

  it('RS256 and EdDSA issuer keys verify too (imported once per kid)', async () => {
    as.addKey('rsa1', 'RS256');
    as.addKey('ed1', 'EdDSA');
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, jwksRefetchSeconds: 0 });
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'rsa1' })))).ok).toBe(true);
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'ed1' })))).ok).toBe(true);
    as.removeKey('rsa1');
    as.removeKey('ed1');
  });
});

describe('verified-token cache (tokenCacheSize)', () => {
  it('a cached token is still checked for exp on every request', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, clockTolerance: 0 });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await as.mint({ cnf: { jkt: key.jkt }, exp });
    expect((await rs.verify(await request(token))).ok).toBe(true);
    await untilPast(exp);
    expect(refused(await rs.verify(await request(token))).reason).toBe('token_expired');
  });

  it('a token with the same signature but another payload is never served from the cache', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    expect((await rs.verify(await request(token))).ok).toBe(true);
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.scope = 'admin';
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    expect(refused(await rs.verify(await request(forged))).reason).toBe('token_bad_signature');
  });

  it('a newly fetched JWK Set empties it: a token whose key was withdrawn is refused even though it was accepted before', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, jwksRefetchSeconds: 0 });
    as.addKey('withdrawn');
    const token = await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'withdrawn' });
    expect((await rs.verify(await request(token))).ok).toBe(true);
    as.removeKey('withdrawn');
    as.addKey('fresh');
    // a token with the new kid makes the RS fetch the set again
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'fresh' })))).ok).toBe(true);
    expect(refused(await rs.verify(await request(token))).reason).toBe('token_unknown_kid');
    as.removeKey('fresh');
  });

  it('tokenCacheSize: 0 verifies every time', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, tokenCacheSize: 0 });
    const token = await as.mint({ cnf: { jkt: key.jkt } });
    expect((await rs.verify(await request(token))).ok).toBe(true);
    expect((await rs.verify(await request(token))).ok).toBe(true);
  });
});

describe('JWKS: discovery, rotation, rate-limited refetch, outages', () => {
  it('RFC 8414 §3: jwks_uri is discovered from /.well-known/oauth-authorization-server', async () => {
    const before = { ...as.hits };
    const { rs } = testRs(as);
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } })))).ok).toBe(true);
    expect(as.hits.oauthMetadata - before.oauthMetadata).toBe(1);
    expect(as.hits.openidMetadata - before.openidMetadata).toBe(0);
  });

  it('OpenID Discovery §4: falls back to /.well-known/openid-configuration', async () => {
    as.discovery = { oauth: false, openid: true };
    const before = { ...as.hits };
    const { rs } = testRs(as);
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } })))).ok).toBe(true);
    expect(as.hits.openidMetadata - before.openidMetadata).toBe(1);
  });

  it('RFC 8414 §3.3: metadata naming another issuer is not trusted (503, fail closed)', async () => {
    const { rs, logs } = testRs(as, { issuer: `${as.url}/tenant` });
    const r = refused(await rs.verify(await request(await as.mint({ iss: `${as.url}/tenant`, cnf: { jkt: key.jkt } }))));
    expect(r.status).toBe(503);
    expect(r.reason).toBe('jwks_unavailable');
    expect(r.headers['Retry-After']).toBe('1');
    expect(logs.some((l) => l.level === 'warn' && String(l.obj.cause).includes('not found'))).toBe(true);
  });

  it('key rotation: a new kid is fetched on first sight and accepted without restart', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, jwksRefetchSeconds: 0 });
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } })))).ok).toBe(true);
    const before = as.hits.jwks;
    as.addKey('k2');
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'k2' })))).ok).toBe(true);
    expect(as.hits.jwks - before).toBe(1);
    // the old key keeps working without another fetch
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'k1' })))).ok).toBe(true);
    expect(as.hits.jwks - before).toBe(1);
    as.removeKey('k2');
  });

  it('unknown kid: refetch at most once per jwksRefetchSeconds (made-up kids cannot hammer the issuer)', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks`, jwksRefetchSeconds: 2 });
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } })))).ok).toBe(true);
    const before = as.hits.jwks;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (let i = 0; i < 20; i++) {
      const fake = `${b64({ alg: 'ES256', typ: 'at+jwt', kid: `made-up-${i}` })}.${b64({ iss: as.url })}.AAAA`;
      expect(refused(await rs.verify(await request(fake))).reason).toBe('token_unknown_kid');
    }
    expect(as.hits.jwks - before).toBe(0);
    await new Promise((r) => setTimeout(r, 2100));
    as.addKey('k3');
    expect((await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }, { kid: 'k3' })))).ok).toBe(true);
    expect(as.hits.jwks - before).toBe(1);
    as.removeKey('k3');
  });

  it('JWKS endpoint failing → 503 temporarily_unavailable (fail closed), never a crash', async () => {
    as.down = true;
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    const r = refused(await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }))));
    expect([r.status, r.error, r.reason]).toEqual([503, 'temporarily_unavailable', 'jwks_unavailable']);
  });

  it('JWKS host unreachable (closed port) → 503', async () => {
    const { rs } = testRs(as, { jwksUri: 'http://127.0.0.1:1/jwks' });
    const r = refused(await rs.verify(await request(await as.mint({ cnf: { jkt: key.jkt } }))));
    expect([r.status, r.reason]).toEqual([503, 'jwks_unavailable']);
  });
});

describe('RFC 7662 introspection of opaque tokens', () => {
  const opaque = (answer: Record<string, unknown>): string => {
    const token = crypto.randomBytes(24).toString('base64url');
    as.opaque.set(token, answer);
    return token;
  };
  const active = (extra: Record<string, unknown> = {}) => ({
    active: true, iss: as.url, aud: AUDIENCE, sub: 'bob', client_id: 'app', scope: 'read', token_type: 'DPoP',
    exp: Math.floor(Date.now() / 1000) + 300, cnf: { jkt: key.jkt }, ...extra,
  });
  const introspecting = (extra: Record<string, unknown> = {}, rsExtra: Record<string, unknown> = {}) => testRs(as, {
    jwksUri: `${as.url}/jwks`, ...rsExtra,
    introspection: { endpoint: `${as.url}/introspect`, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, ...extra },
  });

  it('RFC 7662 §2.1 + RFC 6749 §2.3.1: client_secret_basic is sent; cnf.jkt binds the token (RFC 9449 §6.2)', async () => {
    const { rs } = introspecting();
    const token = opaque(active());
    const result = await rs.verify(await request(token));
    expect(result.ok && result.principal).toMatchObject({ subject: 'bob', scopes: ['read'], jkt: key.jkt, scheme: 'DPoP' });
    const call = as.introspectionCalls.at(-1)!;
    const decoded = Buffer.from(call.authorization!.slice(6), 'base64').toString();
    expect(decoded).toBe(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET).replace(/%20/g, '+')}`);
    expect(call.body.get('token')).toBe(token);
    expect(call.body.get('token_type_hint')).toBe('access_token');
    expect(call.body.has('client_secret')).toBe(false);
  });

  it('client_secret_post sends the credentials in the body', async () => {
    const { rs } = introspecting({ authMethod: 'client_secret_post' });
    expect((await rs.verify(await request(opaque(active())))).ok).toBe(true);
    const call = as.introspectionCalls.at(-1)!;
    expect(call.authorization).toBeUndefined();
    expect([call.body.get('client_id'), call.body.get('client_secret')]).toEqual([CLIENT_ID, CLIENT_SECRET]);
  });

  it('a bound opaque token: another key → invalid_token; Bearer scheme → invalid_token (downgrade)', async () => {
    const { rs } = introspecting();
    const token = opaque(active({ cnf: { jkt: (await newKey()).jkt } }));
    expect(refused(await rs.verify(await request(token))).reason).toBe('jkt_mismatch');
    const own = opaque(active());
    const r = refused(await rs.verify(await request(own, { scheme: 'Bearer', proof: false })));
    expect([r.status, r.reason]).toEqual([401, 'bearer_downgrade']);
  });

  it('RFC 7662 §2.2: inactive → 401 invalid_token', async () => {
    const { rs } = introspecting();
    const r = refused(await rs.verify(await request(opaque({ active: false }))));
    expect([r.status, r.error, r.reason]).toEqual([401, 'invalid_token', 'token_inactive']);
    const unknown = refused(await rs.verify(await request('never-issued-token')));
    expect(unknown.reason).toBe('token_inactive');
  });

  it('RFC 9449 §6.2: token_type DPoP without cnf.jkt is refused; wrong aud or iss refused', async () => {
    const { rs } = introspecting();
    expect(refused(await rs.verify(await request(opaque(active({ cnf: undefined })), { scheme: 'Bearer', proof: false }))).reason).toBe('unsupported_binding');
    expect(refused(await rs.verify(await request(opaque(active({ aud: 'urn:other' }))))).reason).toBe('token_bad_audience');
    expect(refused(await rs.verify(await request(opaque(active({ iss: 'https://evil' }))))).reason).toBe('token_bad_issuer');
  });

  it('caching: a second request is answered from cache, but never past the token exp', async () => {
    const { rs } = introspecting({}, { clockTolerance: 0 });
    const exp = Math.floor(Date.now() / 1000) + 3;
    const token = opaque(active({ exp }));
    const before = as.hits.introspection;
    expect((await rs.verify(await request(token))).ok).toBe(true);
    expect((await rs.verify(await request(token))).ok).toBe(true);
    expect(as.hits.introspection - before).toBe(1);
    await untilPast(exp);
    // the fake AS still says active: the RS asks again (cache expired at exp) and refuses on exp
    expect(refused(await rs.verify(await request(token))).reason).toBe('token_expired');
    expect(as.hits.introspection - before).toBe(2);
  });

  it('caching: never longer than maxCacheSeconds (revocation is seen)', async () => {
    const { rs } = introspecting({ maxCacheSeconds: 2 });
    const token = opaque(active());
    const before = as.hits.introspection;
    expect((await rs.verify(await request(token))).ok).toBe(true);
    as.opaque.set(token, { active: false }); // revoked at the AS
    expect((await rs.verify(await request(token))).ok).toBe(true); // still cached
    await new Promise((r) => setTimeout(r, 2100));
    expect(refused(await rs.verify(await request(token))).reason).toBe('token_inactive');
    expect(as.hits.introspection - before).toBe(2);
  });

  it('the endpoint is discovered from metadata when not configured', async () => {
    const { rs } = testRs(as, { introspection: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    expect((await rs.verify(await request(opaque(active()))))).toMatchObject({ ok: true });
  });

  it('introspection failing (500, wrong client secret, unreachable) → 503, fail closed', async () => {
    const down = introspecting();
    as.down = true;
    expect(refused(await down.rs.verify(await request(opaque(active()))))).toMatchObject({ status: 503, reason: 'introspection_unavailable' });
    as.down = false;
    const wrong = testRs(as, { introspection: { endpoint: `${as.url}/introspect`, clientId: CLIENT_ID, clientSecret: 'nope' } });
    expect(refused(await wrong.rs.verify(await request(opaque(active()))))).toMatchObject({ status: 503, reason: 'introspection_unavailable' });
    expect(wrong.logs.some((l) => l.level === 'warn' && String(l.obj.cause).includes('401'))).toBe(true);
    const gone = testRs(as, { introspection: { endpoint: 'http://127.0.0.1:1/introspect', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    expect(refused(await gone.rs.verify(await request(opaque(active()))))).toMatchObject({ status: 503, reason: 'introspection_unavailable' });
  });

  it('an opaque token without introspection configured → 401 invalid_token', async () => {
    const { rs } = testRs(as, { jwksUri: `${as.url}/jwks` });
    expect(refused(await rs.verify(await request('opaque-token-value')))).toMatchObject({ status: 401, reason: 'token_malformed' });
  });
});
