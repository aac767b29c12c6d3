/** Test support: a resource server wired to a test authorization server, with a recording logger. */
import { createResourceServer, type ResourceServer, type ResourceServerOptions } from '../../../src/resource-server/index.js';
import type { AuthServer } from './auth-server.js';

export interface LogEntry {
  level: 'info' | 'warn' | 'debug' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}

export interface TestRs {
  rs: ResourceServer;
  logs: LogEntry[];
  /** `reason` of the last refusal logged. */
  lastReason(): unknown;
}

export const AUDIENCE = 'https://api.example.com';

/**
 * The origins test resource servers serve: the audience's host on its default ports (hand-built
 * requests, https or http) and loopback on any port (the HTTP test servers listen on 127.0.0.1:0).
 */
export const TEST_HOSTS = ['https://api.example.com', 'http://api.example.com', '127.0.0.1'];

export function testRs(as: AuthServer, options: Partial<ResourceServerOptions> = {}): TestRs {
  const logs: LogEntry[] = [];
  const logger = {
    info: (obj: object, msg?: string) => void logs.push({ level: 'info', obj: obj as Record<string, unknown>, ...(msg ? { msg } : {}) }),
    warn: (obj: object, msg?: string) => void logs.push({ level: 'warn', obj: obj as Record<string, unknown>, ...(msg ? { msg } : {}) }),
    debug: (obj: object, msg?: string) => void logs.push({ level: 'debug', obj: obj as Record<string, unknown>, ...(msg ? { msg } : {}) }),
    error: (obj: object, msg?: string) => void logs.push({ level: 'error', obj: obj as Record<string, unknown>, ...(msg ? { msg } : {}) }),
  };
  const origin = options.publicUrl !== undefined || options.allowedHosts !== undefined || options.dangerouslyTrustHostHeader ? {} : { allowedHosts: TEST_HOSTS };
  const rs = createResourceServer({ issuer: as.url, audience: AUDIENCE, logger, ...origin, ...options });
  return {
    rs,
    logs,
    lastReason: () => [...logs].reverse().find((l) => 'reason' in l.obj)?.obj.reason,
  };
}
