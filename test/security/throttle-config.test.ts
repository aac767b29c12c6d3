/**
 * Throttling settings: safe defaults, every key checked (the server's options and the
 * `dpopkit serve` configuration), and the switch that turns counting off.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createAuthorizationServer, THROTTLE_DEFAULTS } from '../../src/authorization-server/index.js';
import { ConfigError, parseConfig } from '../../src/cli/config/load.js';
import { createPGliteStorage } from '../../src/stores/postgres.js';
import { defaultClients, startServer } from '../authorization-server/support/harness.js';
import { openSignIn, statuses } from './throttle-support.js';

/** Each test starts servers on a storage of its own and runs scrypt: minutes on a loaded machine, seconds otherwise. */
const SLOW = 120_000;

const example = JSON.parse(readFileSync('examples/demo.config.json', 'utf8'));

function problemsOf(throttle: unknown): string[] {
  const config = structuredClone(example);
  config.authorizationServer.throttle = throttle;
  try {
    parseConfig(config);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('throttle settings', () => {
  it('defaults: 5 free sign-in failures per username, 20 per address, 10 per client; doubling delays with caps', () => {
    expect(THROTTLE_DEFAULTS).toMatchObject({
      username: { freeAttempts: 5, delay: 2, maxDelay: 900, resetAfter: 86_400 },
      address: { freeAttempts: 20, delay: 1, maxDelay: 300, resetAfter: 3_600 },
      client: { freeAttempts: 10, delay: 1, maxDelay: 300, resetAfter: 3_600 },
    });
    const config = parseConfig(example);
    expect(config.authorizationServer.throttle).toEqual({ enabled: true, store: 'storage' });
  });

  it('dpopkit serve: throttle keys are validated and bad ones named', () => {
    const ok = structuredClone(example);
    ok.authorizationServer.throttle = {
      store: 'memory',
      username: { freeAttempts: 3, maxDelay: 3600 },
      trustProxy: { header: 'x-forwarded-for', addresses: ['10.0.0.0/8', 'fd00::/8', '192.0.2.1'] },
      scrypt: { maxConcurrent: 4, maxQueue: 64 },
    };
    expect(parseConfig(ok).authorizationServer.throttle.username).toEqual({ freeAttempts: 3, maxDelay: 3600 });

    const problems = problemsOf({
      usernmae: {},
      address: { delay: 60, maxDelay: 10 },
      client: { freeAttempts: 0 },
      trustProxy: { header: 'x forwarded for', addresses: ['10.0.0.0/40', 'proxy.internal'] },
      scrypt: { maxConcurrent: 0 },
      store: 'redis',
    });
    const keys = problems.map((p) => p.split(':')[0]);
    expect(keys).toEqual(expect.arrayContaining([
      'authorizationServer.throttle',
      'authorizationServer.throttle.address.maxDelay',
      'authorizationServer.throttle.client.freeAttempts',
      'authorizationServer.throttle.trustProxy.header',
      'authorizationServer.throttle.trustProxy.addresses.0',
      'authorizationServer.throttle.trustProxy.addresses.1',
      'authorizationServer.throttle.scrypt.maxConcurrent',
      'authorizationServer.throttle.store',
    ]));
    expect(problems.join('\n')).toContain('"usernmae"');
  });

  it('createAuthorizationServer: a bad throttle option is a TypeError naming it', async () => {
    const storage = createPGliteStorage();
    try {
      const base = { issuer: 'http://127.0.0.1:9', storage, clients: defaultClients() };
      await expect(createAuthorizationServer({ ...base, throttle: { username: { delay: 0 } } })).rejects.toThrow('throttle.username.delay');
      await expect(createAuthorizationServer({ ...base, throttle: { client: { delay: 60, maxDelay: 30 } } })).rejects.toThrow('throttle.client.maxDelay');
      await expect(createAuthorizationServer({ ...base, throttle: { trustProxy: { header: 'x-forwarded-for', addresses: ['not-an-ip'] } } })).rejects.toThrow('throttle.trustProxy.addresses');
      await expect(createAuthorizationServer({ ...base, throttle: { scrypt: { maxQueue: -1 } } })).rejects.toThrow('throttle.scrypt.maxQueue');
    } finally {
      await storage.close();
    }
  });

  it('enabled: false stops counting (the operator throttles elsewhere); wrong passwords stay 401', async () => {
    const storage = createPGliteStorage();
    const s = await startServer(storage, { throttle: { enabled: false } });
    try {
      const form = await openSignIn(s.url);
      expect(await statuses(8, () => form.post('alice', 'guess'))).toEqual(Array(8).fill(401));
      expect((await form.post('alice', 'alice-password')).status).toBe(303);
    } finally {
      await s.close();
      await storage.close();
    }
  });
}, SLOW);
