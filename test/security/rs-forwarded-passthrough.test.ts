/**
 * Attack: a client-supplied proxy header passed through a trusted reverse proxy.
 *
 * The API sits behind a proxy it trusts (`trustProxy`). The proxy overwrites
 * `X-Forwarded-Host` / `X-Forwarded-Proto` with the real values but, like nginx by default,
 * passes any `Forwarded` header the client sent straight through. A resource server that
 * prefers `Forwarded` then takes `host=evil.example;proto=https` from the client and accepts a
 * proof made for `https://evil.example/...`. The same goes the other way round (a proxy that
 * sets `Forwarded` and passes `X-Forwarded-*` through), and for lists the proxy appended to
 * instead of replacing.
 *
 * Defence: `trustProxy.header` names the ONE header family the proxy sets; only it is read, only
 * from the proxy's addresses. The other family, or several different values, mean a client put
 * them there: 400 invalid_request, reason `forwarded_conflict` (`bad_forwarded` when
 * `Forwarded` does not parse). The host the proxy names must still be an allowed origin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProof, findChallenge } from '../../src/index.js';
import { createResourceServer, type ResourceServer, type TrustProxyOptions } from '../../src/resource-server/index.js';
import { ADAPTERS, startNode } from '../resource-server/support/adapters.js';
import { startAuthServer, type AuthServer } from '../resource-server/support/auth-server.js';
import { newKey, raw, type RawResponse, type Running } from '../resource-server/support/http.js';

const API = 'https://api.example.com';
const EVIL = 'https://evil.example';
/** The proxy, as the test servers see it: the test client connects from loopback. */
const PROXY = ['127.0.0.1', '::1'];

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

interface Harness {
  rs: ResourceServer;
  api: Running;
  reasons: unknown[];
  /** A request "from the proxy" with these headers and a fresh proof for `htu`. */
  send(headers: Array<[string, string]>, htu: string): Promise<RawResponse>;
}

async function harness(start: (rs: ResourceServer) => Promise<Running>, trustProxy: TrustProxyOptions): Promise<Harness> {
  const reasons: unknown[] = [];
  const logger = { info: (o: object) => void reasons.push((o as { reason?: unknown }).reason), warn: () => {}, debug: () => {}, error: () => {} };
  const rs = createResourceServer({ issuer: as.url, audience: API, jwksUri: `${as.url}/jwks`, trustProxy, logger });
  const api = await start(rs);
  const key = await newKey();
  const token = await as.mint({ aud: API, cnf: { jkt: key.jkt } });
  return {
    rs, api, reasons,
    async send(headers, htu) {
      const proof = await createProof(key, { htm: 'GET', htu, accessToken: token });
      return raw(api.base, '/resource', 'GET', [['Host', 'backend:8080'], ...headers, ['Authorization', `DPoP ${token}`], ['DPoP', proof]]);
    },
  };
}

const errorOf = (res: RawResponse) => findChallenge(res.headers['www-authenticate'] as string, 'DPoP')?.params.error;

/** What the proxy sets on every request: the real client-facing host and scheme. */
const PROXY_SETS: Array<[string, string]> = [['X-Forwarded-Host', 'api.example.com'], ['X-Forwarded-Proto', 'https']];

describe.each(ADAPTERS)('proxy sets X-Forwarded-*, passes Forwarded through: %s', (_name, start) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(start, { addresses: PROXY, header: 'x-forwarded' });
  });
  afterAll(async () => {
    await h.api.close();
  });

  it('the honest request through the proxy → 200', async () => {
    expect((await h.send(PROXY_SETS, `${API}/resource`)).status).toBe(200);
  });

  it('client sends "Forwarded: host=evil.example;proto=https" with a proof for evil.example → 400 forwarded_conflict', async () => {
    const res = await h.send([['Forwarded', 'host=evil.example;proto=https'], ...PROXY_SETS], `${EVIL}/resource`);
    expect(res.status).toBe(400);
    expect(errorOf(res)).toBe('invalid_request');
    expect(h.reasons.at(-1)).toBe('forwarded_conflict');
  });

  it('… also with a proof for the real API (the request is still ambiguous), quoted or upper-case parameters, several elements', async () => {
    for (const forwarded of ['host=evil.example;proto=https', 'HOST="evil.example"', 'for=1.2.3.4;host="api.example.com";proto=http', 'for=1.2.3.4, host=evil.example', 'proto=http']) {
      const res = await h.send([['Forwarded', forwarded], ...PROXY_SETS], `${API}/resource`);
      expect(res.status, forwarded).toBe(400);
      expect(h.reasons.at(-1), forwarded).toBe('forwarded_conflict');
    }
  });

  it('a Forwarded header that agrees with the proxy (or names only for=) is harmless → 200', async () => {
    for (const forwarded of ['for=1.2.3.4;host=api.example.com;proto=https', 'for="[2001:db8::1]"', 'host="api.example.com:443"']) {
      expect((await h.send([['Forwarded', forwarded], ...PROXY_SETS], `${API}/resource`)).status, forwarded).toBe(200);
    }
  });

  it('X-Forwarded-Host lists and repeats the proxy appended to (client value first or last) → 400 forwarded_conflict', async () => {
    for (const headers of [
      [['X-Forwarded-Host', 'evil.example, api.example.com'], ['X-Forwarded-Proto', 'https']],
      [['X-Forwarded-Host', 'api.example.com, evil.example'], ['X-Forwarded-Proto', 'https']],
      [['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Host', 'api.example.com'], ['X-Forwarded-Proto', 'https']],
      [['X-Forwarded-Host', 'api.example.com'], ['X-Forwarded-Proto', 'http, https']],
    ] as Array<Array<[string, string]>>) {
      for (const htu of [`${EVIL}/resource`, `${API}/resource`]) {
        const res = await h.send(headers, htu);
        expect(res.status, JSON.stringify(headers)).toBe(400);
        expect(h.reasons.at(-1)).toBe('forwarded_conflict');
      }
    }
    // one value repeated is still one value
    expect((await h.send([['X-Forwarded-Host', 'api.example.com, API.example.com:443'], ['X-Forwarded-Proto', 'https']], `${API}/resource`)).status).toBe(200);
  });

  it('even from the trusted proxy, the host must be an allowed origin (a proxy that forwards the client\'s X-Forwarded-Host) → 400 host_not_allowed', async () => {
    const res = await h.send([['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', 'https']], `${EVIL}/resource`);
    expect(res.status).toBe(400);
    expect(h.reasons.at(-1)).toBe('host_not_allowed');
    // and the scheme is part of the origin
    const http = await h.send([['X-Forwarded-Host', 'api.example.com'], ['X-Forwarded-Proto', 'http']], 'http://api.example.com/resource');
    expect(http.status).toBe(400);
    expect(h.reasons.at(-1)).toBe('host_not_allowed');
  });
});

describe.each(ADAPTERS)('proxy sets Forwarded, passes X-Forwarded-* through: %s', (_name, start) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(start, { addresses: PROXY, header: 'forwarded' });
  });
  afterAll(async () => {
    await h.api.close();
  });

  it('the honest request → 200; the X-Forwarded-* family alone is not read', async () => {
    expect((await h.send([['Forwarded', 'for=192.0.2.1;host=api.example.com;proto=https']], `${API}/resource`)).status).toBe(200);
    // without Forwarded, X-Forwarded-Host is a client's word: it conflicts with the Host actually used
    const res = await h.send([['X-Forwarded-Host', 'api.example.com'], ['X-Forwarded-Proto', 'https']], `${API}/resource`);
    expect(res.status).toBe(400);
  });

  it('client sends "X-Forwarded-Host: evil.example" → 400 forwarded_conflict', async () => {
    for (const stray of [['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', 'http']] as Array<[string, string]>) {
      const res = await h.send([stray, ['Forwarded', 'for=192.0.2.1;host=api.example.com;proto=https']], `${EVIL}/resource`);
      expect(res.status, stray[0]).toBe(400);
      expect(h.reasons.at(-1)).toBe('forwarded_conflict');
    }
  });

  it('a client Forwarded element the proxy appended to → 400 forwarded_conflict; an unparseable Forwarded → 400 bad_forwarded', async () => {
    const appended = await h.send([['Forwarded', 'host=evil.example;proto=https, for=192.0.2.1;host=api.example.com;proto=https']], `${EVIL}/resource`);
    expect(appended.status).toBe(400);
    expect(h.reasons.at(-1)).toBe('forwarded_conflict');
    const repeated = await h.send([['Forwarded', 'host=evil.example'], ['Forwarded', 'host=api.example.com;proto=https']], `${API}/resource`);
    expect(repeated.status).toBe(400);
    for (const bad of ['host="api.example.com', 'host=api.example.com;host=evil.example', 'host', '=x']) {
      const res = await h.send([['Forwarded', bad]], `${API}/resource`);
      expect(res.status, bad).toBe(400);
      expect(h.reasons.at(-1), bad).toBe('bad_forwarded');
    }
  });
});

describe('trustProxy configuration', () => {
  it('the header must be named; the proxy\'s addresses must be given', () => {
    const base = { issuer: 'https://as.example.com', audience: API };
    expect(() => createResourceServer({ ...base, trustProxy: { addresses: ['10.0.0.1'] } as unknown as TrustProxyOptions })).toThrow(/x-forwarded.*forwarded/);
    expect(() => createResourceServer({ ...base, trustProxy: { addresses: ['10.0.0.1'], header: 'x-forwarded-host' } as unknown as TrustProxyOptions })).toThrow(TypeError);
    expect(() => createResourceServer({ ...base, trustProxy: { addresses: [], header: 'forwarded' } })).toThrow(TypeError);
  });

  it('a peer that is not the proxy: no forwarded header is read, not even to find a conflict', async () => {
    const h = await harness(startNode, { addresses: ['10.9.9.9'], header: 'x-forwarded' });
    try {
      const res = await h.send([['Forwarded', 'host=evil.example;proto=https'], ['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', 'https']], `${EVIL}/resource`);
      // Host "backend:8080" is used, and it is not one of the API's origins
      expect(res.status).toBe(400);
      expect(h.reasons.at(-1)).toBe('host_not_allowed');
    } finally {
      await h.api.close();
    }
  });
});
