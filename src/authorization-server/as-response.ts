/**
 * What the authorization server's endpoints answer with: a status, headers and a body already in
 * memory (every answer is a small JSON document, an HTML page or nothing).
 *
 * `as.fetch` turns it into a web `Response`, so users of the Fetch API see no difference. The
 * node:http and Express adapters write it to the socket as it is: building an undici `Response`
 * (its `Headers`, a `ReadableStream` over the body) and reading it back cost them 15–30 µs per
 * request, a tenth of a token request's CPU time. The counterpart of {@link AsRequest}.
 *
 * @module
 */

/** Header fields with `Headers`' semantics: names case-insensitive, `set` replaces, `append` adds. */
export class AsResponseHeaders {
  /** Lower-cased name → values in order (several only when appended). */
  readonly #fields = new Map<string, string[]>();

  constructor(init: Record<string, string> = {}) {
    for (const name of Object.keys(init)) this.#fields.set(name.toLowerCase(), [init[name]!]);
  }

  /** The field's value, repeats joined with ", " as `Headers.get` joins them; null when absent. */
  get(name: string): string | null {
    return this.#fields.get(name.toLowerCase())?.join(', ') ?? null;
  }

  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase());
  }

  set(name: string, value: string): void {
    this.#fields.set(name.toLowerCase(), [value]);
  }

  append(name: string, value: string): void {
    const values = this.#fields.get(name.toLowerCase());
    if (values) values.push(value);
    else this.#fields.set(name.toLowerCase(), [value]);
  }

  /**
   * Each field once, repeats joined, except `Set-Cookie`, whose values come one by one (RFC 6265
   * §3: they cannot be joined), as iterating `Headers` yields them.
   */
  forEach(callback: (value: string, name: string) => void): void {
    for (const [name, values] of this.#fields) {
      if (name === 'set-cookie') for (const value of values) callback(value, name);
      else callback(values.join(', '), name);
    }
  }
}

export class AsResponse {
  readonly headers: AsResponseHeaders;

  /** `body`: the whole body (UTF-8 text), or null for none. */
  constructor(
    readonly body: string | null,
    readonly status = 200,
    headers: Record<string, string> = {},
  ) {
    this.headers = new AsResponseHeaders(headers);
  }

  /** The same answer without its content (RFC 9110 §9.3.2: HEAD is GET without it). */
  withoutBody(): AsResponse {
    const bare = new AsResponse(null, this.status);
    this.headers.forEach((value, name) => bare.headers.append(name, value));
    return bare;
  }

  /** The web `Response` `as.fetch` returns. */
  toResponse(): Response {
    const headers = new Headers();
    this.headers.forEach((value, name) => headers.append(name, value));
    return new Response(this.body, { status: this.status, headers });
  }
}

/**
 * Where the node:http and Express adapters ask for the answer before it becomes a web
 * `Response` (a member of the server object under this symbol; not part of the public API).
 */
export const answerDirectly: unique symbol = Symbol('dpopkit.authorizationServer.answerDirectly');
