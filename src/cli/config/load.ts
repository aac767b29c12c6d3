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
import { configSchema, LOG_FORMATS, LOG_LEVELS, MOVED_KEYS, nonceSecretProblem, type Config } from './schema.js';

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
  const environment = applyEnvironment(raw, env);
  return parseConfig(environment.config, file, environment.problems);
}

/** Validate an already-parsed configuration object. */
export function parseConfig(raw: unknown, source = 'configuration', earlier: string[] = []): Config {
  const result = configSchema.safeParse(raw);
  const problems = [...earlier, ...(result.success ? [] : result.error.issues.map(describeIssue))];
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);
  return result.data;
}

/** One problem, one line: the key, then what is wrong with its value. */
function describeIssue(issue: ZodIssue): string {
  const key = issue.path.length ? issue.path.join('.') : '(top level)';
  switch (issue.code) {
    case 'unrecognized_keys': {
      // Keys renamed into `dpop` say where they went (`nonceSecret` is now `dpop.nonce.secret`).
      const inDpop = issue.path[issue.path.length - 1] === 'dpop';
      const server = inDpop || key === 'authorizationServer' || key === 'api';
      const moved = issue.keys.filter((k) => server && MOVED_KEYS[k] !== undefined).map((k) => `"${k}" is now ${inDpop ? MOVED_KEYS[k]!.replace(/^dpop\./, `${key}.`) : `${key === '(top level)' ? '' : `${key}.`}${MOVED_KEYS[k]}`}`);
      return `${key}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}${moved.length ? ` (${moved.join('; ')})` : ''}`;
    }
    case 'invalid_type':
      return issue.received === 'undefined' ? `${key}: required (${article(issue.expected)})` : `${key}: must be ${article(issue.expected)}, got ${article(issue.received)}`;
    case 'too_small':
      if (issue.type === 'array') return `${key}: ${issue.minimum === 1 ? 'must not be empty' : `must list at least ${issue.minimum}`}`;
      if (issue.type === 'string') return `${key}: ${issue.minimum === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`}`;
      return `${key}: ${issue.message}`;
    default:
      return `${key}: ${issue.message}`;
  }
}

function article(type: string): string {
  return type === 'array' ? 'a list' : type === 'object' ? 'an object' : type === 'integer' ? 'an integer' : type === 'null' ? 'null' : `a ${type}`;
}

/**
 * Environment overrides, applied to the raw object before validation (so they are validated
 * too). A bad variable is reported under its own name, not under the keys it would have set.
 */
function applyEnvironment(raw: unknown, env: NodeJS.ProcessEnv): { config: unknown; problems: string[] } {
  const problems: string[] = [];
  const nonceSecret = env.DPOPKIT_NONCE_SECRET ? nonceSecretProblem(env.DPOPKIT_NONCE_SECRET) : undefined;
  if (nonceSecret) problems.push(`DPOPKIT_NONCE_SECRET: ${nonceSecret.replace(' (or this key)', '')}`);
  const level = env.DPOPKIT_LOG_LEVEL;
  if (level && !(LOG_LEVELS as readonly string[]).includes(level)) problems.push(`DPOPKIT_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  const format = env.DPOPKIT_LOG_FORMAT;
  if (format && !(LOG_FORMATS as readonly string[]).includes(format)) problems.push(`DPOPKIT_LOG_FORMAT: must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  if (!isObject(raw)) return { config: raw, problems };
  const config = structuredClone(raw);
  const as = isObject(config.authorizationServer) ? config.authorizationServer : undefined;
  if (as) {
    if (env.DATABASE_URL) as.storage = { type: 'postgres', url: env.DATABASE_URL };
    else if (env.DPOPKIT_DATA_DIR) as.storage = { type: 'pglite', dataDir: env.DPOPKIT_DATA_DIR };
    if (env.REDIS_URL) as.replayCache = { type: 'redis', url: env.REDIS_URL };
  }
  // The secret of every server whose nonces are on (`dpop.nonce` an object); it turns none on.
  if (env.DPOPKIT_NONCE_SECRET && !nonceSecret) {
    for (const server of [as, isObject(config.api) ? config.api : undefined]) {
      if (server && isObject(server.dpop) && isObject(server.dpop.nonce)) server.dpop.nonce = { ...server.dpop.nonce, secret: env.DPOPKIT_NONCE_SECRET };
    }
  }
  if (level && problems.every((p) => !p.startsWith('DPOPKIT_LOG_LEVEL'))) config.log = { ...(isObject(config.log) ? config.log : {}), level };
  if (format && problems.every((p) => !p.startsWith('DPOPKIT_LOG_FORMAT'))) config.log = { ...(isObject(config.log) ? config.log : {}), format };
  return { config, problems };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
