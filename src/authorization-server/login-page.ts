/**
 * The sign-in page and the error page: plain HTML and inline CSS (the palette of the browser
 * demo), no script, every dynamic value escaped, served with headers that forbid framing
 * (clickjacking) and caching.
 *
 * @module
 */
import { AsResponse } from './as-response.js';

/** HTML-escape text for element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // No scripts at all; the form may post to this server only. Redirects after it are not limited
  // here, because browsers apply form-action to the redirect to the client as well. The one
  // image is the inline icon (so no /favicon.ico request, no CSP report).
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
};

/** A key on the demo's blue, inline (img-src data:). */
const ICON = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%232f5bea'/%3E%3Ccircle cx='11' cy='16' r='5' fill='none' stroke='%23fff' stroke-width='3'/%3E%3Cpath d='M16 16h11M23 16v5M27 16v4' fill='none' stroke='%23fff' stroke-width='3'/%3E%3C/svg%3E";

/** System fonts only, nothing fetched; the palette of the browser demo (demo/style.css). */
const STYLE = [
  ':root{--bg:#f5f6f8;--card:#fff;--ink:#1d2330;--muted:#5b6475;--line:#dde1e8;--accent:#2f5bea;--bad:#b42318;--bad-bg:#fdecea;--hint:#fff7e0;--hint-line:#f5d98b}',
  '*{box-sizing:border-box}',
  'body{margin:0;min-height:100vh;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI","DejaVu Sans",Roboto,sans-serif}',
  '.band{background:linear-gradient(135deg,#1d2a5b,#2f5bea);height:148px}',
  'main{max-width:420px;margin:-100px auto 32px;padding:0 16px}',
  '.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:26px 28px 22px;box-shadow:0 8px 24px rgba(16,24,40,.12)}',
  'h1{margin:0 0 6px;font-size:24px}',
  'p{margin:0 0 12px}',
  '.muted{color:var(--muted);margin-bottom:6px}',
  '.scopes{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 16px;padding:0;list-style:none}',
  '.scopes li{background:#eef1f6;border-radius:999px;padding:2px 10px;font:13px ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}',
  '.hint{background:var(--hint);border:1px solid var(--hint-line);border-radius:8px;padding:8px 12px;font-size:14px}',
  '.error{background:var(--bad-bg);color:var(--bad);border:1px solid #f3c1bb;border-radius:8px;padding:8px 12px;font-weight:600}',
  'label{display:block;margin:14px 0 4px;font-weight:600;font-size:14px}',
  'label small{font-weight:400;color:var(--muted);font-size:13px}',
  'input{width:100%;font:inherit;padding:9px 11px;border:1px solid #c5ccd8;border-radius:8px;background:#fff;color:var(--ink)}',
  'input:focus{outline:2px solid var(--accent);outline-offset:1px;border-color:var(--accent)}',
  '.actions{display:flex;gap:8px;margin-top:20px}',
  'button{font:inherit;font-weight:600;border:0;border-radius:8px;padding:9px 18px;cursor:pointer;background:var(--accent);color:#fff}',
  'button:hover{filter:brightness(1.08)}',
  'button.secondary{background:#e7ebf3;color:var(--ink)}',
  'code{background:#eef1f6;padding:1px 5px;border-radius:4px;font:13px ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}',
].join('');

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><link rel="icon" href="${ICON}"><style>${STYLE}</style></head><body><div class="band"></div><main><div class="card">${body}</div></main></body></html>`;
}

export interface LoginPageInput {
  action: string;
  csrf: string;
  clientName: string;
  scope: string;
  username?: string;
  error?: string;
  /** A line for every visitor, e.g. a demo's credentials (`loginHint` of the server). */
  hint?: string;
}

/** The sign-in form. The CSRF token travels in the form; the interaction id in a cookie. */
export function loginPage(input: LoginPageInput, status = 200, headers: Record<string, string> = {}): AsResponse {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const scopes = input.scope.split(' ').filter(Boolean);
  const scope = scopes.length ? `<p class="muted">It asks for:</p><ul class="scopes">${scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>` : '';
  const hint = input.hint ? `<p class="hint" role="note">${escapeHtml(input.hint)}</p>` : '';
  const html = page('Sign in', `<h1>Sign in</h1><p><strong>${escapeHtml(input.clientName)}</strong> wants to access your account.</p>${scope}${hint}${error}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="${escapeHtml(input.username ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<label for="otp">One-time code <small>(if your account has one)</small></label><input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6">
<div class="actions"><button type="submit" name="action" value="login">Sign in</button><button type="submit" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button></div>
</form>`);
  return new AsResponse(html, status, { ...HEADERS, ...headers });
}

/** When to try again, in words: `in 1 second`, `in 45 seconds`, `in 3 minutes` (rounded up). */
export function waitText(seconds: number): string {
  if (seconds < 60) return `in ${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** An error shown to the user instead of redirecting (unknown client, unregistered redirect URI, …). */
export function errorPage(status: number, error: string, description: string, headers: Record<string, string> = {}): AsResponse {
  const html = page('Authorization error', `<h1>Authorization error</h1><p><code>${escapeHtml(error)}</code></p><p>${escapeHtml(description)}</p>`);
  return new AsResponse(html, status, { ...HEADERS, ...headers });
}
