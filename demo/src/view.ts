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

/** JWT claims that hold a time in epoch seconds (RFC 7519 §4.1.4–4.1.6, OIDC `auth_time`). */
const TIME_CLAIMS = new Set(['iat', 'exp', 'nbf', 'auth_time']);

/** `2026-12-01 21:40:03 UTC (in 5 min)`: an epoch time as people read it, and how far from now. */
export function describeTime(epochSeconds: number, nowMs = Date.now()): string {
  const iso = new Date(epochSeconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC (${relativeTime(epochSeconds - nowMs / 1000)})`;
}

function relativeTime(seconds: number): string {
  const s = Math.round(seconds);
  if (Math.abs(s) < 5) return 'now';
  const [n, unit] = Math.abs(s) < 60 ? [Math.abs(s), 's'] : Math.abs(s) < 3600 ? [Math.round(Math.abs(s) / 60), 'min'] : Math.abs(s) < 86400 ? [Math.round(Math.abs(s) / 3600), 'h'] : [Math.round(Math.abs(s) / 86400), 'd'];
  return s > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

/** Bring every time note on the page up to date ("in 5 min" becomes "in 4 min"). */
export function refreshTimes(root: ParentNode = document): void {
  for (const note of root.querySelectorAll<HTMLElement>('.when[data-epoch]')) note.textContent = `  // ${describeTime(Number(note.dataset.epoch))}`;
}

/**
 * Pretty JSON in a `<pre class="json">`, one member per line. Each line is its own block with a
 * hanging indent, so a value too long for the block wraps inside the string, under its member,
 * never back at the left edge; a short member never breaks. The line(s) holding `highlight` (a
 * member name, e.g. `jkt`) are wrapped in `<mark>`, and each time claim (`iat`, `exp`, …) is
 * followed by a note with its date and how far from now. The exact JSON is kept in `data-json`
 * (the notes are not JSON).
 */
export function showJson(pre: HTMLElement, value: unknown, highlight?: string): void {
  pre.replaceChildren();
  pre.classList.add('json');
  const text = JSON.stringify(value, null, 2) ?? String(value);
  pre.dataset.json = text;
  const needle = highlight ? `"${highlight}":` : undefined;
  for (const line of text.split('\n')) {
    const row = lineRow(line);
    const rest = line.trimStart();
    if (needle && rest.startsWith(needle)) {
      const mark = document.createElement('mark');
      mark.textContent = rest;
      row.append(mark);
    } else {
      row.append(rest);
    }
    const time = /^\s*"([a-z_]+)": (\d{9,11}),?$/.exec(line);
    if (time && TIME_CLAIMS.has(time[1]!)) {
      const note = document.createElement('span');
      note.className = 'when';
      note.dataset.epoch = time[2]!;
      note.dataset.claim = time[1]!;
      note.textContent = `  // ${describeTime(Number(time[2]))}`;
      row.append(note);
    }
    pre.append(row);
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
    cols.append(labelled('JOSE header', header), labelled('claims', claims));
  } else {
    header.textContent = sent.proof;
    cols.append(header);
  }
  card.append(meta, cols);
  list.append(card);
}

/** A block with a small caption above it. */
function labelled(caption: string, block: HTMLElement): HTMLElement {
  const figure = document.createElement('div');
  const label = document.createElement('p');
  label.className = 'label';
  label.textContent = caption;
  figure.append(label, block);
  return figure;
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
  const box = document.createElement('div');
  box.className = `answer ${answer.status < 400 ? 'ok' : 'bad'}`;
  const lines = [`→ ${answer.status}`];
  if (answer.challenge) lines.push(...challengeLines(answer.challenge).map((line, i) => (i === 0 ? `  WWW-Authenticate: ${line}` : `      ${line}`)));
  if (answer.nonce) lines.push(`  DPoP-Nonce: ${answer.nonce}`);
  showLines(box, lines);
  card.append(box);
}

/**
 * A `WWW-Authenticate` value one auth-param per line (`DPoP error="…",` then `  algs="…"`), the
 * way a person reads it; split only at a comma that starts a new `name=`, never inside a
 * quoted string.
 */
export function challengeLines(header: string): string[] {
  const lines: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i]!;
    if (c === '"' && header[i - 1] !== '\\') quoted = !quoted;
    if (c === ',' && !quoted && /^\s*[A-Za-z0-9_-]+=/.test(header.slice(i + 1))) {
      lines.push(`${current},`);
      current = '';
      i += header.slice(i + 1).length - header.slice(i + 1).trimStart().length;
      continue;
    }
    current += c;
  }
  lines.push(current);
  return lines.map((line, i) => (i === 0 ? line : `  ${line}`));
}

/**
 * Lines in an element, each its own block with a hanging indent (see `pre.json .ln` in the
 * CSS): a line too long wraps under itself, never back at the left edge.
 */
export function showLines(element: HTMLElement, lines: readonly string[]): void {
  element.replaceChildren(...lines.map((line) => {
    const row = lineRow(line);
    row.append(line.trimStart());
    return row;
  }));
}

/**
 * One line's block, holding its indentation so far. The indentation is kept as spaces (copied
 * text stays the same), in a span that cannot wrap: a line never breaks right after its indent.
 */
function lineRow(line: string): HTMLElement {
  const row = document.createElement('span');
  row.className = 'ln';
  const indent = line.length - line.trimStart().length;
  row.style.setProperty('--indent', String(indent));
  if (indent > 0) {
    const space = document.createElement('span');
    space.className = 'indent';
    space.textContent = ' '.repeat(indent);
    row.append(space);
  }
  return row;
}
