import { describe, expect, it } from 'vitest';
import { htuMatches, normalizeHtu, stripQueryAndFragment } from '../../src/core/htu.js';

describe('RFC 9449 §4.3 (9) htu normalisation (RFC 3986 §6.2.2–6.2.3)', () => {
  const same: Array<[string, string, string]> = [
    ['scheme and host case (§6.2.2.1)', 'HTTPS://API.Example.COM/a', 'https://api.example.com/a'],
    ['default https port (§6.2.3)', 'https://api.example.com:443/a', 'https://api.example.com/a'],
    ['default http port (§6.2.3)', 'http://api.example.com:80/a', 'http://api.example.com/a'],
    ['empty path is "/" (§6.2.3)', 'https://api.example.com', 'https://api.example.com/'],
    ['percent-encoding case (§6.2.2.1)', 'https://api.example.com/a%2fb', 'https://api.example.com/a%2Fb'],
    ['unreserved percent-encodings decoded (§6.2.2.2)', 'https://api.example.com/%7Euser/%41', 'https://api.example.com/~user/A'],
    ['query and fragment ignored (§4.3 (9))', 'https://api.example.com/a?x=1#frag', 'https://api.example.com/a'],
  ];
  for (const [name, a, b] of same) {
    it(`equal: ${name}`, () => {
      expect(normalizeHtu(a)).toBe(normalizeHtu(b));
      expect(htuMatches(a, b)).toBe(true);
    });
  }

  const different: Array<[string, string, string]> = [
    ['another path', 'https://api.example.com/a', 'https://api.example.com/b'],
    ['another scheme', 'http://api.example.com/a', 'https://api.example.com/a'],
    ['another port', 'https://api.example.com:8443/a', 'https://api.example.com/a'],
    ['another host', 'https://api.example.org/a', 'https://api.example.com/a'],
    ['path case is significant', 'https://api.example.com/A', 'https://api.example.com/a'],
    ['reserved percent-encoding is not decoded', 'https://api.example.com/a%2Fb', 'https://api.example.com/a/b'],
    ['trailing slash is significant', 'https://api.example.com/a/', 'https://api.example.com/a'],
    // §6.2.2.3 is not applied: routers match raw paths, so "/a/b/../c" is not "/a/c" to them
    ['dot segments are not removed', 'https://api.example.com/a/./b/../c', 'https://api.example.com/a/c'],
    ['percent-encoded dot segments are not removed', 'https://api.example.com/a/%2e%2E/c', 'https://api.example.com/c'],
    ['a request URI with dot segments never matches a clean htu', 'https://api.example.com/c', 'https://api.example.com/a/../c'],
    ['backslash dot segments are not removed', 'https://api.example.com/a\\..\\c', 'https://api.example.com/c'],
  ];
  for (const [name, a, b] of different) {
    it(`different: ${name}`, () => expect(htuMatches(a, b)).toBe(false));
  }

  it('non-http(s) or relative URIs never match', () => {
    expect(normalizeHtu('ftp://x/a')).toBeNull();
    expect(normalizeHtu('/relative')).toBeNull();
    expect(htuMatches('/relative', '/relative')).toBe(false);
    expect(htuMatches('javascript:alert(1)', 'javascript:alert(1)')).toBe(false);
  });

  it('stripQueryAndFragment handles "#" before "?"', () => {
    expect(stripQueryAndFragment('https://a/b#c?d')).toBe('https://a/b');
    expect(stripQueryAndFragment('https://a/b?c#d')).toBe('https://a/b');
  });
});
