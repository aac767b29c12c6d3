/**
 * The demo's settings, served by `dpopkit serve` at `/config.json` (from examples/demo.config.json),
 * so the same bundle runs on any ports.
 *
 * @module
 */

export interface DemoConfig {
  /** Authorization server issuer (RFC 8414 discovery starts here). */
  issuer: string;
  /** The protected demo API (`GET`, DPoP required, nonces on). */
  api: string;
  /** The public client registered for this page (token_endpoint_auth_method none). */
  clientId: string;
  /** This page's callback, registered at the authorization server. */
  redirectUri: string;
  /** Scope to ask for. */
  scope: string;
}

const FIELDS = ['issuer', 'api', 'clientId', 'redirectUri', 'scope'] as const;

/** Fetch and check `/config.json`; throws an Error naming what is wrong. */
export async function loadConfig(url = '/config.json'): Promise<DemoConfig> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' } });
  } catch (cause) {
    throw new Error(`could not fetch ${url}: ${(cause as Error).message}`);
  }
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const value = (await response.json().catch(() => null)) as Record<string, unknown> | null;
  if (!value || typeof value !== 'object') throw new Error(`${url} is not a JSON object`);
  for (const field of FIELDS) {
    if (typeof value[field] !== 'string' || value[field] === '') throw new Error(`${url} lacks "${field}"`);
  }
  return value as unknown as DemoConfig;
}
