/**
 * What the authorization server reads of a request. A web `Request` is one (`as.fetch` takes
 * any); the node and Express adapters pass a lighter one built straight from the
 * `IncomingMessage`, with no undici `Request`, `Headers`, `AbortSignal` or body stream (those
 * cost about as much CPU as checking the proof's signature, on every token request).
 *
 * @module
 */

/** The header lookups the server makes: case-insensitive, repeated fields joined with ", " (as `Headers` does). */
export interface AsRequestHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
}

export interface AsRequest {
  readonly method: string;
  /** The absolute URL (`origin` + path and query). */
  readonly url: string;
  readonly headers: AsRequestHeaders;
  /** The body as a web stream, or `null` (none, or read through `readBody`). */
  readonly body: ReadableStream<Uint8Array> | null;
  /**
   * The whole body, at most `max` bytes (an `OAuthError` 413 past it), when the transport reads
   * it itself; the server prefers it to `body`.
   */
  readBody?(max: number): Promise<Uint8Array>;
}
