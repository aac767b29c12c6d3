/**
 * createDPoPClient().fetch against real HTTP servers that check each proof with core's
 * verifyProof: htm/htu/ath, nonces per origin, the single re-signed retry in both shapes, loop
 * protection, and bodies that cannot be replayed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDPoPClient, type ProofInfo } from '../../src/client/index.js';
import { MAX_NONCE_LENGTH } from '../../src/core/nonce.js';
import { decodeJsonSegment } from '../../src/core/proof/parse.js';
import { checkProof, controlledNonces, startResourceServer, startServer, type Seen, type TestServer } from './support/servers.js';

const claimsOf = (proof: string | string[] | undefined): Record<string, unknown> => decodeJsonSegment(String(proof).split('.')[1]!, 'payload');
const servers: TestServer[] = [];
const track = <T extends TestServer>(s: T): T => { servers.push(s); return s; };
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });

/** A token endpoint demanding nonces the §8 way: 400 JSON use_dpop_nonce + DPoP-Nonce. */
async function startTokenEndpoint(nonces = controlledNonces('as')) {
  return track(await startServer(async (req) => {
    try {
      await checkProof(req, { nonces });
      return { status: 200, headers: { 'content-type': 'application/json', 'dpop-nonce': nonces.value }, body: JSON.stringify({ access_token: 'at', token_type: 'DPoP' }) };
    } catch (err) {
      return { status: 400, headers: { 'content-type': 'application/json', 'dpop-nonce': nonces.value }, body: JSON.stringify({ error: (err as { error: string }).error }) };
    }
  }));
}

describe('RFC 9449 §4.2 / §7.1: the proof on each request', () => {
  it('§4.2 htm is the method as sent, htu drops query and fragment, ath hashes the token; Authorization uses the DPoP scheme', async () => {
    const rs = track(await startResourceServer({ token: 'tok-1' }));
    const client = createDPoPClient();
    const res = await client.fetch(`${rs.url}/items/7?expand=1&x=%20y#frag`, { method: 'delete', accessToken: 'tok-1' });
    expect(res.status).toBe(200);
    const seen = rs.seen[0]!;
    expect(seen.method).toBe('DELETE');
    expect(seen.headers.authorization).toBe('DPoP tok-1');
    const claims = claimsOf(seen.headers.dpop);
    expect(claims.htm).toBe('DELETE');
    expect(claims.htu).toBe(`${rs.url}/items/7`);
    // verifyProof (with accessToken) accepted ath, and the key is the client's.
    expect(rs.proofs[0]!.jkt).toBe(await client.thumbprint());
    expect(rs.proofs[0]!.claims.ath).toBeTypeOf('string');
  });

  it('§4.2 POST with a body: htm POST and the body arrives intact', async () => {
    const rs = track(await startResourceServer());
    const client = createDPoPClient();
    const res = await client.fetch(`${rs.url}/submit`, { method: 'POST', body: 'a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' }, accessToken: 't' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { claims: { htm: string }; body: string };
    expect(body.claims.htm).toBe('POST');
    expect(body.body).toBe('a=1&b=2');
  });

  it('§4.2 a token endpoint request (no token) has no ath and no Authorization', async () => {
    const as = track(await startServer(async (req) => {
      const proof = await checkProof(req);
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ath: proof.claims.ath ?? null, authorization: req.headers.authorization ?? null }) };
    }));
    const client = createDPoPClient();
    const res = await client.fetch(`${as.url}/token`, { method: 'POST', body: 'grant_type=client_credentials' });
    expect(await res.json()).toEqual({ ath: null, authorization: null });
  });

  it('each request gets a fresh proof: distinct jti, onProof sees every one', async () => {
    const rs = track(await startResourceServer());
    const seenProofs: ProofInfo[] = [];
    const client = createDPoPClient({ onProof: (info) => seenProofs.push(info) });
    for (let i = 0; i < 3; i++) expect((await client.fetch(`${rs.url}/r?i=${i}`, { accessToken: 't' })).status).toBe(200);
    const jtis = new Set(rs.proofs.map((p) => p.jti));
    expect(jtis.size).toBe(3);
    expect(seenProofs.map((p) => p.method)).toEqual(['GET', 'GET', 'GET']);
    expect(seenProofs[2]!.url).toBe(`${rs.url}/r?i=2`);
    expect(seenProofs[0]!.proof).toBe(rs.seen[0]!.headers.dpop);
  });

  it('tokenType Bearer sends the token as Bearer with no proof (RFC 6750), which a DPoP server refuses', async () => {
    const rs = track(await startResourceServer());
    const client = createDPoPClient();
    const res = await client.fetch(`${rs.url}/r`, { accessToken: 't', tokenType: 'Bearer' });
    expect(rs.seen[0]!.headers.authorization).toBe('Bearer t');
    expect(rs.seen[0]!.headers.dpop).toBeUndefined();
    expect(res.status).toBe(401);
  });

  it('rotateKey: a new key (new thumbprint) signs from then on', async () => {
    const rs = track(await startResourceServer());
    const client = createDPoPClient();
    const before = await client.thumbprint();
    await client.rotateKey();
    const after = await client.thumbprint();
    expect(after).not.toBe(before);
    await client.fetch(`${rs.url}/r`, { accessToken: 't' });
    expect(rs.proofs[0]!.jkt).toBe(after);
    expect((await client.publicJwk()).kty).toBe('EC');
  });
});

describe('RFC 9449 §8 / §9: nonces', () => {
  it('§9 resource server shape: 401 WWW-Authenticate DPoP error="use_dpop_nonce" → exactly one retry with the nonce, and it succeeds', async () => {
    const nonces = controlledNonces('rs');
    const rs = track(await startResourceServer({ nonces }));
    const client = createDPoPClient();
    const res = await client.fetch(`${rs.url}/data`, { accessToken: 't' });
    expect(res.status).toBe(200);
    expect(rs.seen).toHaveLength(2);
    expect(claimsOf(rs.seen[0]!.headers.dpop).nonce).toBeUndefined();
    expect(claimsOf(rs.seen[1]!.headers.dpop).nonce).toBe(nonces.value);
    // The next request uses the remembered nonce straight away: one round trip.
    expect((await client.fetch(`${rs.url}/data`, { accessToken: 't' })).status).toBe(200);
    expect(rs.seen).toHaveLength(3);
  });

  it('§8 authorization server shape: 400 {"error":"use_dpop_nonce"} → exactly one retry, and it succeeds', async () => {
    const as = await startTokenEndpoint();
    const client = createDPoPClient();
    const res = await client.fetch(`${as.url}/token`, { method: 'POST', body: 'grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    expect(as.seen).toHaveLength(2);
    expect(as.seen[1]!.body).toBe('grant_type=client_credentials');
    expect(claimsOf(as.seen[1]!.headers.dpop).nonce).toBe('as-0');
  });

  it('peerd #301 / hol-guard #1151: the retry is re-signed (new jti, same htm/htu), never the same proof', async () => {
    const rs = track(await startResourceServer({ nonces: controlledNonces() }));
    const client = createDPoPClient();
    await client.fetch(`${rs.url}/data`, { accessToken: 't' });
    const [a, b] = rs.seen.map((s) => claimsOf(s.headers.dpop));
    expect(a!.jti).not.toBe(b!.jti);
    expect(rs.seen[0]!.headers.dpop).not.toBe(rs.seen[1]!.headers.dpop);
    expect([a!.htm, a!.htu]).toEqual([b!.htm, b!.htu]);
  });

  it('§8/§9: AS and RS nonces are remembered per origin, separately', async () => {
    const asNonces = controlledNonces('as');
    const rsNonces = controlledNonces('rs');
    const as = await startTokenEndpoint(asNonces);
    const rs = track(await startResourceServer({ nonces: rsNonces }));
    const client = createDPoPClient();
    await client.fetch(`${as.url}/token`, { method: 'POST', body: 'x=1' });
    await client.fetch(`${rs.url}/data`, { accessToken: 't' });
    expect(client.nonces.get(as.url)).toBe('as-0');
    expect(client.nonces.get(`${rs.url}/anything?q=1`)).toBe('rs-0');
    expect(client.nonces.size).toBe(2);
    // Each server gets its own nonce, first time, no retries.
    await client.fetch(`${as.url}/token`, { method: 'POST', body: 'x=2' });
    await client.fetch(`${rs.url}/data`, { accessToken: 't' });
    expect(claimsOf(as.seen.at(-1)!.headers.dpop).nonce).toBe('as-0');
    expect(claimsOf(rs.seen.at(-1)!.headers.dpop).nonce).toBe('rs-0');
    expect(as.seen).toHaveLength(3);
    expect(rs.seen).toHaveLength(3);
  });

  it('§8: the nonce of a successful response is remembered too (proactive DPoP-Nonce)', async () => {
    const srv = track(await startServer(() => ({ status: 200, headers: { 'dpop-nonce': 'proactive-1' }, body: 'ok' })));
    const client = createDPoPClient();
    await client.fetch(`${srv.url}/a`);
    await client.fetch(`${srv.url}/b`);
    expect(claimsOf(srv.seen[1]!.headers.dpop).nonce).toBe('proactive-1');
  });

  it('a nonce is filed under the origin that answered, after a redirect fetch followed', async () => {
    const target = track(await startServer(() => ({ status: 200, headers: { 'dpop-nonce': 'from-target' } })));
    const origin = track(await startServer(() => ({ status: 302, headers: { location: `${target.url}/landing` } })));
    const client = createDPoPClient();
    expect((await client.fetch(`${origin.url}/start`)).status).toBe(200);
    expect(client.nonces.get(target.url)).toBe('from-target');
    expect(client.nonces.get(origin.url)).toBeUndefined();
  });

  it('opentdf/java-sdk #374: a nonce rotated on the retry response is cached and used next time', async () => {
    const nonces = controlledNonces('rot');
    const rs = track(await startServer(async (req: Seen) => {
      try {
        await checkProof(req, { nonces, accessToken: 't' });
        const current = nonces.value;
        nonces.rotate(); // the server rotates and hands out the new nonce with the success
        return { status: 200, headers: { 'dpop-nonce': nonces.value }, body: current };
      } catch {
        return { status: 401, headers: { 'dpop-nonce': nonces.value, 'www-authenticate': 'DPoP error="use_dpop_nonce"' } };
      }
    }));
    const client = createDPoPClient();
    expect((await client.fetch(`${rs.url}/x`, { accessToken: 't' })).status).toBe(200);
    expect(client.nonces.get(rs.url)).toBe('rot-1');
    expect((await client.fetch(`${rs.url}/x`, { accessToken: 't' })).status).toBe(200);
    expect(rs.seen).toHaveLength(3); // 2 for the first call, 1 for the second: no failure repeated
  });

  it('opentdf/web-sdk #939 / requests_oauth2client #92: a stale cached nonce is replaced, and the retry happens despite a cached nonce', async () => {
    const nonces = controlledNonces('st');
    const rs = track(await startResourceServer({ nonces }));
    const client = createDPoPClient();
    await client.fetch(`${rs.url}/x`, { accessToken: 't' }); // learns st-0
    nonces.rotate(); // server moves on: st-0 is stale
    const res = await client.fetch(`${rs.url}/x`, { accessToken: 't' });
    expect(res.status).toBe(200);
    expect(claimsOf(rs.seen.at(-2)!.headers.dpop).nonce).toBe('st-0');
    expect(claimsOf(rs.seen.at(-1)!.headers.dpop).nonce).toBe('st-1');
    expect(client.nonces.get(rs.url)).toBe('st-1');
  });

  it('requests_oauth2client #97 / peerd #301: no retry when the server repeats the nonce just sent (loop protection)', async () => {
    const srv = track(await startServer(() => ({ status: 401, headers: { 'dpop-nonce': 'same', 'www-authenticate': 'DPoP error="use_dpop_nonce"' } })));
    const client = createDPoPClient();
    const res = await client.fetch(`${srv.url}/x`, { accessToken: 't' });
    // First request had no nonce → one retry with "same" → server asks again with "same" → stop.
    expect(res.status).toBe(401);
    expect(srv.seen).toHaveLength(2);
    const again = await client.fetch(`${srv.url}/x`, { accessToken: 't' });
    expect(again.status).toBe(401);
    expect(srv.seen).toHaveLength(3); // cached "same" sent, "same" demanded: no retry at all
  });

  it('hol-guard #612: a server handing out a new nonce every time still gets exactly one retry', async () => {
    let n = 0;
    const srv = track(await startServer(() => ({ status: 400, headers: { 'content-type': 'application/json', 'dpop-nonce': `fresh-${n++}` }, body: '{"error":"use_dpop_nonce"}' })));
    const client = createDPoPClient();
    const res = await client.fetch(`${srv.url}/token`, { method: 'POST', body: 'a=b' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'use_dpop_nonce' });
    expect(srv.seen).toHaveLength(2);
    expect(client.nonces.get(srv.url)).toBe('fresh-1');
  });

  it('no retry when use_dpop_nonce comes without a DPoP-Nonce header', async () => {
    const srv = track(await startServer(() => ({ status: 401, headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"' } })));
    const client = createDPoPClient();
    expect((await client.fetch(`${srv.url}/x`, { accessToken: 't' })).status).toBe(401);
    expect(srv.seen).toHaveLength(1);
  });

  it('draft-dpop #92: an over-long or ill-formed nonce is neither cached nor retried with', async () => {
    const long = 'a'.repeat(MAX_NONCE_LENGTH + 1);
    const srv = track(await startServer((req) => ({
      status: 401,
      headers: { 'dpop-nonce': req.url.endsWith('/long') ? long : 'bad"quote', 'www-authenticate': 'DPoP error="use_dpop_nonce"' },
    })));
    const client = createDPoPClient();
    expect((await client.fetch(`${srv.url}/long`, { accessToken: 't' })).status).toBe(401);
    expect((await client.fetch(`${srv.url}/bad`, { accessToken: 't' })).status).toBe(401);
    expect(srv.seen).toHaveLength(2);
    expect(client.nonces.size).toBe(0);
  });

  it('RFC 9110 §11.6.1: use_dpop_nonce found in a DPoP challenge listed after a Bearer one', async () => {
    let calls = 0;
    const srv = track(await startServer(() => (++calls === 1
      ? { status: 401, headers: { 'dpop-nonce': 'multi-1', 'www-authenticate': 'Bearer realm="api", DPoP realm="api", error="use_dpop_nonce", algs="ES256 EdDSA"' } }
      : { status: 200, body: 'ok' })));
    const client = createDPoPClient();
    const res = await client.fetch(`${srv.url}/x`, { accessToken: 't' });
    expect(res.status).toBe(200);
    expect(claimsOf(srv.seen[1]!.headers.dpop).nonce).toBe('multi-1');
  });

  it('other 401s and 400s are not nonce demands: no retry (invalid_token, invalid_grant)', async () => {
    const srv = track(await startServer((req) => req.url.endsWith('/rs')
      ? { status: 401, headers: { 'dpop-nonce': 'n1', 'www-authenticate': 'DPoP error="invalid_token"' } }
      : { status: 400, headers: { 'dpop-nonce': 'n2', 'content-type': 'application/json' }, body: '{"error":"invalid_grant"}' }));
    const client = createDPoPClient();
    expect((await client.fetch(`${srv.url}/rs`, { accessToken: 't' })).status).toBe(401);
    expect((await client.fetch(`${srv.url}/as`, { method: 'POST', body: 'x' })).status).toBe(400);
    expect(srv.seen).toHaveLength(2);
    expect(client.nonces.get(srv.url)).toBe('n2'); // still remembered from error answers
  });

  it('atproto / peerd #301: a ReadableStream body is never retried; the 401 comes back and the nonce is remembered', async () => {
    const rs = track(await startResourceServer({ nonces: controlledNonces('s') }));
    const client = createDPoPClient();
    const stream = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } });
    const res = await client.fetch(`${rs.url}/upload`, { method: 'POST', body: stream, accessToken: 't', duplex: 'half' } as RequestInit & { duplex: 'half'; accessToken: string });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('use_dpop_nonce');
    expect(rs.seen).toHaveLength(1);
    expect(client.nonces.get(rs.url)).toBe('s-0');
    // The caller re-creates the body; the remembered nonce makes it pass first time.
    const again = await client.fetch(`${rs.url}/upload`, { method: 'POST', body: 'streamed', accessToken: 't' });
    expect(again.status).toBe(200);
    expect(rs.seen).toHaveLength(2);
  });

  it('a Request object with a body is cloned before sending, so its retry carries the same body', async () => {
    const rs = track(await startResourceServer({ nonces: controlledNonces() }));
    const client = createDPoPClient();
    const req = new Request(`${rs.url}/submit`, { method: 'PUT', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } });
    const res = await client.fetch(req, { accessToken: 't' });
    expect(res.status).toBe(200);
    expect(rs.seen.map((s) => s.body)).toEqual(['{"a":1}', '{"a":1}']);
    expect(rs.seen.map((s) => s.method)).toEqual(['PUT', 'PUT']);
  });
});

describe('nonce cache bounds (draft-dpop #92)', () => {
  let srvs: TestServer[] = [];
  beforeAll(async () => {
    srvs = await Promise.all([0, 1, 2].map((i) => startServer(() => ({ status: 200, headers: { 'dpop-nonce': `o${i}` } }))));
  });
  afterAll(async () => { await Promise.all(srvs.map((s) => s.close())); });

  it('maxNonceOrigins bounds the origins kept; the least recently used goes first', async () => {
    const client = createDPoPClient({ maxNonceOrigins: 2 });
    await client.fetch(srvs[0]!.url);
    await client.fetch(srvs[1]!.url);
    client.nonces.get(srvs[0]!.url); // touch 0: 1 is now the least recently used
    await client.fetch(srvs[2]!.url);
    expect(client.nonces.size).toBe(2);
    expect(client.nonces.get(srvs[1]!.url)).toBeUndefined();
    expect(client.nonces.get(srvs[0]!.url)).toBe('o0');
    expect(client.nonces.get(srvs[2]!.url)).toBe('o2');
  });
});
