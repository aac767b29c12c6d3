/**
 * Reading request headers the same way from a Web `Headers` and from a Node header record, so
 * repeated fields stay countable (RFC 9449 §4.3 (1), §7.2: more than one `DPoP` or
 * `Authorization` is an error, and must be seen as such).
 *
 * @module
 */
import type { HeadersLike } from './types.js';

/**
 * Every value of header `name` (lower-case). A Web `Headers` joins repeats with ", " (RFC 9110
 * §5.3), so callers must also treat a comma inside a value that cannot contain one as a repeat.
 */
export function headerValues(headers: HeadersLike, name: string): string[] {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    const value = (headers as Headers).get(name);
    return value === null ? [] : [value];
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let value = record[name];
  if (value === undefined) {
    // Records built by hand may not use lower-case names.
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === name) {
        value = record[key];
        break;
      }
    }
  }
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

/** The single value of a header, or `undefined` (first one when repeated; for non-security headers). */
export function headerValue(headers: HeadersLike, name: string): string | undefined {
  return headerValues(headers, name)[0];
}
