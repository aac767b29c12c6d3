/**
 * `dpopkit serve`: the authorization server, the demo API and the demo page, composed from the
 * configuration. Nothing here is protocol logic; it only wires the role packages together.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { createAuthorizationServer, hashPassword } from '../../authorization-server/index.js';
import type { Config } from '../config/schema.js';
import { createDemoApi } from './api.js';
import { createDemoSite } from './demo-site.js';
import { listen, type Listening } from './listen.js';
import { openReplayCache, openStorage } from './stores.js';

export interface Running {
  urls: { issuer: string; api?: string; demo?: string };
  close(): Promise<void>;
}

export async function startServers(config: Config): Promise<Running> {
  const logger = pino({ level: config.log.level, base: undefined });
  const asConfig = config.authorizationServer;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch((error) => logger.error({ err: error }, 'close failed'));
  };
  try {
    // Stateless nonces are HMACs: a fleet must share the secret; one process may invent its own.
    const nonceSecret = asConfig.dpop.nonceSecret ?? randomBytes(32).toString('base64url');
    if (!asConfig.dpop.nonceSecret && (asConfig.dpop.nonce === 'required' || config.api?.nonce)) {
      logger.info('no dpop.nonceSecret configured: using a random one (nonces will not survive a restart or work across processes)');
    }

    const storage = await openStorage(asConfig.storage);
    closers.push(() => storage.close());
    const replay = await openReplayCache(asConfig.replayCache);
    closers.push(() => replay.close());

    const users = await Promise.all(
      asConfig.users.map(async ({ password, passwordHash, ...user }) => {
        if (password) logger.warn({ user: user.username }, 'user has a plain-text password in the configuration: use `dpopkit hash-password` outside development');
        return { ...user, passwordHash: passwordHash ?? (await hashPassword(password!)) };
      }),
    );
    const authorizationServer = await createAuthorizationServer({
      issuer: asConfig.issuer,
      storage,
      replayCache: replay.cache,
      dpop: { ...asConfig.dpop, nonceSecret },
      tokens: asConfig.tokens,
      signingKeys: asConfig.signingKeys,
      corsOrigins: asConfig.corsOrigins,
      clients: asConfig.clients,
      users,
      logger: logger.child({ role: 'authorization-server' }),
    });
    closers.push(() => authorizationServer.close());

    const servers: Listening[] = [];
    servers.push(await listen(asConfig.issuer, authorizationServer.fetch));
    closers.push(() => servers[0]!.close());

    let apiUrl: string | undefined;
    if (config.api) {
      const api = createDemoApi({ config: config.api, issuer: asConfig.issuer, nonceSecret, replayCache: replay.cache, logger: logger.child({ role: 'resource-server' }) });
      const listening = await listen(config.api.url, api.fetch);
      closers.push(() => listening.close());
      apiUrl = config.api.url;
    }
    let demoUrl: string | undefined;
    if (config.demo) {
      const site = createDemoSite(config.demo, asConfig.issuer, apiUrl);
      const listening = await listen(config.demo.url, site.fetch);
      closers.push(() => listening.close());
      demoUrl = config.demo.url;
    }
    return { urls: { issuer: asConfig.issuer, api: apiUrl, demo: demoUrl }, close };
  } catch (error) {
    await close();
    throw error;
  }
}
