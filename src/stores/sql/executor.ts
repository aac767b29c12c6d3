/**
 * The one seam between the SQL storage and a database driver: run a statement, or run a
 * function inside a transaction. Two shims implement it (node-postgres and PGlite), so every
 * statement of the storage is written once and runs unchanged on both.
 *
 * @module
 */

/** Rows of one statement. */
export interface SqlResult<R> {
  rows: R[];
  /** Rows returned or changed (UPDATE/DELETE count). */
  rowCount: number;
}

/** Anything that runs a parameterised statement (the executor itself, or a transaction). */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<R>>;
}

export interface SqlExecutor extends Queryable {
  /**
   * Run `fn` inside BEGIN … COMMIT on one connection; ROLLBACK if it throws (the error is
   * rethrown). Statements of concurrent callers never interleave inside it.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
