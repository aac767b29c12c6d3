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
    expect(config.authorizationServer.clients[1]!.dpopBoundAccessTokens).toBe(false);
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

  it('refuses a client secret method without a secret, and a public client_credentials client', () => {
    const problems = problemsOf(withChange((c) => {
      delete c.authorizationServer.clients[1].clientSecret;
      c.authorizationServer.clients[0].grantTypes.push('client_credentials');
    }));
    expect(problems).toContain('authorizationServer.clients.1.clientSecret: give exactly one of clientSecret and clientSecretHash for client_secret_basic');
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
    expect(config.api?.nonceSecret).toBe('n'.repeat(32));
    await expect(loadConfig(file, { DPOPKIT_NONCE_SECRET: 'short' })).rejects.toThrow(/authorizationServer\.dpop\.nonceSecret: must be at least 32 characters/);
    await expect(loadConfig(file, { DPOPKIT_DATA_DIR: '/tmp/x' })).resolves.toMatchObject({ authorizationServer: { storage: { type: 'pglite', dataDir: '/tmp/x' } } });
  });

  it('a missing file or broken JSON is one clear error', async () => {
    await expect(loadConfig(join(dir, 'nope.json'), {})).rejects.toThrow(/cannot read the file/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "authorizationServer": ');
    await expect(loadConfig(broken, {})).rejects.toThrow(/not valid JSON/);
  });
});
