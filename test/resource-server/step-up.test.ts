/**
 * RFC 9470 step-up at the resource server: a route's `authentication: { acr, maxAge }` refuses a
 * token whose `acr` it does not accept or whose `auth_time` is too old with 401
 * `insufficient_user_authentication`, naming `acr_values` / `max_age` in the challenge of the
 * scheme used; per route, through every adapter (node:http, Express, Fastify, Hono, Web).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChallenge, parseChallenges } from '../../src/index.js';
import { dpopExpress } from '../../src/resource-server/adapters/express.js';
import { dpopPreHandler } from '../../src/resource-server/adapters/fastify.js';
import { dpopHono } from '../../src/resource-server/adapters/hono.js';
import { dpopNode } from '../../src/resource-server/adapters/node.js';
import { dpopWeb } from '../../src/resource-server/adapters/web.js';
import { checkAuthentication, type AuthenticationRequirement, type Principal, type ResourceServer, type VerifyOptions } from '../../src/resource-server/index.js';
import { startAuthServer, type AuthServer } from './support/auth-server.js';
import { call, newKey, type Running } from './support/http.js';
import { testRs } from './support/rs.js';

const PWD = 'urn:dpopkit:acr:pwd';
const MFA = 'urn:dpopkit:acr:mfa';
const now = () => Math.floor(Date.now() / 1000);

/** The routes every adapter serves: what each asks of the sign-in. */
const ROUTES: Record<string, VerifyOptions> = {
  '/any': {},
  '/mfa': { authentication: { acr: MFA } },
  '/recent': { authentication: { maxAge: 60 } },
  '/both': { authentication: { acr: [MFA, PWD], maxAge: 300 }, scopes: ['read'] },
};

function principal(claims: Record<string, unknown>): Principal {
  return { subject: 'alice', clientId: 'app', scopes: [], claims, scheme: 'DPoP' };
}

describe('checkAuthentication (RFC 9470 §3, §4)', () => {
  const t = 1_700_000_000;
  const refused = (claims: Record<string, unknown>, need: AuthenticationRequirement) => {
    try {
      checkAuthentication(principal(claims), need, t);
      return undefined;
    } catch (err) {
      return err as { error: string; reason: string; status: number; acrValues?: string; maxAge?: number };
    }
  };

  it('acr must be one of the listed values (not "at least"); all listed values go in acr_values, in order', () => {
    expect(refused({ acr: MFA }, { acr: MFA })).toBeUndefined();
    expect(refused({ acr: PWD }, { acr: [MFA, PWD] })).toBeUndefined();
    expect(refused({ acr: MFA }, { acr: PWD })).toMatchObject({ error: 'insufficient_user_authentication', reason: 'acr_not_satisfied', status: 401, acrValues: PWD });
    expect(refused({}, { acr: [MFA, PWD] })).toMatchObject({ reason: 'acr_not_satisfied', acrValues: `${MFA} ${PWD}` });
  });

  it('max_age: auth_time at most maxAge seconds old; a token without auth_time cannot show it', () => {
    expect(refused({ auth_time: t - 60 }, { maxAge: 60 })).toBeUndefined();
    expect(refused({ auth_time: t - 61 }, { maxAge: 60 })).toMatchObject({ reason: 'auth_time_too_old', maxAge: 60, acrValues: undefined });
    expect(refused({}, { maxAge: 60 })).toMatchObject({ reason: 'auth_time_too_old' });
    expect(refused({ auth_time: t }, { maxAge: 0 })).toBeUndefined();
    // Both asked, the acr fails first; the challenge names both.
    expect(refused({ acr: PWD, auth_time: t - 1000 }, { acr: MFA, maxAge: 60 })).toMatchObject({ reason: 'acr_not_satisfied', acrValues: MFA, maxAge: 60 });
  });

  it('nothing asked → nothing checked; a malformed requirement is a TypeError', () => {
    expect(refused({}, {})).toBeUndefined();
    expect(() => checkAuthentication(principal({}), { maxAge: -1 }, t)).toThrow(TypeError);
    expect(() => checkAuthentication(principal({}), { maxAge: 1.5 }, t)).toThrow(TypeError);
    expect(() => checkAuthentication(principal({}), { acr: 'two words' }, t)).toThrow(TypeError);
    expect(() => checkAuthentication(principal({}), { acr: [''] }, t)).toThrow(TypeError);
  });
});

type Start = (rs: ResourceServer) => Promise<Running>;

async function listen(server: Server): Promise<Running> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const reply = (p: Principal | undefined) => JSON.stringify({ acr: p?.claims.acr ?? null });

const ADAPTERS: Array<[string, Start]> = [
  ['node:http', async (rs) => {
    const guards = Object.fromEntries(Object.entries(ROUTES).map(([path, o]) => [path, dpopNode(rs, o)]));
    return listen(createServer((req, res) => void guards[req.url!]!(req, res, () => res.end(reply(req.dpop)))));
  }],
  ['Express', async (rs) => {
    const app = express();
    for (const [path, o] of Object.entries(ROUTES)) app.get(path, dpopExpress(rs, o), (req, res) => void res.type('json').send(reply(req.dpop)));
    return listen(createServer(app));
  }],
  ['Fastify', async (rs) => {
    const app = Fastify();
    app.decorateRequest('dpop', null);
    for (const [path, o] of Object.entries(ROUTES)) app.get(path, { preHandler: dpopPreHandler(rs, o) }, async (request) => JSON.parse(reply(request.dpop ?? undefined)));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return listen(app.server);
  }],
  ['Hono', async (rs) => {
    const app = new Hono<{ Variables: { dpop: Principal } }>();
    for (const [path, o] of Object.entries(ROUTES)) app.get(path, dpopHono(rs, o), (c) => c.body(reply(c.get('dpop'))));
    return listen(await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
    }));
  }],
  ['Web', async (rs) => {
    const checks = Object.fromEntries(Object.entries(ROUTES).map(([path, o]) => [path, dpopWeb(rs, o)]));
    const fetch = async (request: Request) => {
      const auth = await checks[new URL(request.url).pathname]!(request);
      return auth.ok ? auth.decorate(new Response(reply(auth.principal))) : auth.response;
    };
    return listen(await new Promise<Server>((resolve) => {
      const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
    }));
  }],
];

describe('per route, through every adapter', () => {
  let as: AuthServer;
  let rs: ResourceServer;
  beforeAll(async () => {
    as = await startAuthServer();
    rs = testRs(as, { bearer: 'allow' }).rs;
  });
  afterAll(async () => {
    await as.close();
  });

  describe.each(ADAPTERS)('%s', (_name, start) => {
    let api: Running;
    beforeAll(async () => {
      api = await start(rs);
    });
    afterAll(async () => {
      await api.close();
    });

    async function bound(claims: Record<string, unknown>) {
      const key = await newKey();
      return { key, token: await as.mint({ cnf: { jkt: key.jkt }, ...claims }) };
    }

    it('a password sign-in passes /any, is refused at /mfa with acr_values in the DPoP challenge only, passes /both (which lists pwd too)', async () => {
      const { key, token } = await bound({ acr: PWD, auth_time: now() - 10 });
      expect((await call(api.base, '/any', token, { key })).status).toBe(200);
      const res = await call(api.base, '/mfa', token, { key });
      expect(res.status).toBe(401);
      const header = String(res.headers['www-authenticate']);
      expect(findChallenge(header, 'DPoP')!.params).toMatchObject({ error: 'insufficient_user_authentication', acr_values: MFA });
      expect(findChallenge(header, 'DPoP')!.params.max_age).toBeUndefined();
      // RFC 9449 §7.2: the error goes in the challenge of the scheme used only.
      expect(findChallenge(header, 'Bearer')!.params.error).toBeUndefined();
      expect(res.json()).toMatchObject({ error: 'insufficient_user_authentication' });
      const both = await call(api.base, '/both', token, { key });
      expect(both.status).toBe(200);
      expect(both.json()).toEqual({ acr: PWD });
    });

    it('a sign-in older than max_age → 401 with max_age="60"; a recent one passes', async () => {
      const old = await bound({ acr: MFA, auth_time: now() - 600 });
      const res = await call(api.base, '/recent', old.token, { key: old.key });
      expect(res.status).toBe(401);
      expect(findChallenge(String(res.headers['www-authenticate']), 'DPoP')!.params).toMatchObject({ error: 'insufficient_user_authentication', max_age: '60' });
      const fresh = await bound({ acr: MFA, auth_time: now() - 5 });
      expect((await call(api.base, '/recent', fresh.token, { key: fresh.key })).status).toBe(200);
      expect((await call(api.base, '/mfa', fresh.token, { key: fresh.key })).status).toBe(200);
    });

    it('/both: too old → acr_values and max_age both in the challenge; a fresh token without the scope → 403 insufficient_scope', async () => {
      const old = await bound({ acr: MFA, auth_time: now() - 1000 });
      const res = await call(api.base, '/both', old.token, { key: old.key });
      expect(res.status).toBe(401);
      expect(findChallenge(String(res.headers['www-authenticate']), 'DPoP')!.params).toMatchObject({ acr_values: `${MFA} ${PWD}`, max_age: '300' });
      const noScope = await bound({ acr: MFA, auth_time: now(), scope: 'write' });
      expect((await call(api.base, '/both', noScope.token, { key: noScope.key })).status).toBe(403);
    });

    it('a Bearer token: the step-up error goes in the Bearer challenge', async () => {
      const token = await as.mint({ acr: PWD, auth_time: now() });
      const res = await call(api.base, '/mfa', token, { scheme: 'Bearer' });
      expect(res.status).toBe(401);
      const challenges = parseChallenges(String(res.headers['www-authenticate']));
      expect(challenges.find((c) => c.scheme === 'Bearer')!.params).toMatchObject({ error: 'insufficient_user_authentication', acr_values: MFA });
      expect(challenges.find((c) => c.scheme === 'DPoP')!.params.error).toBeUndefined();
    });
  });

  it('a malformed requirement is refused when the route is set up (TypeError), by every adapter', () => {
    const bad = { authentication: { maxAge: -5 } };
    expect(() => dpopNode(rs, bad)).toThrow(TypeError);
    expect(() => dpopExpress(rs, bad)).toThrow(TypeError);
    expect(() => dpopPreHandler(rs, bad)).toThrow(TypeError);
    expect(() => dpopHono(rs, bad)).toThrow(TypeError);
    expect(() => dpopWeb(rs, { authentication: { acr: 'has space' } })).toThrow(TypeError);
  });
});
