/**
 * The request a proof is for, as flags (`proof`, `verify`, `request`): checked before anything
 * is signed or sent, since a proof for `htu=/api/x` or `htm=get` can never verify anywhere.
 *
 * @module
 */
import { usage } from './output.js';

/** RFC 9110 §5.6.2 `token` (a method is a token, §9.1). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * An HTTP method for `htm`. Methods are case-sensitive (RFC 9110 §9.1) and `htm` is compared
 * exactly (RFC 9449 §4.3 (8)), so `get` is refused with the likely intent rather than turned
 * into a proof no server accepts.
 */
export function parseMethod(value: string, flag = '--method'): string {
  if (!TOKEN.test(value)) {
    throw usage(`${flag} ${JSON.stringify(value)} is not an HTTP method: a method is a token (RFC 9110 §9.1), e.g. GET, POST, PUT, DELETE`);
  }
  if (value !== value.toUpperCase()) {
    throw usage(`${flag} ${value}: methods are case-sensitive (RFC 9110 §9.1) and servers compare htm exactly; did you mean ${value.toUpperCase()}?`);
  }
  return value;
}

/** An absolute http(s) URL for `htu` (RFC 9449 §4.2: the target URI, without query and fragment). */
export function parseHttpUrl(value: string, flag = '--url'): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw usage(`${flag} ${JSON.stringify(value)} is not an absolute http:// or https:// URL (htu is the full URL the server sees, e.g. https://api.example.com/notes)`);
  }
  return url;
}
