/**
 * CORS (Fetch standard §3.2.3): a browser script reads only the response headers named in
 * `Access-Control-Expose-Headers`, so a client on another origin can learn neither the
 * challenge (`WWW-Authenticate`) nor the next nonce (`DPoP-Nonce`, RFC 9449 §8, §9) unless
 * they are listed: on refusals AND on successes. The application may list headers of its own;
 * ours are merged in, never written over them.
 *
 * @module
 */

/** The header, as dpopkit writes it. */
export const EXPOSE_HEADER = 'Access-Control-Expose-Headers';

/** What a refusal exposes (its challenge, and a nonce when one is due). */
export const EXPOSED_ON_REFUSAL = 'WWW-Authenticate, DPoP-Nonce';

/** What a success exposes (the next nonce). */
export const EXPOSED_ON_SUCCESS = 'DPoP-Nonce';

/**
 * `existing` (an application's value: a string, repeated fields, or nothing) with the names of
 * `add` appended when missing; names compare case-insensitively, none is listed twice.
 */
export function mergeExposeHeaders(existing: string | number | readonly string[] | null | undefined, add: string): string {
  const names: string[] = [];
  const seen = new Set<string>();
  const take = (list: string) => {
    for (const item of list.split(',')) {
      const name = item.trim();
      if (name === '' || seen.has(name.toLowerCase())) continue;
      seen.add(name.toLowerCase());
      names.push(name);
    }
  };
  if (Array.isArray(existing)) for (const value of existing) take(String(value));
  else if (existing !== undefined && existing !== null) take(String(existing));
  take(add);
  return names.join(', ');
}

/** Whether `name` is `Access-Control-Expose-Headers` (any case). */
export function isExposeHeader(name: string): boolean {
  return name.toLowerCase() === 'access-control-expose-headers';
}
