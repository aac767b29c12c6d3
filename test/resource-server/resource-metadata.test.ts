/**
 * RFC 9728 protected resource metadata: the document (each member), its path-aware well-known
 * URL served through every adapter without a token, `resource_metadata` in every challenge, and
 * the resource identifier as the audience a token must carry (RFC 8707 §2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChallenge } from '../../src/index.js';
import { createResourceServer, resourceMetadataUrl, type ResourceServer } from '../../src/resource-server/index.js';
import { ADAPTERS } from './support/adapters.js';
import { startAuthServer, type AuthServer } from './support/auth-server.js';
import { call, newKey, raw, startNodeApi, type Running } from './support/http.js';
import { TEST_HOSTS, testRs } from './support/rs.js';

const RESOURCE = 'https://api.example.com/v1';
const WELL_KNOWN = '/.well-known/oauth-protected-resource/v1';

let as: AuthServer;
beforeAll(async () => {
  as = await startAuthServer();
});
afterAll(async () => {
  await as.close();
});

describe('RFC 9728 §3.1: the well-known URL is derived from the resource identifier', () => {
  it.each([
    ['https://api.example.com', 'https://api.example.com/.well-known/oauth-protected-resource'],
    ['https://api.example.com/', 'https://api.example.com/.well-known/oauth-protected-resource'],
    ['https://api.example.com/v1', 'https://api.example.com/.well-known/oauth-protected-resource/v1'],
    ['https://api.example.com/v1/', 'https://api.example.com/.well-known/oauth-protected-resource/v1/'],
    ['https://api.example.com:8443/a/b?tenant=1', 'https://api.example.com:8443/.well-known/oauth-protected-resource/a/b?tenant=1'],
    ['http://localhost:4001', 'http://localhost:4001/.well-known/oauth-protected-resource'],
  ])('%s → %s', (resource, url) => {
    expect(resourceMetadataUrl(resource)).toBe(url);
  });
});

describe('RFC 9728 §2: the document', () => {
  const make = (options: Parameters<typeof createResourceServer>[0]) => createResourceServer({ allowedHosts: TEST_HOSTS, ...options });

  it('resource, authorization_servers, bearer_methods_supported, dpop_signing_alg_values_supported (the proof algorithms), dpop_bound_access_tokens_required', () => {
    const rs = make({ issuer: 'https://as.example', audience: RESOURCE, dpop: { algs: ['ES256', 'EdDSA'] }, bearer: 'reject' });
    expect(rs.resourceMetadata!.url).toBe(`https://api.example.com${WELL_KNOWN}`);
    expect(rs.resourceMetadata!.document).toEqual({
      resource: RESOURCE,
      authorization_servers: ['https://as.example'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
      dpop_bound_access_tokens_required: true,
    });
  });

  it('dpop_bound_access_tokens_required is false when bearer tokens are allowed', () => {
    const rs = make({ issuer: 'https://as.example', audience: RESOURCE, bearer: 'allow' });
    expect(rs.resourceMetadata!.document.dpop_bound_access_tokens_required).toBe(false);
    expect(rs.resourceMetadata!.document.dpop_signing_alg_values_supported).toContain('ES256');
  });

  it('scopes_supported, resource_name, resource_documentation, resource_policy_uri, resource_tos_uri, other authorization servers', () => {
    const rs = make({
      issuer: 'https://as.example', audience: RESOURCE,
      metadata: {
        scopesSupported: ['notes:read', 'notes:write'], resourceName: 'Notes API', resourceDocumentation: 'https://docs.example.com/notes',
        resourcePolicyUri: 'https://example.com/policy', resourceTosUri: 'https://example.com/tos', authorizationServers: ['https://as.example', 'https://as2.example'],
      },
    });
    expect(rs.resourceMetadata!.document).toMatchObject({
      scopes_supported: ['notes:read', 'notes:write'],
      resource_name: 'Notes API',
      resource_documentation: 'https://docs.example.com/notes',
      resource_policy_uri: 'https://example.com/policy',
      resource_tos_uri: 'https://example.com/tos',
      authorization_servers: ['https://as.example', 'https://as2.example'],
    });
  });

  it('the resource identifier is one of the audiences: explicit resource chosen among several; one outside them is a configuration error', () => {
    const rs = make({ issuer: 'https://as.example', audience: ['urn:legacy', 'https://api.example.com', RESOURCE], metadata: { resource: RESOURCE } });
    expect(rs.resourceMetadata!.resource).toBe(RESOURCE);
    expect(make({ issuer: 'https://as.example', audience: ['urn:legacy', RESOURCE] }).resourceMetadata!.resource).toBe(RESOURCE);
    expect(() => make({ issuer: 'https://as.example', audience: RESOURCE, metadata: { resource: 'https://other.example.com' } })).toThrow(/one of the audience/);
    expect(() => make({ issuer: 'https://as.example', audience: RESOURCE, metadata: { resourceDocumentation: 'not a url' } })).toThrow(TypeError);
  });

  it('no http(s) audience, or metadata: false → no document and no resource_metadata', async () => {
    expect(make({ issuer: 'https://as.example', audience: 'urn:api' }).resourceMetadata).toBeUndefined();
    const off = make({ issuer: 'https://as.example', audience: RESOURCE, metadata: false });
    expect(off.resourceMetadata).toBeUndefined();
    expect(off.answerMetadata({ method: 'GET', url: WELL_KNOWN })).toBeUndefined();
    const refused = await off.verify({ method: 'GET', url: '/v1/notes', headers: { host: 'api.example.com' }, protocol: 'https' });
    expect(refused.ok).toBe(false);
    expect(findChallenge(refused.ok ? '' : refused.headers['WWW-Authenticate'], 'DPoP')!.params.resource_metadata).toBeUndefined();
  });

  it('answerMetadata: only the well-known path; GET and HEAD 200, OPTIONS 204, POST 405', () => {
    const rs = make({ issuer: 'https://as.example', audience: RESOURCE });
    expect(rs.answerMetadata({ method: 'GET', url: '/v1/notes' })).toBeUndefined();
    expect(rs.answerMetadata({ method: 'GET', url: '/.well-known/oauth-protected-resource' })).toBeUndefined();
    const get = rs.answerMetadata({ method: 'GET', url: `${WELL_KNOWN}?x=1` })!;
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body).resource).toBe(RESOURCE);
    expect(get.headers['Cache-Control']).toBe('public, max-age=300');
    expect(rs.answerMetadata({ method: 'GET', url: `https://api.example.com${WELL_KNOWN}` })!.status).toBe(200);
    expect(rs.answerMetadata({ method: 'HEAD', url: WELL_KNOWN })!).toMatchObject({ status: 200, body: '' });
    expect(rs.answerMetadata({ method: 'OPTIONS', url: WELL_KNOWN })!.status).toBe(204);
    expect(rs.answerMetadata({ method: 'POST', url: WELL_KNOWN })!).toMatchObject({ status: 405, headers: { Allow: 'GET, HEAD, OPTIONS' } });
  });
});

describe.each(ADAPTERS)('RFC 9728 through the %s adapter', (_name, start) => {
  let api: Running;
  let rs: ResourceServer;
  beforeAll(async () => {
    rs = testRs(as, { audience: RESOURCE, bearer: 'allow', jwksUri: `${as.url}/jwks`, metadata: { scopesSupported: ['read'], resourceName: 'Test API' } }).rs;
    api = await start(rs);
  });
  afterAll(async () => {
    await api.close();
  });

  it('§3: GET of the well-known URL answers the document without any token, readable from any origin', async () => {
    const res = await raw(api.base, WELL_KNOWN, 'GET', []);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.json()).toMatchObject({ resource: RESOURCE, authorization_servers: [as.url], scopes_supported: ['read'], resource_name: 'Test API', dpop_bound_access_tokens_required: false });
  });

  it('§5.1: a 401 carries resource_metadata in the DPoP and the Bearer challenge', async () => {
    const res = await raw(api.base, '/resource', 'GET', []);
    expect(res.status).toBe(401);
    const header = res.headers['www-authenticate'] as string;
    expect(findChallenge(header, 'DPoP')!.params.resource_metadata).toBe(`https://api.example.com${WELL_KNOWN}`);
    expect(findChallenge(header, 'Bearer')!.params.resource_metadata).toBe(`https://api.example.com${WELL_KNOWN}`);
  });

  it('§5.1: an invalid_token challenge carries it too; another method on the document is 405', async () => {
    const key = await newKey();
    const token = await as.mint({ aud: RESOURCE, cnf: { jkt: key.jkt } });
    const res = await call(api.base, '/resource', token, { key: null });
    expect(res.status).toBe(401);
    const dpop = findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!;
    expect(dpop.params.error).toBe('invalid_dpop_proof');
    expect(dpop.params.resource_metadata).toBe(`https://api.example.com${WELL_KNOWN}`);
    expect((await raw(api.base, WELL_KNOWN, 'POST', [])).status).toBe(405);
  });
});

describe('the resource identifier is the audience (RFC 8707 §2, RFC 9068 §4)', () => {
  let api: Running;
  let rs: ResourceServer;
  beforeAll(async () => {
    rs = testRs(as, { audience: RESOURCE, bearer: 'reject', jwksUri: `${as.url}/jwks` }).rs;
    api = await startNodeApi(rs);
  });
  afterAll(async () => {
    await api.close();
  });

  it('a token for this resource is accepted, alone or among other audiences', async () => {
    const key = await newKey();
    for (const aud of [RESOURCE, ['https://other.example.com', RESOURCE]]) {
      const token = await as.mint({ aud, cnf: { jkt: key.jkt } });
      expect((await call(api.base, '/v1/notes', token, { key })).status).toBe(200);
    }
  });

  it('a token minted for another API behind the same authorization server, or for the issuer, or for this origin without the path, is refused (token_bad_audience)', async () => {
    const key = await newKey();
    for (const aud of ['https://other.example.com', as.url, 'https://api.example.com', `${RESOURCE}/`, ['https://other.example.com']]) {
      const token = await as.mint({ aud, cnf: { jkt: key.jkt } });
      const res = await call(api.base, '/v1/notes', token, { key });
      expect(res.status, JSON.stringify(aud)).toBe(401);
      expect(findChallenge(res.headers['www-authenticate'] as string, 'DPoP')!.params.error).toBe('invalid_token');
    }
    expect(rs.metrics().rejected.token_bad_audience).toBe(5);
  });
});
