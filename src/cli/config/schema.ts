/**
 * The `dpopkit serve` configuration file, as a zod schema: one place that says what each key
 * means, its default, and what is allowed. Validation errors name the bad key (see `load.ts`).
 *
 * @module
 */
import { z } from 'zod';
import { ALGORITHMS } from '../../core/crypto/algorithms.js';
import { isProxyAddress } from '../../core/ip-address.js';

/** `text` as a URL, or undefined: a refinement must never throw (zod would lose the key). */
export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** An absolute http(s) URL without query or fragment; its port is the port we listen on. */
const serverUrl = z.string().superRefine((text, ctx) => {
  const url = parseUrl(text);
  if (!url || !/^https?:$/.test(url.protocol)) ctx.addIssue({ code: 'custom', message: `must be an absolute http:// or https:// URL (like http://localhost:4000), got ${JSON.stringify(text)}` });
  else if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: `must not have a query or fragment, got ${JSON.stringify(text)}` });
});

/** A redirect URI: any absolute URI without a fragment (RFC 6749 §3.1.2), custom schemes included. */
const redirectUri = z.string().superRefine((text, ctx) => {
  if (!/^[a-z][a-z0-9+.-]*:\/?[^\s#]*$/i.test(text) || !parseUrl(text)) ctx.addIssue({ code: 'custom', message: `must be an absolute URI without a fragment (like http://localhost:4002/callback), got ${JSON.stringify(text)}` });
});

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

/** At least 32 bytes, as `createNonceSource` requires; what to set is part of the message. */
export const NONCE_SECRET_HELP = 'set DPOPKIT_NONCE_SECRET (or this key) to at least 32 bytes of random text, e.g. the output of `openssl rand -base64 32`';
export function nonceSecretProblem(secret: string): string | undefined {
  const bytes = Buffer.byteLength(secret, 'utf8');
  return bytes < 32 ? `too short (${bytes} byte${bytes === 1 ? '' : 's'}): the HMAC secret for stateless nonces must be at least 32 bytes; ${NONCE_SECRET_HELP}` : undefined;
}
const nonceSecret = z.string().superRefine((text, ctx) => {
  const problem = nonceSecretProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * RFC 9449 §8, §9 server nonces, as the library's `dpop.nonce` takes them: `false` (off), or
 * `{ secret?, stepSeconds? }` (on). Without a secret: DPOPKIT_NONCE_SECRET, else the
 * authorization server's, else a random one (one process only).
 */
const nonceOn = z.object({ secret: nonceSecret.optional(), stepSeconds: seconds.max(3600).optional() }).strict();
export type NonceConfig = false | z.infer<typeof nonceOn>;
const NONCE_SHAPE = 'must be false (no nonces) or an object { "secret"?: string, "stepSeconds"?: number } (nonces on; {} for the defaults)';
const nonce: z.ZodType<NonceConfig, z.ZodTypeDef, unknown> = z.unknown().transform((value, ctx): NonceConfig => {
  if (value === undefined || value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const was = value === 'required' || value === true ? ` — to turn nonces on, write {} (or { "secret": … })` : value === 'off' ? ' — write false' : '';
    ctx.addIssue({ code: 'custom', message: `${NONCE_SHAPE}, got ${JSON.stringify(value)}${was}` });
    return z.NEVER;
  }
  const parsed = nonceOn.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue(issue);
    return z.NEVER;
  }
  return parsed.data;
});

/**
 * DPoP proof checks, the same members on both servers and in the library (`dpop` of
 * createAuthorizationServer and createResourceServer): algs, nonce, maxAge, maxFuture, threadpool.
 */
const dpopShape = {
  algs: z.array(algorithm).min(1).optional(),
  nonce,
  maxAge: seconds.optional(),
  maxFuture: z.number().int().nonnegative().optional(),
  threadpool: z.boolean().optional(),
};

/** Keys that moved into `dpop` (and `dpop.nonce`): the error says where. */
export const MOVED_KEYS: Readonly<Record<string, string>> = {
  nonceSecret: 'dpop.nonce.secret',
  nonceStepSeconds: 'dpop.nonce.stepSeconds',
  nonce: 'dpop.nonce',
  algs: 'dpop.algs',
  proofAlgs: 'dpop.algs',
  maxAge: 'dpop.maxAge',
  maxFuture: 'dpop.maxFuture',
};

const client = z
  .object({
    clientId: z.string().min(1),
    clientName: z.string().optional(),
    tokenEndpointAuthMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    clientSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Instead of `clientSecret`: its hash, made by `dpopkit hash-password`. */
    clientSecretHash: z.string().regex(/^scrypt\$/, 'must be a hash made by `dpopkit hash-password`').optional(),
    jwks: z.object({ keys: z.array(z.record(z.unknown())).min(1) }).optional(),
    redirectUris: z.array(redirectUri).default([]),
    grantTypes: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials'])).min(1),
    scope: z.string().default(''),
    dpopBoundAccessTokens: z.boolean().default(false),
    /** RFC 7662: this client (a resource server) may call the introspection endpoint. */
    introspection: z.boolean().default(false),
    /** RFC 8707: the resources (of authorizationServer.resources / tokens.audience) this client may have tokens for (default: all). */
    resources: z.array(z.string().url()).min(1).optional(),
    /** draft-ietf-oauth-first-party-apps: may sign users in without a browser (authorization challenge endpoint); its tokens are always DPoP-bound. */
    firstParty: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    const secretMethod = c.tokenEndpointAuthMethod.startsWith('client_secret_');
    const secrets = Number(Boolean(c.clientSecret)) + Number(Boolean(c.clientSecretHash));
    if (secretMethod && secrets !== 1) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `give exactly one of clientSecret and clientSecretHash for ${c.tokenEndpointAuthMethod}` });
    if (!secretMethod && secrets > 0) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `not used with ${c.tokenEndpointAuthMethod}` });
    if (c.tokenEndpointAuthMethod === 'private_key_jwt' && !c.jwks) ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'required for private_key_jwt' });
    if (c.grantTypes.includes('authorization_code') && c.redirectUris.length === 0 && !c.firstParty) ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'required for authorization_code' });
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
    /** RFC 6238 TOTP secret (base32, at least 128 bits): a one-time code is asked after the password. */
    totpSecret: z.string().regex(/^[A-Za-z2-7 =]{26,}$/, 'must be base32 (A–Z, 2–7) of at least 128 bits (26 characters)').optional(),
    /** First-party apps are sent to the browser for this account (redirect_to_web). */
    webOnly: z.boolean().optional(),
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
    /** Failed passwords and one-time codes per first-party sign-in flow (its auth_sessions). */
    session: throttleRule.optional(),
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

/** RFC 7591: who may register, how many, with which scopes. */
const registration = z
  .object({
    open: z.boolean().optional(),
    initialAccessTokens: z.array(z.string().min(32, 'must be at least 32 characters')).min(1).optional(),
    maxClients: z.number().int().positive().optional(),
    /** Scopes a registered client may ask for (default: every scope of the configured clients). */
    scope: z.string().optional(),
    /** Registrations per client address. */
    throttle: throttleRule.optional(),
  })
  .strict()
  .refine((r) => (r.open === true) !== (r.initialAccessTokens !== undefined), { message: 'give exactly one of open: true and initialAccessTokens', path: ['open'] });

export const authorizationServerSchema = z
  .object({
    issuer: serverUrl,
    /**
     * The port this process listens on, when it is not the issuer's: behind a load balancer or a
     * TLS proxy every process of a fleet has the same public issuer and listens on its own port.
     */
    listenPort: z.number().int().min(0).max(65535).optional(),
    storage: storage.default({ type: 'pglite', dataDir: '.data/pglite' }),
    replayCache: replayCache.default({ type: 'memory' }),
    dpop: z
      .object({
        /** algs, nonce (RFC 9449 §8: the token endpoint's nonces), maxAge, maxFuture. */
        ...dpopShape,
        /**
         * Live proof jtis one confidential client (perClient) or one key of a public client (perKey)
         * may hold in the replay cache. `shared`: count them in the shared replay cache's store, so
         * the bound holds for the whole fleet, or (false) in each process: a bound of quota ×
         * servers, one round trip less per token request. Default: true on Redis (whose memory
         * can fill, refusing everybody's proofs), false on PostgreSQL (a table that does not
         * fill, where the shared count cost 0.67–0.74× the token rate in bench 30).
         */
        replayQuota: z
          .object({ perClient: z.number().int().positive().optional(), perKey: z.number().int().positive().optional(), shared: z.boolean().optional() })
          .strict()
          .optional(),
        /** Every token request of every client must carry a proof (metadata dpop_bound_access_tokens_required). */
        required: z.boolean().optional(),
      })
      .strict()
      .default({}),
    tokens: z
      .object({
        accessTokenTtl: seconds.optional(),
        refreshTokenTtl: seconds.optional(),
        codeTtl: seconds.optional(),
        parTtl: seconds.optional(),
        /** Seconds a first-party sign-in flow (its auth_sessions) may take (default 300). */
        authSessionTtl: seconds.optional(),
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
    /** RFC 8707: the APIs this server issues tokens for (metadata protected_resources); tokens.audience is always one. */
    resources: z.array(z.string().url()).min(1).optional(),
    /** RFC 7591 dynamic client registration at /register: open (throttled per address, capped), or with initial access tokens. */
    registration: registration.optional(),
    /**
     * A line shown on the sign-in page, e.g. the demo's credentials. Development only: whatever
     * is written here is shown to everyone who opens the page. Default: none.
     */
    loginHint: z.string().min(1).max(200).optional(),
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
    /**
     * The API's proof checks, as `authorizationServer.dpop`: `algs` (accepted and sent in its
     * challenges; default `authorizationServer.dpop.algs`), `nonce` (RFC 9449 §9; its secret
     * defaults to the authorization server's, derived per role), `maxAge`, `maxFuture`.
     */
    dpop: z.object(dpopShape).strict().default({}),
    /** Unbound (Bearer) tokens: 'allow' or 'reject'. A DPoP-bound token is never accepted as Bearer. */
    bearer: z.enum(['allow', 'reject']).default('reject'),
    /**
     * The API's own replay cache. Default: one like the authorization server's but separate
     * (its own memory; on Redis the key prefix `<prefix>api:`; on PostgreSQL the schema
     * `<schema>_api`), so a flood at one server never stops the other.
     */
    replayCache: replayCache.optional(),
    corsOrigins: z.array(serverUrl).default([]),
    /** RFC 9728 protected resource metadata: scopes_supported, resource_name, resource_documentation. */
    scopesSupported: z.array(z.string().min(1)).optional(),
    resourceName: z.string().min(1).max(200).optional(),
    resourceDocumentation: serverUrl.optional(),
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

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    authorizationServer: authorizationServerSchema,
    api: apiSchema.optional(),
    demo: demoSchema.optional(),
    /** The admin listener (`/healthz`, `/readyz`, `/metrics`): off unless given; loopback unless `host` says otherwise. */
    admin: z.object({ port: z.number().int().min(0).max(65535), host: z.string().min(1).default('127.0.0.1') }).strict().optional(),
    /** Seconds a SIGTERM waits for requests in flight before the process exits non-zero anyway. */
    shutdownTimeout: z.number().positive().max(3600).default(10),
    log: z
      .object({
        level: z.enum(LOG_LEVELS).default('info'),
        /** `pretty`: one human line per event; `json`: pino's JSON lines; `auto`: pretty on a terminal, JSON otherwise. */
        format: z.enum(LOG_FORMATS).default('auto'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const ports = new Map<string, string>();
    const seen = (url: string | undefined, path: string[]) => {
      if (!url || !parseUrl(url)) return; // a bad URL is reported at its own key
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
      else if (parseUrl(demo.redirectUri) && !client.redirectUris.includes(demo.redirectUri)) ctx.addIssue({ code: 'custom', path: ['demo', 'redirectUri'], message: `not a redirect URI of client "${demo.clientId}"` });
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
