/**
 * The logger every role takes (`logger` of `createResourceServer` and
 * `createAuthorizationServer`): four levels, each called with an object of facts first and a
 * message second, the way pino (and bunyan) take them, so a pino logger or child fits as is.
 * Entries carry the stable `reason` of a refusal, never a token, a secret or a proof.
 *
 * @module
 */

/** A pino-compatible logger: only these four methods, only in the `(obj, msg)` form, are used. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default). */
export const SILENT_LOGGER: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });
