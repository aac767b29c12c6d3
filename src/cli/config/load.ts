/**
 * Load the `dpopkit serve` configuration: a JSON file, then environment variables on top, then
 * validation. Every problem is reported at once, each naming its key (`authorizationServer.clients.0.redirectUris`),
 * so a bad deployment fails at start with a message that says what to fix.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { ZodIssue } from 'zod';
import { ENVIRONMENT } from './environment.js';
import { configSchema, type Config } from './schema.js';

export { ENVIRONMENT };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration in ${source}:\n  ${problems.join('\n  ')}`);
  }
}

/** Read, overlay the environment, validate. Throws {@link ConfigError}. */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseConfig(applyEnvironment(raw, env), file);
}

/** Validate an already-parsed configuration object. */
export function parseConfig(raw: unknown, source = 'configuration'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describeIssue));
  return result.data;
}

function describeIssue(issue: ZodIssue): string {
  const key = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${key}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return `${key}: ${issue.message}`;
}

/** Environment overrides, applied to the raw object before validation (so they are validated too). */
function applyEnvironment(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!isObject(raw)) return raw;
  const config = structuredClone(raw);
  const as = isObject(config.authorizationServer) ? config.authorizationServer : undefined;
  if (as) {
    if (env.DATABASE_URL) as.storage = { type: 'postgres', url: env.DATABASE_URL };
    else if (env.DPOPKIT_DATA_DIR) as.storage = { type: 'pglite', dataDir: env.DPOPKIT_DATA_DIR };
    if (env.REDIS_URL) as.replayCache = { type: 'redis', url: env.REDIS_URL };
    if (env.DPOPKIT_NONCE_SECRET) as.dpop = { ...(isObject(as.dpop) ? as.dpop : {}), nonceSecret: env.DPOPKIT_NONCE_SECRET };
  }
  if (env.DPOPKIT_NONCE_SECRET && isObject(config.api)) config.api.nonceSecret = env.DPOPKIT_NONCE_SECRET;
  if (env.DPOPKIT_LOG_LEVEL) config.log = { ...(isObject(config.log) ? config.log : {}), level: env.DPOPKIT_LOG_LEVEL };
  return config;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
