/**
 * `dpopkit request`, run as a user would (the built bin): against a small real resource server
 * that checks proofs with core's verifyProof and demands nonces (RFC 9449 §9), and against
 * node-oidc-provider 9's token endpoint (client credentials, DPoP, nonces required, §5 / §8),
 * whose introspection (RFC 7662) shows the token's cnf.jkt.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
// @ts-expect-error oidc-provider ships no type declarations
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createDPoPClient, keyThumbprint } from '../../src/client/index.js';
import { fileKeyStore } from '../../src/client/key-store/file.js';
import { DPoPError } from '../../src/core/errors.js';
import { formatChallenge } from '../../src/core/challenge.js';
import { createMemoryReplayCache } from '../../src/stores/memory.js';
import { checkProof, controlledNonces, startResourceServer, startServer, type TestServer } from '../client/support/servers.js';
import { serve, type ServerType } from '@hono/node-server';
import { dpopWeb } from '../../src/resource-server/adapters/web.js';
import { createResourceServer } from '../../src/resource-server/index.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { SECRET, startServer as startAuthorizationServer, type Running } from '../authorization-server/support/harness.js';

const run = promisify(execFile);
const BIN = join(process.cwd(), 'dist/cli/main.js');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'request', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The proofs printed by --verbose, decoded claims in order. */
const verboseClaims = (stderr: string): Array<Record<string, unknown>> =>
  [...stderr.matchAll(/^\*   claims: (.+)$/gm)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dpopkit-request-'));
  // `npm test` builds first; build here only when this file runs alone on a fresh checkout.
  if (!existsSync(join(process.cwd(), 'dist/cli/commands/request.js'))) await run('npx', ['tsc', '-p', 'tsconfig.build.json']).catch(() => undefined);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dpopkit request against a resource server that demands nonces (RFC 9449 §7, §9)', () => {
  let rs: Awaited<ReturnType<typeof startResourceServer>>;
  let nonces: ReturnType<typeof controlledNonces>;
  beforeAll(async () => {
    nonces = controlledNonces('cli');
    rs = await startResourceServer({ nonces, token: 'tok-cli' });
  });
  afterAll(async () => { await rs.close(); });

  it('§9: retries once with the nonce; -i prints status and headers; --verbose prints both proofs decoded', async () => {
    const before = rs.seen.length;
    const out = await cli(`${rs.url}/items?page=2`, '--access-token', 'tok-cli', '-i', '--verbose');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^HTTP\/1\.1 200 OK\n/);
    expect(out.stdout).toMatch(/\ncontent-type: application\/json\n/);
    expect(out.stdout).toContain(`dpop-nonce: ${nonces.value}\n`);
    const body = JSON.parse(out.stdout.slice(out.stdout.indexOf('\n\n') + 2)) as { claims: Record<string, unknown> };
    expect(body.claims.htu).toBe(`${rs.url}/items`);
    expect(rs.seen.length - before).toBe(2);
    const proofs = verboseClaims(out.stderr);
    expect(proofs).toHaveLength(2);
    expect(proofs[0]).toMatchObject({ htm: 'GET', htu: `${rs.url}/items` });
    expect(proofs[0]!.nonce).toBeUndefined();
    expect(proofs[1]!.nonce).toBe(nonces.value);
    expect(proofs[1]!.ath).toBeTypeOf('string');
    expect(proofs[0]!.jti).not.toBe(proofs[1]!.jti);
    expect(out.stderr).toMatch(/header: \{"typ":"dpop\+jwt","alg":"ES256","jwk":/);
    // The answer behind the retry is shown: 401, its use_dpop_nonce challenge and the nonce, then 200.
    const answers = [...out.stderr.matchAll(/^\* < HTTP (\d+)[^\n]*\n((?:\*   [^\n]*\n)*)/gm)].map((m) => [m[1], m[2]]);
    expect(answers.map(([status]) => status)).toEqual(['401', '200']);
    expect(out.stderr).toContain(`* < HTTP 401 Unauthorized\n*   WWW-Authenticate: DPoP error="use_dpop_nonce", error_description="the server requires a nonce in the DPoP proof", algs="ES256"\n*   DPoP-Nonce: ${nonces.value}\n`);
    // Proof, answer, proof, answer: in the order they happened.
    expect(out.stderr.indexOf('* < HTTP 401')).toBeLessThan(out.stderr.lastIndexOf('* DPoP proof for'));
  });

  it('-X, -d @file and -H: method, body and headers as given; the proof says PUT', async () => {
    const file = join(dir, 'body.json');
    writeFileSync(file, '{"name":"x"}');
    const out = await cli(`${rs.url}/items/1`, '-X', 'PUT', '-d', `@${file}`, '-H', 'Content-Type: application/json', '-H', 'X-Trace: 42', '--access-token', 'tok-cli');
    expect(out.code).toBe(0);
    const seen = rs.seen.at(-1)!;
    expect(seen.method).toBe('PUT');
    expect(seen.body).toBe('{"name":"x"}');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.headers['x-trace']).toBe('42');
    expect((JSON.parse(out.stdout) as { claims: { htm: string } }).claims.htm).toBe('PUT');
  });

  it('-d without -X is a form POST (as curl)', async () => {
    const out = await cli(`${rs.url}/form`, '-d', 'a=1', '--access-token', 'tok-cli');
    expect(out.code).toBe(0);
    expect(rs.seen.at(-1)!.method).toBe('POST');
    expect(rs.seen.at(-1)!.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('HTTP ≥ 400: exit 22 (curl --fail-with-body), the body and WWW-Authenticate still shown', async () => {
    const out = await cli(`${rs.url}/items`, '--access-token', 'wrong-token', '-i');
    expect(out.code).toBe(22);
    expect(out.stdout).toMatch(/^HTTP\/1\.1 401 Unauthorized\n/);
    expect(out.stdout).toContain('www-authenticate: DPoP error="invalid_token"');
  });

  it('--key FILE: created with mode 0600 when missing, then reused (same thumbprint); a 0644 file is refused', async () => {
    const key = join(dir, 'client-key.json');
    const first = await cli(`${rs.url}/items`, '--access-token', 'tok-cli', '--key', key, '--verbose');
    expect(first.code).toBe(0);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const jkt = await keyThumbprint((await fileKeyStore(key).load())!);
    expect(first.stderr).toContain(`key thumbprint (jkt): ${jkt}`);
    expect(rs.proofs.at(-1)!.jkt).toBe(jkt);
    const second = await cli(`${rs.url}/items`, '--access-token', 'tok-cli', '--key', key);
    expect(second.code).toBe(0);
    expect(rs.proofs.at(-1)!.jkt).toBe(jkt);
    chmodSync(key, 0o644);
    const before = rs.seen.length;
    const refused = await cli(`${rs.url}/items`, '--access-token', 'tok-cli', '--key', key);
    // A key-file problem, reported as one (not as the network's), before any request is sent.
    expect([refused.code, refused.stdout, refused.stderr]).toEqual([2, '', `dpopkit: key file ${key}: mode 0644 lets other users read the private key; run: chmod 600 ${key}\n`]);
    expect(rs.seen.length).toBe(before);
  });

  it('usage errors exit 2; an unreachable server exits 1 with one clear line', async () => {
    const closed = await startServer(() => ({}));
    await closed.close();
    const [badUrl, badHeader, noId, down] = await Promise.all([
      cli('not a url'),
      cli(rs.url, '-H', 'no-colon'),
      cli(rs.url, '--token-endpoint', `${rs.url}/token`),
      cli(`${closed.url}/x`),
    ]);
    expect(badUrl.code).toBe(2);
    expect(badHeader.code).toBe(2);
    expect([noId.code, noId.stderr]).toEqual([2, 'dpopkit: --token-endpoint needs --client-id\n']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^dpopkit: cannot reach http:\/\/127\.0\.0\.1:\d+\/x: ECONNREFUSED\n$/);
  });
});

describe('dpopkit request --print-token: usage', () => {
  it('needs --token-endpoint and --key, and takes no URL (stdout would mix the token and a body); exit 2', async () => {
    const base = ['--client-id', 'svc', '--client-secret', 'x'.repeat(16)];
    const [noEndpoint, noKey, withUrl, noUrl] = await Promise.all([
      cli('--print-token', '--key', join(dir, 'pt.json')),
      cli('--print-token', '--token-endpoint', 'http://127.0.0.1:9/token', ...base),
      cli('http://127.0.0.1:9/x', '--print-token', '--key', join(dir, 'pt.json'), '--token-endpoint', 'http://127.0.0.1:9/token', ...base),
      cli('--access-token', 'x'),
    ]);
    expect([noEndpoint.code, noEndpoint.stderr]).toEqual([2, 'dpopkit: --print-token needs --token-endpoint (it prints the token obtained there)\n']);
    expect([noKey.code, noKey.stderr]).toEqual([2, 'dpopkit: --print-token needs --key FILE: the token is bound to that key, and without it the key dies with this command\n']);
    expect([withUrl.code, withUrl.stderr]).toEqual([2, 'dpopkit: --print-token prints the token and sends no request: leave out the URL (or drop --print-token)\n']);
    expect([noUrl.code, noUrl.stderr]).toEqual([2, 'dpopkit: missing the URL to request (or --print-token to only get a token)\n']);
    expect(existsSync(join(dir, 'pt.json'))).toBe(false);
  });
});

describe('dpopkit request with node-oidc-provider 9 as the token endpoint (RFC 9449 §5, §6, §8)', () => {
  let server: Server;
  let issuer: string;
  let api: TestServer;
  const secret = 'a-long-client-secret-for-tests';

  beforeAll(async () => {
    let handler: Parameters<typeof createServer>[1] = (_req, res) => { res.end(); };
    server = createServer((req, res) => handler!(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'svc', client_secret: secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' }],
      features: {
        // §8: the token endpoint requires a server nonce, so the CLI must retry once.
        dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        devInteractions: { enabled: false },
      },
    });
    handler = provider.callback();
    // A resource server: verifies the proof, introspects the token at the OP (RFC 7662), and
    // demands that the proof's key be the token's cnf.jkt (§6.2, §7.1).
    const replay = createMemoryReplayCache();
    api = await startServer(async (req) => {
      const token = /^DPoP (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token) return { status: 401, headers: { 'www-authenticate': formatChallenge('DPoP', { error: 'invalid_token' }) } };
      const introspected = await (await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      })).json() as { active: boolean; token_type?: string; cnf?: { jkt?: string } };
      try {
        const proof = await checkProof(req, { accessToken: token, replay, ...(introspected.cnf?.jkt ? { jkt: introspected.cnf.jkt } : {}) });
        return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ introspected, proofJkt: proof.jkt }) };
      } catch (err) {
        if (!(err instanceof DPoPError)) throw err;
        return { status: 401, headers: { 'www-authenticate': formatChallenge('DPoP', { error: err.error, error_description: err.message }) } };
      }
    });
  });
  afterAll(async () => {
    await api.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('client credentials at the OP (nonce retry) → token_type DPoP, cnf.jkt = the key file\'s thumbprint; the API call succeeds', async () => {
    const key = join(dir, 'op-key.json');
    const out = await cli(`${api.url}/me`, '--token-endpoint', `${issuer}/token`, '--client-id', 'svc', '--client-secret', secret, '--key', key, '--verbose');
    expect(out.stderr).not.toContain('dpopkit:');
    expect(out.code).toBe(0);
    const jkt = await keyThumbprint((await fileKeyStore(key).load())!);
    const body = JSON.parse(out.stdout) as { introspected: { active: boolean; token_type: string; cnf: { jkt: string } }; proofJkt: string };
    expect(body.introspected.active).toBe(true);
    expect(body.introspected.token_type).toBe('DPoP');
    expect(body.introspected.cnf.jkt).toBe(jkt);
    expect(body.proofJkt).toBe(jkt);
    expect(out.stderr).toContain('* token: token_type=DPoP');
    // Token endpoint: first proof without a nonce, the retry with the OP's nonce; then the API call.
    const proofs = verboseClaims(out.stderr);
    expect(proofs.map((p) => [p.htm, p.htu])).toEqual([['POST', `${issuer}/token`], ['POST', `${issuer}/token`], ['GET', `${api.url}/me`]]);
    expect(proofs[0]!.nonce).toBeUndefined();
    expect(proofs[1]!.nonce).toBeTypeOf('string');
    expect(proofs[2]!.ath).toBeTypeOf('string');
  });

  it('an ephemeral key works the same (no --key)', async () => {
    const out = await cli(`${api.url}/me`, '--token-endpoint', `${issuer}/token`, '--client-id', 'svc', '--client-secret', secret);
    expect(out.code).toBe(0);
    const body = JSON.parse(out.stdout) as { introspected: { cnf: { jkt: string } }; proofJkt: string };
    expect(body.introspected.cnf.jkt).toBe(body.proofJkt);
  });

  it('RFC 6749 §5.2: a wrong client secret → exit 1 with the OP\'s error (invalid_client)', async () => {
    const out = await cli(`${api.url}/me`, '--token-endpoint', `${issuer}/token`, '--client-id', 'svc', '--client-secret', 'wrong');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^dpopkit: invalid_client/);
  });
});

describe("dpopkit request against the project's own authorization server and resource server (nonces on both)", () => {
  let as: Running;
  let closeStorage: () => Promise<void>;
  let api: ServerType;
  let apiUrl: string;

  beforeAll(async () => {
    const storage = createPGliteStorage();
    closeStorage = () => storage.close();
    as = await startAuthorizationServer(storage, { dpop: { nonce: {} } });
    // The API has a port of its own on 127.0.0.1 (its audience is the issuer's URL, another port).
    const check = dpopWeb(createResourceServer({ issuer: as.url, audience: as.url, allowedHosts: ['127.0.0.1'], bearer: 'reject', dpop: { nonce: { secret: 'n'.repeat(32) } } }));
    api = await new Promise((resolve) => {
      const s = serve({
        fetch: async (request) => {
          const auth = await check(request);
          if (!auth.ok) return auth.response;
          return Response.json({ subject: auth.principal.subject, jkt: auth.principal.jkt ?? null }, { headers: auth.headers });
        },
        port: 0,
        hostname: '127.0.0.1',
      }, () => resolve(s));
    });
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise<void>((resolve) => api?.close(() => resolve()));
    await as?.close();
    await closeStorage?.();
  });

  it('RFC 9449 §5, §8, §9: token by client credentials (AS nonce retry), API call (RS nonce retry): 4 proofs, exit 0', async () => {
    const key = join(dir, 'project-key.json');
    const out = await cli(`${apiUrl}/hello`, '--token-endpoint', `${as.url}/token`, '--client-id', 'confidential', '--client-secret', SECRET, '--scope', 'read', '--key', key, '--verbose', '-i');
    expect(out.stderr).not.toContain('dpopkit:');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^HTTP\/1\.1 200 OK\n/);
    const jkt = await keyThumbprint((await fileKeyStore(key).load())!);
    const body = JSON.parse(out.stdout.slice(out.stdout.indexOf('\n\n') + 2)) as { subject: string; jkt: string | null };
    expect(body.subject).toBe('confidential');
    const proofs = verboseClaims(out.stderr);
    expect(proofs.map((p) => [p.htm, p.htu, p.nonce === undefined ? 'no nonce' : 'nonce'])).toEqual([
      ['POST', `${as.url}/token`, 'no nonce'], ['POST', `${as.url}/token`, 'nonce'],
      ['GET', `${apiUrl}/hello`, 'no nonce'], ['GET', `${apiUrl}/hello`, 'nonce'],
    ]);
    expect(out.stderr).toMatch(/\* token: token_type=DPoP expires_in=\d+ scope=read/);
    expect(out.stderr).toContain(`key thumbprint (jkt): ${jkt}`);
    expect(body.jkt).toBe(jkt);
  });

  it('--print-token: stdout is the access token alone (bound to --key\'s key); the token then works with that key', async () => {
    const key = join(dir, 'print-token-key.json');
    const out = await cli('--print-token', '--token-endpoint', `${as.url}/token`, '--client-id', 'confidential', '--client-secret', SECRET, '--scope', 'read', '--key', key);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = out.stdout.trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { cnf: { jkt: string } };
    expect(claims.cnf.jkt).toBe(await keyThumbprint((await fileKeyStore(key).load())!));
    const call = await cli(`${apiUrl}/hello`, '--access-token', token, '--key', key);
    expect(call.code).toBe(0);
    expect(JSON.parse(call.stdout)).toMatchObject({ subject: 'confidential', jkt: claims.cnf.jkt });
    // With --verbose the story goes to stderr; stdout still holds the token alone.
    const verbose = await cli('--print-token', '--token-endpoint', `${as.url}/token`, '--client-id', 'confidential', '--client-secret', SECRET, '--key', key, '--verbose');
    expect(verbose.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(verbose.stderr).toContain('* < HTTP 400 Bad Request\n');
    expect(verbose.stderr).toMatch(/^\*   error: use_dpop_nonce/m);
    expect(verbose.stderr).toContain('* token: token_type=DPoP');
  });

  it('RFC 9449 §7.1: a stolen DPoP token presented with another key (the CLI\'s own) is refused: exit 22, DPoP invalid_token', async () => {
    const owner = createDPoPClient();
    const token = await clientCredentials(owner, { tokenEndpoint: `${as.url}/token` }, { clientId: 'confidential', clientSecret: SECRET, scope: 'read' });
    expect((await owner.fetch(`${apiUrl}/hello`, { accessToken: token.access_token })).status).toBe(200);
    const stolen = await cli(`${apiUrl}/hello`, '--access-token', token.access_token, '-i');
    expect(stolen.code).toBe(22);
    expect(stolen.stdout).toMatch(/^HTTP\/1\.1 401 /);
    expect(stolen.stdout).toMatch(/www-authenticate: DPoP [^\n]*error="invalid_token"/);
  });
});
