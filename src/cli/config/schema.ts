/**
 * The `dpopkit serve` configuration file, as a zod schema: one place that says what each key
 * means, its default, and what is allowed. Validation errors name the bad key (see `load.ts`).
 *
 * @module
 */
import { z } from 'zod';
import { ALGORITHMS } from '../../core/crypto/algorithms.js';
import { isProxyAddress } from '../../authorization-server/client-address.js';

/** An absolute http(s) URL without query or fragment; its port is the port we listen on. */
const serverUrl = z
  .string()
  .url()
  .refine((text) => /^https?:$/.test(new URL(text).protocol), 'must be an http:// or https:// URL')
  .refine((text) => !new URL(text).search && !new URL(text).hash, 'must not have a query or fragment');

const seconds = z.number().int().positive();
const algorithm = z.enum(Object.keys(ALGORITHMS) as [string, ...string[]]);

const storage = z.discriminatedUnion('type', [
  /** Embedded PostgreSQL (PGlite): `dataDir` persists across restarts; omitted → in memory. */
  z.object({ type: z.literal('pglite'), dataDir: z.string().min(1).optional() }).strict(),
  /** A PostgreSQL server. */
  z.object({ type: z.literal('postgres'), url: z.string().min(1), schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional() }).strict(),
]);

const replayCache = z.discriminatedUnion('type', [
  z.object({ type: z.literal('memory'), maxEntries: z.number().int().positive().optional() }).strict(),
  /** Shared by every process of a fleet (RFC 9449 §11.1). */
  z.object({ type: z.literal('redis'), url: z.string().min(1), keyPrefix: z.string().optional() }).strict(),
  /** Shared too, for fleets that have PostgreSQL but no Redis (one INSERT … ON CONFLICT per proof). */
  z.object({ type: z.literal('postgres'), url: z.string().min(1), schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional() }).strict(),
]);

const nonceSecret = z.string().min(32, 'must be at least 32 characters (HMAC key for stateless nonces)');

const client = z
  .object({
    clientId: z.string().min(1),
    clientName: z.string().optional(),
    tokenEndpointAuthMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    clientSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Instead of `clientSecret`: its hash, made by `dpopkit hash-password`. */
    clientSecretHash: z.string().regex(/^scrypt\$/, 'must be a hash made by `dpopkit hash-password`').optional(),
    jwks: z.object({ keys: z.array(z.record(z.unknown())).min(1) }).optional(),
    redirectUris: z.array(serverUrl.or(z.string().regex(/^[a-z][a-z0-9+.-]*:\/?[^\s#]*$/i, 'must be an absolute URI'))).default([]),
    grantTypes: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials'])).min(1),
    scope: z.string().default(''),
    dpopBoundAccessTokens: z.boolean().default(false),
    /** RFC 7662: this client (a resource server) may call the introspection endpoint. */
    introspection: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    const secretMethod = c.tokenEndpointAuthMethod.startsWith('client_secret_');
    const secrets = Number(Boolean(c.clientSecret)) + Number(Boolean(c.clientSecretHash));
    if (secretMethod && secrets !== 1) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `give exactly one of clientSecret and clientSecretHash for ${c.tokenEndpointAuthMethod}` });
    if (!secretMethod && secrets > 0) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `not used with ${c.tokenEndpointAuthMethod}` });
    if (c.tokenEndpointAuthMethod === 'private_key_jwt' && !c.jwks) ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'required for private_key_jwt' });
    if (c.grantTypes.includes('authorization_code') && c.redirectUris.length === 0) ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'required for authorization_code' });
    if (c.tokenEndpointAuthMethod === 'none' && c.grantTypes.includes('client_credentials')) ctx.addIssue({ code: 'custom', path: ['grantTypes'], message: 'client_credentials needs an authenticated client' });
    if (c.tokenEndpointAuthMethod === 'none' && c.introspection) ctx.addIssue({ code: 'custom', path: ['introspection'], message: 'introspection needs an authenticated client' });
  });

const user = z
  .object({
    username: z.string().min(1),
    name: z.string().optional(),
    /** scrypt hash made by `dpopkit hash-password`. */
    passwordHash: z.string().regex(/^scrypt\$/, 'must be a hash made by `dpopkit hash-password`').optional(),
    /** Plain password: development only (hashed at start, a warning is logged). */
    password: z.string().min(1).optional(),
  })
  .strict()
  .refine((u) => Boolean(u.passwordHash) !== Boolean(u.password), { message: 'give exactly one of passwordHash and password', path: ['passwordHash'] });

/** One kind of failed-attempt counter (seconds and counts); unset keys keep their defaults. */
const throttleRule = z
  .object({
    /** Failures allowed before the first delay. */
    freeAttempts: z.number().int().min(1).max(100_000).optional(),
    /** First delay; it doubles with each further failure. */
    delay: seconds.max(86_400).optional(),
    /** Longest delay. */
    maxDelay: seconds.max(7 * 86_400).optional(),
    /** The count is forgotten this long after the last block ends. */
    resetAfter: seconds.max(366 * 86_400).optional(),
  })
  .strict()
  .refine((r) => r.delay === undefined || r.maxDelay === undefined || r.maxDelay >= r.delay, { message: 'must be at least delay', path: ['maxDelay'] });

/** Throttling of password and client-secret guessing (429 + Retry-After, RFC 6585 §4). */
const throttle = z
  .object({
    enabled: z.boolean().default(true),
    /** `storage`: counters in the storage's database (shared by a fleet on PostgreSQL); `memory`: this process only. */
    store: z.enum(['storage', 'memory']).default('storage'),
    username: throttleRule.optional(),
    address: throttleRule.optional(),
    client: throttleRule.optional(),
    /** Behind a reverse proxy: the header it sets with the client's address, believed only from these addresses. */
    trustProxy: z
      .object({
        header: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name (x-forwarded-for, forwarded, x-real-ip, …)'),
        addresses: z.array(z.string().refine(isProxyAddress, 'must be an IP address, a CIDR block or "*"')).min(1),
      })
      .strict()
      .optional(),
    /** Concurrent scrypt verifications and how many may wait (503 + Retry-After beyond). */
    scrypt: z.object({ maxConcurrent: z.number().int().min(1).max(64).optional(), maxQueue: z.number().int().min(0).max(10_000).optional() }).strict().optional(),
  })
  .strict();

export const authorizationServerSchema = z
  .object({
    issuer: serverUrl,
    storage: storage.default({ type: 'pglite', dataDir: '.data/pglite' }),
    replayCache: replayCache.default({ type: 'memory' }),
    dpop: z
      .object({
        algs: z.array(algorithm).min(1).optional(),
        /** RFC 9449 §8: require an authorization-server nonce in token-endpoint proofs. */
        nonce: z.enum(['off', 'required']).default('off'),
        nonceSecret: nonceSecret.optional(),
        maxAge: seconds.optional(),
        maxFuture: z.number().int().nonnegative().optional(),
        /** Live proof jtis one confidential client (perClient) or one key of a public client (perKey) may hold in the replay cache. */
        replayQuota: z.object({ perClient: z.number().int().positive().optional(), perKey: z.number().int().positive().optional() }).strict().optional(),
      })
      .strict()
      .default({}),
    tokens: z
      .object({
        accessTokenTtl: seconds.optional(),
        refreshTokenTtl: seconds.optional(),
        codeTtl: seconds.optional(),
        parTtl: seconds.optional(),
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
      })
      .strict()
      .default({}),
    signingKeys: z
      .object({ alg: z.enum(['ES256', 'EdDSA', 'RS256', 'PS256']).optional(), rotateAfter: seconds.optional(), publishAhead: seconds.optional() })
      .strict()
      .default({}),
    /** Browser origins allowed to call /token, /par, /revoke, metadata and /jwks. */
    corsOrigins: z.array(serverUrl).default([]),
    throttle: throttle.default({}),
    clients: z.array(client).min(1),
    users: z.array(user).default([]),
  })
  .strict();

/** The demo API: one route protected by dpopkit's resource server. */
export const apiSchema = z
  .object({
    url: serverUrl,
    /**
     * The URL clients call the API at, when it is not `url` (behind a reverse proxy or gateway;
     * a path prefix included). Proofs' `htu` is checked against it, never against the Host
     * header. Default: `url`.
     */
    publicUrl: serverUrl.optional(),
    /** Expected `aud` of access tokens (default: the API's URL). */
    audience: z.string().min(1).optional(),
    /** RFC 9449 §9: resource-server nonces. */
    nonce: z.boolean().default(false),
    nonceSecret: nonceSecret.optional(),
    /** Unbound (Bearer) tokens: 'allow' or 'reject'. A DPoP-bound token is never accepted as Bearer. */
    bearer: z.enum(['allow', 'reject']).default('reject'),
    /**
     * The API's own replay cache. Default: one like the authorization server's but separate
     * (its own memory; on Redis the key prefix `<prefix>api:`; on PostgreSQL the schema
     * `<schema>_api`), so a flood at one server never stops the other.
     */
    replayCache: replayCache.optional(),
    corsOrigins: z.array(serverUrl).default([]),
  })
  .strict();

export const demoSchema = z
  .object({
    url: serverUrl,
    clientId: z.string().min(1),
    redirectUri: serverUrl,
    scope: z.string().default(''),
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    authorizationServer: authorizationServerSchema,
    api: apiSchema.optional(),
    demo: demoSchema.optional(),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).strict().default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const ports = new Map<string, string>();
    const seen = (url: string | undefined, path: string[]) => {
      if (!url) return;
      const port = listenPort(url);
      if (ports.has(port)) ctx.addIssue({ code: 'custom', path, message: `port ${port} is already used by ${ports.get(port)}` });
      else ports.set(port, path.join('.'));
    };
    seen(config.authorizationServer.issuer, ['authorizationServer', 'issuer']);
    seen(config.api?.url, ['api', 'url']);
    seen(config.demo?.url, ['demo', 'url']);
    const demo = config.demo;
    if (demo) {
      const client = config.authorizationServer.clients.find((c) => c.clientId === demo.clientId);
      if (!client) ctx.addIssue({ code: 'custom', path: ['demo', 'clientId'], message: `no client "${demo.clientId}" in authorizationServer.clients` });
      else if (!client.redirectUris.includes(demo.redirectUri)) ctx.addIssue({ code: 'custom', path: ['demo', 'redirectUri'], message: `not a redirect URI of client "${demo.clientId}"` });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type AuthorizationServerConfig = Config['authorizationServer'];
export type ApiConfig = NonNullable<Config['api']>;
export type DemoConfig = NonNullable<Config['demo']>;

/** The TCP port a server URL listens on (its explicit port, else the scheme's default). */
export function listenPort(url: string): string {
  const u = new URL(url);
  return u.port || (u.protocol === 'https:' ? '443' : '80');
}
