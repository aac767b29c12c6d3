/**
 * The authorization server's `Storage` port in SQL, written once for PostgreSQL and PGlite
 * (both speak the same dialect; only the driver shim differs, see `executor.ts`).
 *
 * Atomicity (the port's "two concurrent callers can never both win"):
 * - single use (codes, PAR `request_uri`s, interactions) is ONE conditional statement,
 *   `UPDATE … SET consumed_at = now WHERE id = $1 AND consumed_at IS NULL AND expires_at > now
 *   [AND client_id = $3] RETURNING …`: under PostgreSQL's row lock only the first UPDATE
 *   matches, and only for the client the record belongs to (another client cannot use it up);
 *   a second query afterwards only tells `reused` from `missing` (RFC 6749 §4.1.2, RFC 9126 §4);
 * - refresh rotation is one transaction: conditional retire of the presented token (with the
 *   key check of RFC 9449 §5 in the same WHERE), binding of an unbound family to the request's
 *   key, insert of its successor; if the token was already retired the same transaction revokes
 *   the whole family (RFC 9700 §4.14.2 reuse detection), unless the token was issued bound and
 *   the request does not have its key. A failing statement rolls everything back.
 *
 * @module
 */
import type {
  AuthSessionRecord,
  AuthorizationCodeRecord,
  ClientRecord,
  ConsumeResult,
  InteractionRecord,
  PushedRequestRecord,
  RefreshFamilyRecord,
  RotateResult,
  SigningKeyRecord,
  Storage,
} from '../../authorization-server/storage.js';
import type { Queryable, SqlExecutor } from './executor.js';
import { migrate, quoteSchema } from './schema.js';
import { createSqlAttemptStore, type SqlAttemptStoreOptions } from './throttle.js';

type Row = Record<string, unknown>;

/** BIGINT arrives as a string (node-postgres) or a number (PGlite). */
const num = (v: unknown): number => Number(v);
const opt = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
/** jsonb goes in as text cast to jsonb, so neither driver re-encodes it (node-postgres would
 *  turn a JS array into a PostgreSQL array literal). */
const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

function toClient(r: Row): ClientRecord {
  const client: ClientRecord = {
    clientId: String(r.client_id),
    tokenEndpointAuthMethod: r.token_endpoint_auth_method as ClientRecord['tokenEndpointAuthMethod'],
    redirectUris: r.redirect_uris as string[],
    grantTypes: r.grant_types as ClientRecord['grantTypes'],
    scope: String(r.scope),
    dpopBoundAccessTokens: Boolean(r.dpop_bound_access_tokens),
  };
  if (r.client_name != null) client.clientName = String(r.client_name);
  if (r.client_secret_hash != null) client.clientSecretHash = String(r.client_secret_hash);
  if (r.jwks != null) client.jwks = r.jwks as ClientRecord['jwks'];
  if (Array.isArray(r.resources)) client.resources = r.resources as string[];
  if (r.jwks_uri != null) client.jwksUri = String(r.jwks_uri);
  const registeredAt = optNum(r.registered_at);
  if (registeredAt !== undefined) client.registeredAt = registeredAt;
  return client;
}

function toInteraction(r: Row): InteractionRecord {
  return {
    id: String(r.id),
    clientId: String(r.client_id),
    params: r.params as Record<string, string>,
    csrfHash: String(r.csrf_hash),
    expiresAt: num(r.expires_at),
  };
}

function toCode(r: Row): AuthorizationCodeRecord {
  const code: AuthorizationCodeRecord = {
    id: String(r.id),
    clientId: String(r.client_id),
    subject: String(r.subject),
    scope: String(r.scope),
    authTime: num(r.auth_time),
    expiresAt: num(r.expires_at),
  };
  const redirectUri = opt(r.redirect_uri);
  if (redirectUri !== undefined) code.redirectUri = redirectUri;
  const codeChallenge = opt(r.code_challenge);
  if (codeChallenge !== undefined) {
    code.codeChallenge = codeChallenge;
    code.codeChallengeMethod = 'S256';
  }
  if (r.challenge === true) code.challenge = true;
  const acr = opt(r.acr);
  if (acr !== undefined) code.acr = acr;
  if (Array.isArray(r.amr)) code.amr = r.amr as string[];
  const dpopJkt = opt(r.dpop_jkt);
  if (dpopJkt !== undefined) code.dpopJkt = dpopJkt;
  if (Array.isArray(r.resources)) code.resources = r.resources as string[];
  const nonce = opt(r.nonce);
  if (nonce !== undefined) code.nonce = nonce;
  return code;
}

function toPushed(r: Row): PushedRequestRecord {
  return { id: String(r.id), clientId: String(r.client_id), params: r.params as Record<string, string>, expiresAt: num(r.expires_at) };
}

function toFamily(r: Row): RefreshFamilyRecord {
  const family: RefreshFamilyRecord = {
    familyId: String(r.family_id),
    clientId: String(r.client_id),
    subject: String(r.subject),
    scope: String(r.scope),
    authTime: num(r.auth_time),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
  const jkt = opt(r.jkt);
  if (jkt !== undefined) family.jkt = jkt;
  const grantId = opt(r.grant_id);
  if (grantId !== undefined) family.grantId = grantId;
  if (Array.isArray(r.resources)) family.resources = r.resources as string[];
  const acr = opt(r.acr);
  if (acr !== undefined) family.acr = acr;
  if (Array.isArray(r.amr)) family.amr = r.amr as string[];
  const revokedAt = optNum(r.revoked_at);
  if (revokedAt !== undefined) family.revokedAt = revokedAt;
  return family;
}

function toAuthSession(r: Row): AuthSessionRecord {
  const session: AuthSessionRecord = {
    id: String(r.id),
    flowId: String(r.flow_id),
    clientId: String(r.client_id),
    jkt: String(r.jkt),
    stage: r.stage === 'authenticated' ? 'authenticated' : 'pending',
    params: r.params as Record<string, string>,
    amr: r.amr as string[],
    failures: num(r.failures),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
  const username = opt(r.username);
  if (username !== undefined) session.username = username;
  const acr = opt(r.acr);
  if (acr !== undefined) session.acr = acr;
  const authTime = optNum(r.auth_time);
  if (authTime !== undefined) session.authTime = authTime;
  return session;
}

function toSigningKey(r: Row): SigningKeyRecord {
  return {
    kid: String(r.kid),
    alg: String(r.alg),
    privateJwk: r.private_jwk as Record<string, unknown>,
    publicJwk: r.public_jwk as Record<string, unknown>,
    createdAt: num(r.created_at),
    activatesAt: num(r.activates_at),
    retiresAt: num(r.retires_at),
    expiresAt: num(r.expires_at),
  };
}

const CLIENT_COLUMNS = `client_id, client_name, token_endpoint_auth_method, client_secret_hash, jwks,
  redirect_uris, grant_types, scope, dpop_bound_access_tokens, resources, jwks_uri, registered_at`;
const CLIENT_VALUES = '$1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb, $7::text::jsonb, $8, $9, $10::text::jsonb, $11, $12';

function clientValues(c: ClientRecord): unknown[] {
  return [
    c.clientId, c.clientName ?? null, c.tokenEndpointAuthMethod, c.clientSecretHash ?? null, json(c.jwks),
    json(c.redirectUris), json(c.grantTypes), c.scope, c.dpopBoundAccessTokens,
    json(c.resources), c.jwksUri ?? null, c.registeredAt ?? null,
  ];
}

/**
 * Build a {@link Storage} over an executor. `schema` is the PostgreSQL schema holding the tables
 * (created by `migrate()`). `options.exclusive`: this process is the database's only writer
 * (PGlite), so the throttle's counters may be read from a copy (see sql/throttle.ts).
 */
export function createSqlStorage(executor: SqlExecutor, schema: string, options: SqlAttemptStoreOptions = {}): Storage {
  const s = quoteSchema(schema);
  const FAMILY_COLUMNS = 'f.family_id, f.client_id, f.subject, f.scope, f.jkt, f.grant_id, f.acr, f.amr, f.resources, f.auth_time, f.created_at, f.expires_at, f.revoked_at';

  const insertAuthSession = (q: Queryable, r: AuthSessionRecord) =>
    q.query(
      `INSERT INTO ${s}.auth_sessions (id, flow_id, client_id, jkt, stage, username, params, amr, acr, auth_time, failures, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9, $10, $11, $12, $13)`,
      [r.id, r.flowId, r.clientId, r.jkt, r.stage, r.username ?? null, json(r.params), json(r.amr), r.acr ?? null, r.authTime ?? null, r.failures, r.createdAt, r.expiresAt],
    );

  /** Single use for the three consumable tables: one conditional UPDATE (for one client, if given). */
  const consume = (table: string, id: string, now: number, clientId?: string, q: Queryable = executor) =>
    clientId === undefined
      ? q.query<Row>(`UPDATE ${s}.${table} SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 RETURNING *`, [id, now])
      : q.query<Row>(
        `UPDATE ${s}.${table} SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 AND client_id = $3 RETURNING *`,
        [id, now, clientId],
      );

  return {
    migrate: () => migrate(executor, schema),
    close: () => executor.close(),
    // The throttle's failed-attempt counters, in the same database (see sql/throttle.ts).
    attempts: createSqlAttemptStore(executor, schema, options),

    async upsertClient(c) {
      await executor.query(
        `INSERT INTO ${s}.clients (${CLIENT_COLUMNS}) VALUES (${CLIENT_VALUES})
         ON CONFLICT (client_id) DO UPDATE SET client_name = EXCLUDED.client_name,
           token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
           client_secret_hash = EXCLUDED.client_secret_hash, jwks = EXCLUDED.jwks,
           redirect_uris = EXCLUDED.redirect_uris, grant_types = EXCLUDED.grant_types,
           scope = EXCLUDED.scope, dpop_bound_access_tokens = EXCLUDED.dpop_bound_access_tokens,
           resources = EXCLUDED.resources, jwks_uri = EXCLUDED.jwks_uri, registered_at = EXCLUDED.registered_at`,
        clientValues(c),
      );
    },
    async getClient(clientId) {
      const { rows } = await executor.query<Row>(`SELECT * FROM ${s}.clients WHERE client_id = $1`, [clientId]);
      return rows[0] ? toClient(rows[0]) : undefined;
    },
    async registerClient(c, limit) {
      // One transaction under a lock on the registrations of this schema: the count and the
      // insert cannot interleave with another registration (the cap holds across a fleet).
      return executor.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`dpopkit:register:${schema}`]);
        const { rows } = await tx.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${s}.clients WHERE registered_at IS NOT NULL`);
        if (Number(rows[0]?.n ?? 0) >= limit) return 'full';
        const inserted = await tx.query<Row>(
          `INSERT INTO ${s}.clients (${CLIENT_COLUMNS}) VALUES (${CLIENT_VALUES}) ON CONFLICT (client_id) DO NOTHING RETURNING client_id`,
          clientValues(c),
        );
        return inserted.rows.length === 1 ? 'created' : 'exists';
      });
    },

    async saveInteraction(r) {
      await executor.query(
        `INSERT INTO ${s}.interactions (id, client_id, params, csrf_hash, expires_at) VALUES ($1, $2, $3::text::jsonb, $4, $5)`,
        [r.id, r.clientId, json(r.params), r.csrfHash, r.expiresAt],
      );
    },
    async getInteraction(id, now) {
      const { rows } = await executor.query<Row>(
        `SELECT * FROM ${s}.interactions WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2`,
        [id, now],
      );
      return rows[0] ? toInteraction(rows[0]) : undefined;
    },
    async consumeInteraction(id, now) {
      const { rows } = await consume('interactions', id, now);
      return rows[0] ? toInteraction(rows[0]) : undefined;
    },

    async saveCode(r) {
      await executor.query(
        `INSERT INTO ${s}.authorization_codes (id, client_id, subject, redirect_uri, scope, code_challenge,
           code_challenge_method, dpop_jkt, nonce, challenge, acr, amr, auth_time, expires_at, resources)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb, $13, $14, $15::text::jsonb)`,
        [
          r.id, r.clientId, r.subject, r.redirectUri ?? null, r.scope, r.codeChallenge ?? null, r.codeChallenge === undefined ? null : (r.codeChallengeMethod ?? 'S256'),
          r.dpopJkt ?? null, r.nonce ?? null, r.challenge === true, r.acr ?? null, json(r.amr), r.authTime, r.expiresAt, json(r.resources),
        ],
      );
    },
    async findCode(id, now) {
      const { rows } = await executor.query<Row>(
        `SELECT * FROM ${s}.authorization_codes WHERE id = $1 AND (consumed_at IS NOT NULL OR expires_at > $2)`,
        [id, now],
      );
      const r = rows[0];
      return r ? { record: toCode(r), used: r.consumed_at !== null && r.consumed_at !== undefined } : undefined;
    },
    async consumeCode(id, now, clientId): Promise<ConsumeResult<AuthorizationCodeRecord>> {
      const won = await consume('authorization_codes', id, now, clientId);
      if (won.rows[0]) return { outcome: 'consumed', record: toCode(won.rows[0]) };
      // Lost: was it used already (an attack: RFC 6749 §4.1.2 says revoke what it issued), or
      // never issued / expired unused / another client's? A used code stays `reused` until
      // purged, even past its expiry, so a late replay still triggers revocation of its grant.
      const { rows } = await executor.query<Row>(
        `SELECT * FROM ${s}.authorization_codes WHERE id = $1 AND consumed_at IS NOT NULL AND client_id = $2`,
        [id, clientId],
      );
      return rows[0] ? { outcome: 'reused', record: toCode(rows[0]) } : { outcome: 'missing' };
    },

    async savePushedRequest(r) {
      await executor.query(
        `INSERT INTO ${s}.pushed_requests (id, client_id, params, expires_at) VALUES ($1, $2, $3::text::jsonb, $4)`,
        [r.id, r.clientId, json(r.params), r.expiresAt],
      );
    },
    async consumePushedRequest(id, now, clientId) {
      const { rows } = await consume('pushed_requests', id, now, clientId);
      return rows[0] ? toPushed(rows[0]) : undefined;
    },

    async saveAuthSession(r) {
      await insertAuthSession(executor, r);
    },
    async findAuthSession(id, now) {
      const { rows } = await executor.query<Row>(
        `SELECT * FROM ${s}.auth_sessions WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2`,
        [id, now],
      );
      return rows[0] ? toAuthSession(rows[0]) : undefined;
    },
    advanceAuthSession(id, now, owner, next) {
      // One conditional UPDATE retires the session for one caller only (client and key in the
      // WHERE); its successor is written in the same transaction or not at all.
      return executor.transaction(async (tx) => {
        const won = await tx.query<Row>(
          `UPDATE ${s}.auth_sessions SET consumed_at = $2
            WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 AND client_id = $3 AND jkt = $4 RETURNING id`,
          [id, now, owner.clientId, owner.jkt],
        );
        if (!won.rows[0]) return false;
        if (next) await insertAuthSession(tx, next);
        return true;
      });
    },
    async acceptTotpStep(subject, step) {
      // RFC 6238 §5.2: only a step later than the last accepted one; atomic under the row lock.
      const { rows } = await executor.query(
        `INSERT INTO ${s}.totp_steps (subject, last_step) VALUES ($1, $2)
         ON CONFLICT (subject) DO UPDATE SET last_step = EXCLUDED.last_step WHERE ${s}.totp_steps.last_step < EXCLUDED.last_step
         RETURNING last_step`,
        [subject, step],
      );
      return rows.length > 0;
    },

    async createRefreshFamily(f, tokenHash) {
      await executor.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO ${s}.refresh_families (family_id, client_id, subject, scope, jkt, grant_id, acr, amr, auth_time, created_at, expires_at, revoked_at, resources)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9, $10, $11, $12, $13::text::jsonb)`,
          [f.familyId, f.clientId, f.subject, f.scope, f.jkt ?? null, f.grantId ?? null, f.acr ?? null, json(f.amr), f.authTime, f.createdAt, f.expiresAt, f.revokedAt ?? null, json(f.resources)],
        );
        await tx.query(
          `INSERT INTO ${s}.refresh_tokens (token_hash, family_id, created_at, jkt) VALUES ($1, $2, $3, $4)`,
          [tokenHash, f.familyId, f.createdAt, f.jkt ?? null],
        );
      });
    },
    async findRefreshToken(tokenHash) {
      const { rows } = await executor.query<Row>(
        `SELECT ${FAMILY_COLUMNS}, t.rotated_at FROM ${s}.refresh_tokens t JOIN ${s}.refresh_families f USING (family_id) WHERE t.token_hash = $1`,
        [tokenHash],
      );
      const r = rows[0];
      return r ? { family: toFamily(r), rotated: r.rotated_at !== null && r.rotated_at !== undefined } : undefined;
    },
    rotateRefreshToken(tokenHash, nextTokenHash, now, key): Promise<RotateResult> {
      return executor.transaction(async (tx): Promise<RotateResult> => {
        // Retire the presented token only if it is current, its family is live and (RFC 9449 §5)
        // the request has the family's key, if it has one. Concurrent rotations of one token
        // queue on its row lock; after the winner commits, PostgreSQL re-evaluates the WHERE for
        // the others, which then match nothing. A family is only ever bound here, by the
        // rotation of its one current token, so that lock also orders the binding.
        const won = key
          ? await tx.query<Row>(
            `UPDATE ${s}.refresh_tokens t SET rotated_at = $2 FROM ${s}.refresh_families f
              WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND f.family_id = t.family_id
                AND f.revoked_at IS NULL AND f.expires_at > $2 AND (f.jkt IS NULL OR f.jkt = $3)
              RETURNING ${FAMILY_COLUMNS}`,
            [tokenHash, now, key.jkt ?? null],
          )
          : await tx.query<Row>(
            `UPDATE ${s}.refresh_tokens t SET rotated_at = $2 FROM ${s}.refresh_families f
              WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND f.family_id = t.family_id
                AND f.revoked_at IS NULL AND f.expires_at > $2
              RETURNING ${FAMILY_COLUMNS}`,
            [tokenHash, now],
          );
        if (won.rows[0]) {
          let family = toFamily(won.rows[0]);
          if (key?.bind && key.jkt !== undefined && family.jkt === undefined) {
            // From this DPoP-bound token on, the family's refresh tokens need this key.
            const bound = await tx.query<Row>(
              `UPDATE ${s}.refresh_families f SET jkt = $2 WHERE f.family_id = $1 AND f.jkt IS NULL RETURNING ${FAMILY_COLUMNS}`,
              [family.familyId, key.jkt],
            );
            if (bound.rows[0]) family = toFamily(bound.rows[0]);
          }
          // A duplicate nextTokenHash throws here and the whole transaction rolls back: the
          // presented token stays current and the family as it was (nothing half-written).
          await tx.query(
            `INSERT INTO ${s}.refresh_tokens (token_hash, family_id, created_at, jkt) VALUES ($1, $2, $3, $4)`,
            [nextTokenHash, family.familyId, now, family.jkt ?? null],
          );
          return { outcome: 'rotated', family };
        }
        const seen = await tx.query<Row>(
          `SELECT t.rotated_at, t.jkt AS token_jkt, ${FAMILY_COLUMNS} FROM ${s}.refresh_tokens t JOIN ${s}.refresh_families f USING (family_id)
            WHERE t.token_hash = $1`,
          [tokenHash],
        );
        const token = seen.rows[0];
        if (!token) return { outcome: 'missing' };
        const current = token.rotated_at === null || token.rotated_at === undefined;
        // The key this token needs: the family's for the current token, the one in force when
        // it was issued for a retired one (a family bound later still lets the old unbound
        // tokens set off reuse detection, whoever presents them).
        const needs = opt(current ? token.jkt : token.token_jkt);
        if (key && needs !== undefined && needs !== key.jkt) return { outcome: 'mismatch', family: toFamily(token) };
        if (current) {
          // Current token of a revoked or expired family: behaves as absent.
          return { outcome: 'missing' };
        }
        // RFC 9700 §4.14.2: a retired refresh token came back, so either the client or an
        // attacker holds a stolen copy: revoke the whole family, in this same transaction.
        const revoked = await tx.query<Row>(
          `UPDATE ${s}.refresh_families f SET revoked_at = COALESCE(f.revoked_at, $2) WHERE f.family_id = $1 RETURNING ${FAMILY_COLUMNS}`,
          [String(token.family_id), now],
        );
        return revoked.rows[0] ? { outcome: 'reused', family: toFamily(revoked.rows[0]) } : { outcome: 'missing' };
      });
    },
    async revokeRefreshFamily(familyId, now) {
      await executor.query(`UPDATE ${s}.refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE family_id = $1`, [familyId, now]);
    },
    async revokeGrant(grantId, now) {
      await executor.query(`UPDATE ${s}.refresh_families SET revoked_at = COALESCE(revoked_at, $2) WHERE grant_id = $1`, [grantId, now]);
    },

    async revokeAccessToken(jti, expiresAt) {
      await executor.query(
        `INSERT INTO ${s}.revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
         ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(${s}.revoked_access_tokens.expires_at, EXCLUDED.expires_at)`,
        [jti, expiresAt],
      );
    },
    async isAccessTokenRevoked(jti, now) {
      const { rows } = await executor.query(`SELECT 1 FROM ${s}.revoked_access_tokens WHERE jti = $1 AND expires_at > $2`, [jti, now]);
      return rows.length > 0;
    },

    async listSigningKeys(now) {
      const { rows } = await executor.query<Row>(
        `SELECT * FROM ${s}.signing_keys WHERE expires_at > $1 ORDER BY activates_at DESC, kid`,
        [now],
      );
      return rows.map(toSigningKey);
    },
    async saveSigningKey(k) {
      await executor.query(
        `INSERT INTO ${s}.signing_keys (kid, alg, private_jwk, public_jwk, created_at, activates_at, retires_at, expires_at)
         VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb, $5, $6, $7, $8)
         ON CONFLICT (kid) DO UPDATE SET alg = EXCLUDED.alg, private_jwk = EXCLUDED.private_jwk,
           public_jwk = EXCLUDED.public_jwk, created_at = EXCLUDED.created_at, activates_at = EXCLUDED.activates_at,
           retires_at = EXCLUDED.retires_at, expires_at = EXCLUDED.expires_at`,
        [k.kid, k.alg, json(k.privateJwk), json(k.publicJwk), k.createdAt, k.activatesAt, k.retiresAt, k.expiresAt],
      );
    },

    async purgeExpired(now) {
      await executor.transaction(async (tx) => {
        await tx.query(`DELETE FROM ${s}.interactions WHERE expires_at <= $1 OR consumed_at IS NOT NULL`, [now]);
        await tx.query(`DELETE FROM ${s}.authorization_codes WHERE expires_at <= $1`, [now]);
        await tx.query(`DELETE FROM ${s}.pushed_requests WHERE expires_at <= $1 OR consumed_at IS NOT NULL`, [now]);
        await tx.query(`DELETE FROM ${s}.auth_sessions WHERE expires_at <= $1 OR consumed_at IS NOT NULL`, [now]);
        // refresh_tokens go with their family (ON DELETE CASCADE).
        await tx.query(`DELETE FROM ${s}.refresh_families WHERE expires_at <= $1`, [now]);
        await tx.query(`DELETE FROM ${s}.revoked_access_tokens WHERE expires_at <= $1`, [now]);
        await tx.query(`DELETE FROM ${s}.signing_keys WHERE expires_at <= $1`, [now]);
      });
    },
  };
}
