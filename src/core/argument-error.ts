/**
 * Caller mistakes: a bad option, an argument of the wrong type, an unsupported key. They are
 * `TypeError`s carrying a Node-style `code` (as jose and oauth4webapi do), made here and nowhere
 * else, so every role reports them alike. A refused *request* is never one of these: it is the
 * role's own error (`DPoPError`, `ResourceServerError`, the authorization server's `OAuthError`).
 *
 * @module
 */

/** The codes dpopkit puts on caller mistakes (Node's own names where one fits). */
export type ArgumentErrorCode =
  /** A value of the right type that is not acceptable (the default). */
  | 'ERR_INVALID_ARG_VALUE'
  /** A value of the wrong type (a string where a function was expected, …). */
  | 'ERR_INVALID_ARG_TYPE'
  /** The resource server cannot tell which origin(s) it serves (see `ORIGIN_REQUIRED`). */
  | 'ERR_DPOPKIT_ORIGIN_REQUIRED';

/** A caller mistake: a `TypeError` with a stable `code`. */
export type ArgumentError = TypeError & { code: ArgumentErrorCode };

/**
 * Make the `TypeError` for a caller mistake.
 *
 * @example
 * ```ts
 * if (!Number.isInteger(step) || step < 1) throw invalidArgument('stepSeconds must be a positive integer');
 * ```
 */
export function invalidArgument(message: string, code: ArgumentErrorCode = 'ERR_INVALID_ARG_VALUE'): ArgumentError {
  const err = new TypeError(message) as ArgumentError;
  err.code = code;
  return err;
}
