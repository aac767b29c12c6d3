/**
 * Schema of the SQL storage, as numbered migrations, and `migrate()`.
 *
 * Times are BIGINT epoch seconds (the port's convention); structured values are jsonb.
 * Secrets never appear: ids of codes, PAR requests, interactions and refresh tokens are the
 * SHA-256 the server computes.
 *
 * @module
 */
import type { Queryable, SqlExecutor } from './executor.js';
import { invalidArgument } from '../../core/argument-error.js';

/** A PostgreSQL identifier we are willing to interpolate (quoted) into SQL. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Validate and quote a schema name. */
export function quoteSchema(schema: string): string {
  if (!IDENTIFIER.test(schema)) throw invalidArgument(`schema must match ${IDENTIFIER} (got ${JSON.stringify(schema)})`);
  return `"${schema}"`;
}

/**
 * Migration `i` brings the schema to version `i + 1`. Never edit a shipped one: append. A
 * migration is SQL statements separated by `;`, or a list of statements when one holds a `;`
 * itself (a function's body).
 */
export const MIGRATIONS: ReadonlyArray<(s: string) => string | string[]> = [
  (s) => `
    CREATE TABLE ${s}.clients (
      client_id text PRIMARY KEY,
      client_name text,
      token_endpoint_auth_method text NOT NULL,
      client_secret_hash text,
      jwks jsonb,
      redirect_uris jsonb NOT NULL,
      grant_types jsonb NOT NULL,
      scope text NOT NULL,
      dpop_bound_access_tokens boolean NOT NULL
    );
    CREATE TABLE ${s}.interactions (
      id text PRIMARY KEY,
      client_id text NOT NULL,
      params jsonb NOT NULL,
      csrf_hash text NOT NULL,
      expires_at bigint NOT NULL,
      consumed_at bigint
    );
    CREATE INDEX interactions_expires_at ON ${s}.interactions (expires_at);
    CREATE TABLE ${s}.authorization_codes (
      id text PRIMARY KEY,
      client_id text NOT NULL,
      subject text NOT NULL,
      redirect_uri text NOT NULL,
      scope text NOT NULL,
      code_challenge text NOT NULL,
      code_challenge_method text NOT NULL,
      dpop_jkt text,
      nonce text,
      auth_time bigint NOT NULL,
      expires_at bigint NOT NULL,
      consumed_at bigint
    );
    CREATE INDEX authorization_codes_expires_at ON ${s}.authorization_codes (expires_at);
    CREATE TABLE ${s}.pushed_requests (
      id text PRIMARY KEY,
      client_id text NOT NULL,
      params jsonb NOT NULL,
      expires_at bigint NOT NULL,
      consumed_at bigint
    );
    CREATE INDEX pushed_requests_expires_at ON ${s}.pushed_requests (expires_at);
    CREATE TABLE ${s}.refresh_families (
      family_id text PRIMARY KEY,
      client_id text NOT NULL,
      subject text NOT NULL,
      scope text NOT NULL,
      jkt text,
      grant_id text,
      auth_time bigint NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      revoked_at bigint
    );
    CREATE INDEX refresh_families_grant_id ON ${s}.refresh_families (grant_id);
    CREATE INDEX refresh_families_expires_at ON ${s}.refresh_families (expires_at);
    CREATE TABLE ${s}.refresh_tokens (
      token_hash text PRIMARY KEY,
      family_id text NOT NULL REFERENCES ${s}.refresh_families (family_id) ON DELETE CASCADE,
      created_at bigint NOT NULL,
      rotated_at bigint
    );
    CREATE INDEX refresh_tokens_family_id ON ${s}.refresh_tokens (family_id);
    CREATE TABLE ${s}.revoked_access_tokens (
      jti text PRIMARY KEY,
      expires_at bigint NOT NULL
    );
    CREATE INDEX revoked_access_tokens_expires_at ON ${s}.revoked_access_tokens (expires_at);
    CREATE TABLE ${s}.signing_keys (
      kid text PRIMARY KEY,
      alg text NOT NULL,
      private_jwk jsonb NOT NULL,
      public_jwk jsonb NOT NULL,
      created_at bigint NOT NULL,
      activates_at bigint NOT NULL,
      retires_at bigint NOT NULL,
      expires_at bigint NOT NULL
    );`,
  // 2: the SQL replay cache (RFC 9449 §11.1) for fleets that share PostgreSQL but not Redis.
  (s) => `
    CREATE TABLE ${s}.replay_cache (
      key text PRIMARY KEY,
      expires_at bigint NOT NULL
    );
    CREATE INDEX replay_cache_expires_at ON ${s}.replay_cache (expires_at);`,
  // 3: each refresh token remembers the key its family was bound to when it was issued (RFC 9449
  // §5), so a family bound at a later refresh still tells an old unbound token (reuse: revoke)
  // from a bound one presented without its key (refuse, change nothing). Existing tokens of
  // bound families were all issued bound.
  (s) => `
    ALTER TABLE ${s}.refresh_tokens ADD COLUMN jkt text;
    UPDATE ${s}.refresh_tokens t SET jkt = f.jkt FROM ${s}.refresh_families f
      WHERE f.family_id = t.family_id AND f.jkt IS NOT NULL;`,
  // 4: failed sign-ins and client authentications per username, address and client_id (the
  // throttle's AttemptStore), shared by every server on this database. Usernames and client ids
  // are stored as SHA-256 (people type passwords into the username field); addresses as they are.
  (s) => `
    CREATE TABLE ${s}.attempts (
      key text PRIMARY KEY,
      failures integer NOT NULL,
      blocked_until bigint NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE INDEX attempts_expires_at ON ${s}.attempts (expires_at);`,
  // 5: first-party sign-in (draft-ietf-oauth-first-party-apps). Codes of the challenge endpoint
  // have no redirect URI and PKCE only if the flow had it; codes and refresh families carry the
  // sign-in's acr (RFC 9470) and amr (RFC 8176). auth_sessions are stored by their SHA-256, each
  // used once; totp_steps keeps each user's last accepted TOTP step (RFC 6238 §5.2).
  (s) => `
    ALTER TABLE ${s}.authorization_codes
      ALTER COLUMN redirect_uri DROP NOT NULL,
      ALTER COLUMN code_challenge DROP NOT NULL,
      ALTER COLUMN code_challenge_method DROP NOT NULL,
      ADD COLUMN challenge boolean NOT NULL DEFAULT false,
      ADD COLUMN acr text,
      ADD COLUMN amr jsonb;
    ALTER TABLE ${s}.refresh_families ADD COLUMN acr text, ADD COLUMN amr jsonb;
    CREATE TABLE ${s}.auth_sessions (
      id text PRIMARY KEY,
      flow_id text NOT NULL,
      client_id text NOT NULL,
      jkt text NOT NULL,
      stage text NOT NULL,
      username text,
      params jsonb NOT NULL,
      amr jsonb NOT NULL,
      acr text,
      auth_time bigint,
      failures integer NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      consumed_at bigint
    );
    CREATE INDEX auth_sessions_expires_at ON ${s}.auth_sessions (expires_at);
    CREATE TABLE ${s}.totp_steps (
      subject text PRIMARY KEY,
      last_step bigint NOT NULL
    );`,
  // 6: resource indicators (RFC 8707) and dynamic client registration (RFC 7591). A client that
  // registered itself has registered_at (configured clients never do, so a count of registered
  // clients is a count of rows with it); codes and refresh families keep the resources granted.
  (s) => `
    ALTER TABLE ${s}.clients ADD COLUMN resources jsonb, ADD COLUMN jwks_uri text, ADD COLUMN registered_at bigint;
    CREATE INDEX clients_registered_at ON ${s}.clients (registered_at) WHERE registered_at IS NOT NULL;
    ALTER TABLE ${s}.authorization_codes ADD COLUMN resources jsonb;
    ALTER TABLE ${s}.refresh_families ADD COLUMN resources jsonb;`,
  // 7: the replay-cache quota (RFC 9449 §11.1) shared by a fleet on PostgreSQL: live entries per
  // holder (stored as its SHA-256), counted by the second they expire. replay_quota_take runs in
  // the database, so one round trip takes a whole batch: it locks every holder of the batch
  // (transaction-scoped advisory locks, taken in one global order, so concurrent batches never
  // deadlock), then for each take in turn counts the holder's live entries and adds one only
  // below its limit. Each statement after the locks (a VOLATILE function's statements each take
  // a fresh snapshot) sees every take committed before them, and the batch's own earlier takes,
  // so concurrent takes from any number of servers never pass a limit. Per take it answers 0
  // (taken) or when the holder's oldest entry expires.
  (s) => [
    `CREATE TABLE ${s}.replay_quota (
      holder text NOT NULL,
      expires_at bigint NOT NULL,
      entries integer NOT NULL,
      PRIMARY KEY (holder, expires_at)
    )`,
    `CREATE INDEX replay_quota_expires_at ON ${s}.replay_quota (expires_at)`,
    `CREATE FUNCTION ${s}.replay_quota_take(p_holders text[], p_expires_at bigint[], p_now bigint[], p_limit integer[])
      RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      answers bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_holders)]);
      lock_key bigint;
      live bigint;
      oldest bigint;
    BEGIN
      -- A count lost in a database crash only lets a holder briefly past its quota, so this
      -- transaction does not wait for its commit to reach the disk (and holds the locks that
      -- much less); the replay cache's own transactions still do.
      PERFORM set_config('synchronous_commit', 'off', true);
      FOR lock_key IN
        SELECT DISTINCT hashtextextended('dpopkit:replay_quota:' || h, 0) FROM unnest(p_holders) AS h ORDER BY 1
      LOOP
        PERFORM pg_advisory_xact_lock(lock_key);
      END LOOP;
      FOR i IN 1 .. cardinality(p_holders) LOOP
        SELECT coalesce(sum(q.entries), 0), min(q.expires_at) INTO live, oldest
          FROM ${s}.replay_quota q WHERE q.holder = p_holders[i] AND q.expires_at > p_now[i] AND q.entries > 0;
        IF live >= p_limit[i] THEN
          answers[i] := oldest;
        ELSE
          INSERT INTO ${s}.replay_quota AS q (holder, expires_at, entries) VALUES (p_holders[i], p_expires_at[i], 1)
            ON CONFLICT (holder, expires_at) DO UPDATE SET entries = q.entries + 1;
        END IF;
      END LOOP;
      RETURN answers;
    END $$`,
  ],
];

/** The schema version this code expects. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Create or upgrade the schema, idempotently. One transaction holds a transaction-scoped
 * advisory lock keyed on the schema name, so processes starting together take turns: the
 * first applies the migrations, the others then find the version current and do nothing.
 * (Even `CREATE SCHEMA IF NOT EXISTS` races without the lock: both see "absent", one fails
 * on the catalog's unique index.)
 */
export async function migrate(executor: SqlExecutor, schema: string): Promise<void> {
  const s = quoteSchema(schema);
  await executor.transaction(async (tx: Queryable) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`dpopkit:migrate:${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
    );
    const { rows } = await tx.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${s}.schema_migrations`);
    const current = Number(rows[0]?.version ?? 0);
    if (current > SCHEMA_VERSION) {
      throw new Error(`schema ${schema} is at version ${current}, newer than this dpopkit (${SCHEMA_VERSION}); upgrade dpopkit`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      const migration = MIGRATIONS[v]!(s);
      for (const statement of typeof migration === 'string' ? splitStatements(migration) : migration) await tx.query(statement);
      await tx.query(`INSERT INTO ${s}.schema_migrations (version, applied_at) VALUES ($1, $2)`, [v + 1, Math.floor(Date.now() / 1000)]);
    }
  });
}

/** A migration given as one string has no `;` inside a literal or body, so a plain split is exact. */
function splitStatements(sql: string): string[] {
  return sql
    .split(';')
    .map((x) => x.trim())
    .filter(Boolean);
}
