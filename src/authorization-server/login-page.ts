/**
 * The sign-in page and the error page: plain HTML, every dynamic value escaped, served with
 * headers that forbid framing (clickjacking) and caching.
 *
 * @module
 */

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
  // here, because browsers apply form-action to the redirect to the client as well.
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
};

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}';

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export interface LoginPageInput {
  action: string;
  csrf: string;
  clientName: string;
  scope: string;
  username?: string;
  error?: string;
}

/** The sign-in form. The CSRF token travels in the form; the interaction id in a cookie. */
export function loginPage(input: LoginPageInput, status = 200, headers: Record<string, string> = {}): Response {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  const scope = input.scope ? `<p>It asks for: <code>${escapeHtml(input.scope)}</code></p>` : '';
  const html = page('Sign in', `<h1>Sign in</h1><p><strong>${escapeHtml(input.clientName)}</strong> wants to access your account.</p>${scope}${error}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="${escapeHtml(input.username ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="action" value="login">Sign in</button> <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form>`);
  return new Response(html, { status, headers: { ...HEADERS, ...headers } });
}

/** When to try again, in words: `in 1 second`, `in 45 seconds`, `in 3 minutes` (rounded up). */
export function waitText(seconds: number): string {
  if (seconds < 60) return `in ${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** An error shown to the user instead of redirecting (unknown client, unregistered redirect URI, …). */
export function errorPage(status: number, error: string, description: string, headers: Record<string, string> = {}): Response {
  const html = page('Authorization error', `<h1>Authorization error</h1><p><code>${escapeHtml(error)}</code></p><p>${escapeHtml(description)}</p>`);
  return new Response(html, { status, headers: { ...HEADERS, ...headers } });
}
