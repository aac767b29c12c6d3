/**
 * The environment variables `dpopkit serve` reads on top of its configuration file (listed in
 * `--help` without loading the configuration's validator).
 *
 * @module
 */

/** Environment variables that override the file (twelve-factor style deployments). */
export const ENVIRONMENT = {
  DATABASE_URL: 'use PostgreSQL at this URL instead of the storage in the file',
  DPOPKIT_DATA_DIR: 'use embedded PGlite persisting to this directory',
  REDIS_URL: 'use a Redis replay cache at this URL (shared by a fleet)',
  DPOPKIT_NONCE_SECRET: 'HMAC secret for stateless DPoP nonces (dpop.nonce.secret of every server whose nonces are on), at least 32 bytes (share it across a fleet)',
  DPOPKIT_LOG_LEVEL: 'log level (fatal, error, warn, info, debug, trace, silent)',
  DPOPKIT_LOG_FORMAT: 'log lines: pretty (for people), json (pino), auto (pretty on a terminal; default)',
} as const;
