/**
 * AsResponse, what the endpoints answer with: the node:http and Express adapters write it as it
 * is, `as.fetch` turns it into a web Response. Both must say the same: status, every header
 * (each Set-Cookie apart, RFC 6265 §3), the body; HEAD keeps the headers and drops the body.
 */
import { describe, expect, it } from 'vitest';
import { AsResponse } from '../../src/authorization-server/as-response.js';

describe('AsResponse', () => {
  it('headers answer as Headers does: names case-insensitive, set replaces, append adds, repeats joined with ", " except Set-Cookie', () => {
    const r = new AsResponse('{}', 200, { 'Content-Type': 'application/json', Vary: 'Accept' });
    r.headers.append('vary', 'Origin');
    r.headers.set('CONTENT-TYPE', 'application/json;charset=UTF-8');
    r.headers.append('Set-Cookie', 'a=1; Path=/');
    r.headers.append('set-cookie', 'b=2; Path=/');
    expect([r.headers.get('VARY'), r.headers.get('content-type'), r.headers.has('Set-Cookie'), r.headers.get('missing')]).toEqual(['Accept, Origin', 'application/json;charset=UTF-8', true, null]);
    const seen: Array<[string, string]> = [];
    r.headers.forEach((value, name) => seen.push([name, value]));
    expect(seen).toEqual([
      ['content-type', 'application/json;charset=UTF-8'],
      ['vary', 'Accept, Origin'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; Path=/'],
    ]);
  });

  it('toResponse gives the web Response as.fetch returns: same status, headers (Set-Cookie apart) and body', async () => {
    const r = new AsResponse(JSON.stringify({ error: 'invalid_request', error_description: 'é' }), 400, { 'Cache-Control': 'no-store' });
    r.headers.append('Set-Cookie', 'a=1');
    r.headers.append('Set-Cookie', 'b=2');
    const web = r.toResponse();
    expect(web).toBeInstanceOf(Response);
    expect([web.status, web.headers.get('cache-control'), web.headers.getSetCookie()]).toEqual([400, 'no-store', ['a=1', 'b=2']]);
    expect(await web.json()).toEqual({ error: 'invalid_request', error_description: 'é' });
    const empty = new AsResponse(null, 302, { Location: '/next' }).toResponse();
    expect([empty.status, empty.headers.get('location'), empty.body]).toEqual([302, '/next', null]);
  });

  it('withoutBody (HEAD): the same status and headers, no content', () => {
    const r = new AsResponse('{"keys":[]}', 200, { 'Content-Type': 'application/jwk-set+json' });
    r.headers.append('Vary', 'Origin');
    const head = r.withoutBody();
    expect([head.status, head.body, head.headers.get('content-type'), head.headers.get('vary')]).toEqual([200, null, 'application/jwk-set+json', 'Origin']);
    expect(r.body).toBe('{"keys":[]}'); // the original is untouched
  });
});
