import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/cli/config/load.js';

const example = JSON.parse(readFileSync('examples/demo.config.json', 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'dpopkit-config-'));

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

function withChange(change: (config: any) => void): unknown {
  const config = structuredClone(example);
  change(config);
  return config;
}

describe('dpopkit serve configuration', () => {
  it('the shipped demo configuration is valid and gets its defaults', () => {
    const config = parseConfig(example);
    expect(config.authorizationServer.issuer).toBe('http://localhost:4000');
    expect(config.api?.bearer).toBe('reject');
    expect(config.log.level).toBe('info');
    expect(config.authorizationServer.clients.find((c) => c.clientId === 'demo-service')!.dpopBoundAccessTokens).toBe(false);
  });

  it('names the bad key: a misspelt key, a bad URL, a wrong type', () => {
    const problems = problemsOf(withChange((c) => {
      c.authorizationServer.isuer = 'x';
      c.api.url = 'localhost:4001';
      c.authorizationServer.tokens.accessTokenTtl = '300';
    }));
    expect(problems).toContain('authorizationServer: unknown key(s) "isuer"');
    expect(problems.some((p) => p.startsWith('api.url: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('authorizationServer.tokens.accessTokenTtl: '))).toBe(true);
  });

  it('a bad URL names its key and says what is wrong (never a bare "Invalid URL")', () => {
    const problems = problemsOf(withChange((c) => {
      c.authorizationServer.issuer = 'not a url';
      c.api.url = '/api';
      c.api.corsOrigins = ['http://localhost:4002/?x=1'];
      c.demo.redirectUri = 'callback';
      c.authorizationServer.clients[0].redirectUris = ['http://localhost:4002/callback#frag'];
    }));
    expect(problems).toEqual([
      'authorizationServer.issuer: must be an absolute http:// or https:// URL (like http://localhost:4000), got "not a url"',
      'authorizationServer.clients.0.redirectUris.0: must be an absolute URI without a fragment (like http://localhost:4002/callback), got "http://localhost:4002/callback#frag"',
      'api.url: must be an absolute http:// or https:// URL (like http://localhost:4000), got "/api"',
      'api.corsOrigins.0: must not have a query or fragment, got "http://localhost:4002/?x=1"',
      'demo.redirectUri: must be an absolute http:// or https:// URL (like http://localhost:4000), got "callback"',
    ]);
  });

  it('a missing key or a value of the wrong type says what is expected', () => {
    const problems = problemsOf(withChange((c) => {
      delete c.authorizationServer.issuer;
      c.authorizationServer.clients = {};
      c.authorizationServer.tokens.audience = [];
    }));
    expect(problems).toEqual([
      'authorizationServer.issuer: required (a string)',
      'authorizationServer.tokens.audience: must not be empty',
      'authorizationServer.clients: must be a list, got an object',
    ]);
  });

  it('refuses a client secret method without a secret, and a public client_credentials client', () => {
    const service = (example.authorizationServer.clients as Array<{ clientId: string }>).findIndex((c) => c.clientId === 'demo-service');
    const problems = problemsOf(withChange((c) => {
      delete c.authorizationServer.clients[service].clientSecret;
      c.authorizationServer.clients[0].grantTypes.push('client_credentials');
    }));
    expect(problems).toContain(`authorizationServer.clients.${service}.clientSecret: give exactly one of clientSecret and clientSecretHash for client_secret_basic`);
    expect(problems).toContain('authorizationServer.clients.0.grantTypes: client_credentials needs an authenticated client');
  });

  it('refuses the demo pointing at a redirect URI its client does not have, and two servers on one port', () => {
    const problems = problemsOf(withChange((c) => {
      c.demo.redirectUri = 'http://localhost:4002/elsewhere';
      c.api.url = 'http://localhost:4000';
    }));
    expect(problems).toContain('demo.redirectUri: not a redirect URI of client "demo-spa"');
    expect(problems).toContain('api.url: port 4000 is already used by authorizationServer.issuer');
  });

  it('refuses a user with both or neither of password and passwordHash', () => {
    const problems = problemsOf(withChange((c) => { c.authorizationServer.users = [{ username: 'bob' }]; }));
    expect(problems).toContain('authorizationServer.users.0.passwordHash: give exactly one of passwordHash and password');
  });

  it('environment variables override the file and are validated too', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(example));
    const config = await loadConfig(file, { DATABASE_URL: 'postgres://root@127.0.0.1:5432/test', REDIS_URL: 'redis://127.0.0.1:6379', DPOPKIT_NONCE_SECRET: 'n'.repeat(32) });
    expect(config.authorizationServer.storage).toEqual({ type: 'postgres', url: 'postgres://root@127.0.0.1:5432/test' });
    expect(config.authorizationServer.replayCache).toEqual({ type: 'redis', url: 'redis://127.0.0.1:6379' });
    // The secret of every server whose nonces are on; it turns none on.
    expect(config.api?.dpop.nonce).toEqual({ secret: 'n'.repeat(32) });
    expect(config.authorizationServer.dpop.nonce).toBe(false);
    await expect(loadConfig(file, { DATABASE_URL: 'postgres://x', DPOPKIT_DATA_DIR: '/tmp/x' })).resolves.toMatchObject({ authorizationServer: { storage: { type: 'postgres' } } });
    await expect(loadConfig(file, { DPOPKIT_DATA_DIR: '/tmp/x' })).resolves.toMatchObject({ authorizationServer: { storage: { type: 'pglite', dataDir: '/tmp/x' } } });
  });

  it('a short nonce secret says what to set: DPOPKIT_NONCE_SECRET, at least 32 bytes (named by the variable when it came from there)', async () => {
    const file = join(dir, 'config-nonce.json');
    writeFileSync(file, JSON.stringify(example));
    const fromEnv = await loadConfig(file, { DPOPKIT_NONCE_SECRET: 'short', DPOPKIT_LOG_LEVEL: 'loud' }).then(() => undefined, (error: ConfigError) => error.problems);
    expect(fromEnv).toEqual([
      'DPOPKIT_NONCE_SECRET: too short (5 bytes): the HMAC secret for stateless nonces must be at least 32 bytes; set DPOPKIT_NONCE_SECRET to at least 32 bytes of random text, e.g. the output of `openssl rand -base64 32`',
      'DPOPKIT_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
    const fromFile = problemsOf(withChange((c) => { c.api.dpop.nonce = { secret: 'é'.repeat(10) }; }));
    expect(fromFile).toEqual(['api.dpop.nonce.secret: too short (20 bytes): the HMAC secret for stateless nonces must be at least 32 bytes; set DPOPKIT_NONCE_SECRET (or this key) to at least 32 bytes of random text, e.g. the output of `openssl rand -base64 32`']);
    expect(parseConfig(withChange((c) => { c.api.dpop.nonce = { secret: 'é'.repeat(16) }; })).api?.dpop.nonce).toEqual({ secret: 'é'.repeat(16) }); // 32 bytes
  });

  it('dpop has the same shape on both servers (algs, nonce: false | { secret?, stepSeconds? }, maxAge, maxFuture); the old keys say where they went', () => {
    const both = parseConfig(withChange((c) => {
      c.authorizationServer.dpop = { algs: ['ES256'], nonce: { stepSeconds: 30 }, maxAge: 120, maxFuture: 2, replayQuota: { perKey: 10 } };
      c.api.dpop = { algs: ['EdDSA'], nonce: false, maxAge: 60, maxFuture: 0 };
    }));
    expect(both.authorizationServer.dpop).toEqual({ algs: ['ES256'], nonce: { stepSeconds: 30 }, maxAge: 120, maxFuture: 2, replayQuota: { perKey: 10 } });
    expect(both.api?.dpop).toEqual({ algs: ['EdDSA'], nonce: false, maxAge: 60, maxFuture: 0 });
    // Nonces off unless asked for, on both sides.
    expect(parseConfig(withChange((c) => { delete c.authorizationServer.dpop; delete c.api.dpop; })).api?.dpop.nonce).toBe(false);

    expect(problemsOf(withChange((c) => { c.authorizationServer.dpop.nonce = 'required'; }))).toEqual([
      'authorizationServer.dpop.nonce: must be false (no nonces) or an object { "secret"?: string, "stepSeconds"?: number } (nonces on; {} for the defaults), got "required" — to turn nonces on, write {} (or { "secret": … })',
    ]);
    expect(problemsOf(withChange((c) => { c.api.dpop.nonce = { secret: 'n'.repeat(32), step: 60 }; }))).toEqual(['api.dpop.nonce: unknown key(s) "step"']);
    expect(problemsOf(withChange((c) => { c.authorizationServer.dpop.nonceSecret = 'n'.repeat(32); }))).toEqual([
      'authorizationServer.dpop: unknown key(s) "nonceSecret" ("nonceSecret" is now authorizationServer.dpop.nonce.secret)',
    ]);
    expect(problemsOf(withChange((c) => { delete c.api.dpop; c.api.nonce = true; c.api.algs = ['ES256']; }))).toEqual([
      'api: unknown key(s) "nonce", "algs" ("nonce" is now api.dpop.nonce; "algs" is now api.dpop.algs)',
    ]);
  });

  it('a missing file or broken JSON is one clear error', async () => {
    await expect(loadConfig(join(dir, 'nope.json'), {})).rejects.toThrow(/cannot read the file/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "authorizationServer": ');
    await expect(loadConfig(broken, {})).rejects.toThrow(/not valid JSON/);
  });
});
