/**
 * `WWW-Authenticate` challenges (RFC 9449 §7.1, RFC 6750 §3, RFC 9110 §11.6.1): written by the
 * resource server, read by the client. Unknown parameters are kept by the parser and ignored by
 * callers, as §7.1 requires of recipients.
 *
 * @module
 */

export interface ChallengeParams {
  realm?: string;
  scope?: string;
  error?: string;
  error_description?: string;
  /** Space-delimited JWS algorithms the server accepts for proofs (RFC 9449 §7.1). */
  algs?: string;
  [param: string]: string | undefined;
}

export interface Challenge {
  /** Auth scheme as sent (compare case-insensitively). */
  scheme: string;
  /** Parameter names lower-cased. */
  params: Record<string, string>;
}

/** Characters allowed in `error_description` and `scope` values (RFC 6750 §3). */
const UNSAFE = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g;

/** Write one challenge, e.g. `DPoP error="invalid_token", algs="ES256"`. */
export function formatChallenge(scheme: string, params: ChallengeParams = {}): string {
  const parts: string[] = [];
  for (const name of ['realm', 'scope', 'error', 'error_description', 'algs']) {
    const value = params[name];
    if (value !== undefined) parts.push(`${name}="${value.replace(UNSAFE, '')}"`);
  }
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && !['realm', 'scope', 'error', 'error_description', 'algs'].includes(name)) {
      parts.push(`${name}="${value.replace(UNSAFE, '')}"`);
    }
  }
  return parts.length ? `${scheme} ${parts.join(', ')}` : scheme;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/**
 * Parse a `WWW-Authenticate` value (or several joined by commas) into challenges. Malformed
 * input yields the challenges read before the fault; it never throws.
 */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  let rest = header;
  let current: Challenge | undefined;
  const skip = (): void => { rest = rest.replace(/^[\s,]*/, ''); };
  skip();
  while (rest.length > 0) {
    const name = TOKEN.exec(rest)?.[0];
    if (!name) break;
    const afterName = rest.slice(name.length);
    const param = /^\s*=\s*/.exec(afterName);
    if (current && param && !/^\s*=\s*(,|$)/.test(afterName)) {
      // auth-param: name = token / quoted-string
      rest = afterName.slice(param[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        for (; i < rest.length && rest[i] !== '"'; i++) {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
        }
        rest = rest.slice(i + 1);
      } else {
        value = TOKEN.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.params[name.toLowerCase()] = value;
    } else {
      // a new challenge: scheme, then a token68 or auth-params
      current = { scheme: name, params: {} };
      out.push(current);
      rest = afterName.replace(/^[ \t]+/, '');
      const t68 = TOKEN68.exec(rest)?.[0];
      if (t68 && !/^\s*=/.test(rest.slice(TOKEN.exec(rest)?.[0].length ?? 0)) && /^(\s*(,|$))/.test(rest.slice(t68.length))) {
        current.params.token68 = t68;
        rest = rest.slice(t68.length);
      }
    }
    skip();
  }
  return out;
}

/** The first challenge of `scheme` (case-insensitive), if any. */
export function findChallenge(header: string | null | undefined, scheme: string): Challenge | undefined {
  const wanted = scheme.toLowerCase();
  return parseChallenges(header).find((c) => c.scheme.toLowerCase() === wanted);
}
