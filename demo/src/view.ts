/**
 * DOM helpers for the demo page: find elements by id, show JSON with one member highlighted,
 * and render a sent DPoP proof (decoded header and claims). All text goes in through
 * `textContent`, never `innerHTML`: values from servers are data, not markup.
 *
 * @module
 */
import { decodeJws } from './decode.js';

/** The element with this id; throws when the page lacks it (a build mistake, not a user one). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Show or hide an element. */
export function reveal(element: HTMLElement, visible = true): void {
  element.hidden = !visible;
}

/** A status line: text plus an ok/bad colour. */
export function setStatus(element: HTMLElement, text: string, tone: 'ok' | 'bad' | 'info' = 'info'): void {
  element.textContent = text;
  element.classList.toggle('ok', tone === 'ok');
  element.classList.toggle('bad', tone === 'bad');
}

/**
 * Pretty JSON in a `<pre>`, with the line(s) holding `highlight` (a member name, e.g. `jkt`)
 * wrapped in `<mark>`.
 */
export function showJson(pre: HTMLElement, value: unknown, highlight?: string): void {
  pre.replaceChildren();
  const text = JSON.stringify(value, null, 2) ?? String(value);
  if (!highlight) {
    pre.textContent = text;
    return;
  }
  const needle = `"${highlight}":`;
  for (const [i, line] of text.split('\n').entries()) {
    if (i > 0) pre.append('\n');
    if (line.trimStart().startsWith(needle)) {
      const mark = document.createElement('mark');
      mark.textContent = line;
      pre.append(mark);
    } else {
      pre.append(line);
    }
  }
}

/** One proof the client sent, as reported by the client's `onProof` hook. */
export interface SentProof {
  method: string;
  url: string;
  proof: string;
}

/**
 * Append a card for a sent proof: method, URL, whether it carried a server nonce (the retry after
 * `use_dpop_nonce`, RFC 9449 §8/§9), its header (with the public `jwk`) and its claims.
 */
export function appendProof(list: HTMLElement, sent: SentProof): void {
  const decoded = decodeJws(sent.proof);
  const index = list.childElementCount + 1;
  const card = document.createElement('div');
  card.className = 'proof';
  card.dataset.testid = 'proof';
  const hasNonce = typeof decoded?.claims.nonce === 'string';
  card.dataset.nonce = hasNonce ? 'yes' : 'no';

  const meta = document.createElement('div');
  meta.className = 'meta';
  const what = document.createElement('b');
  what.textContent = `#${index} ${sent.method} ${sent.url}`;
  const tag = document.createElement('span');
  tag.className = `tag ${hasNonce ? 'retry' : 'first'}`;
  tag.textContent = hasNonce
    ? index > 1 ? 'retried with the server nonce' : 'carries the server nonce'
    : 'no nonce yet';
  meta.append(what, tag);

  const cols = document.createElement('div');
  cols.className = 'cols';
  const header = document.createElement('pre');
  const claims = document.createElement('pre');
  if (decoded) {
    showJson(header, decoded.header);
    showJson(claims, decoded.claims, hasNonce ? 'nonce' : 'htu');
  } else {
    header.textContent = sent.proof;
  }
  cols.append(header, claims);
  card.append(meta, cols);
  list.append(card);
}

/** What came back for the request a proof was sent with. */
export interface ProofAnswer {
  status: number;
  challenge: string | null;
  nonce: string | null;
}

/**
 * Note the answer under the latest proof card: its status, and the `WWW-Authenticate` challenge
 * and `DPoP-Nonce` that explain a retry (RFC 9449 §7.1, §8, §9).
 */
export function appendAnswer(list: HTMLElement, answer: ProofAnswer): void {
  const card = list.lastElementChild as HTMLElement | null;
  if (!card) return;
  card.dataset.responseStatus = String(answer.status);
  const line = document.createElement('div');
  line.className = `answer ${answer.status < 400 ? 'ok' : 'bad'}`;
  const parts = [`→ ${answer.status}`];
  if (answer.challenge) parts.push(`WWW-Authenticate: ${answer.challenge}`);
  if (answer.nonce) parts.push(`DPoP-Nonce: ${answer.nonce}`);
  line.textContent = parts.join('  ·  ');
  card.append(line);
}
