/**
 * `dpopkit serve`'s log lines: human lines on a terminal, pino's JSON lines otherwise (or as
 * `log.format` says). The formatter is the CLI's own (no pino-pretty).
 */
import { describe, expect, it } from 'vitest';
import { createLogger, prettyLine, resolveLogFormat } from '../../src/cli/serve/logger.js';

function capture(isTTY: boolean) {
  const lines: string[] = [];
  return { isTTY, write: (text: string) => { lines.push(text); return true; }, lines };
}

describe('dpopkit serve log', () => {
  it('auto: pretty on a terminal, JSON lines otherwise; an explicit format wins', () => {
    expect(resolveLogFormat('auto', { isTTY: true, write: () => true })).toBe('pretty');
    expect(resolveLogFormat('auto', { isTTY: false, write: () => true })).toBe('json');
    expect(resolveLogFormat('auto', { write: () => true })).toBe('json');
    expect(resolveLogFormat('json', { isTTY: true, write: () => true })).toBe('json');
    expect(resolveLogFormat('pretty', { write: () => true })).toBe('pretty');
  });

  it('a pino line in pretty form: time, level, role, message, facts as key=value (quoted only when needed)', () => {
    const time = Date.UTC(2026, 11, 1, 21, 40, 3, 512);
    const json = JSON.stringify({ level: 30, time, role: 'authorization-server', endpoint: 'token', error: 'invalid_grant', reason: 'code_used', status: 400, msg: 'request refused' });
    expect(prettyLine(json)).toBe('21:40:03.512 INFO  authorization-server  request refused  endpoint=token error=invalid_grant reason=code_used status=400\n');
    const debug = JSON.stringify({ level: 20, time, role: 'resource-server', reason: 'nonce_missing', detail: { expected: 'a b' }, msg: 'dpop: nonce challenge (use_dpop_nonce)' });
    expect(prettyLine(debug)).toBe('21:40:03.512 DEBUG resource-server  dpop: nonce challenge (use_dpop_nonce)  reason=nonce_missing detail={"expected":"a b"}\n');
    expect(prettyLine(JSON.stringify({ level: 40, time, user: 'alice smith', msg: 'plain password' }))).toBe('21:40:03.512 WARN  plain password  user="alice smith"\n');
    expect(prettyLine('not json')).toBe('not json\n');
  });

  it('errors: the message as err=…, the stack under error and fatal lines only', () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at a (x.js:1:1)' };
    expect(prettyLine(JSON.stringify({ level: 50, time: 0, err, msg: 'close failed' }))).toBe('00:00:00.000 ERROR close failed  err=boom\n    at a (x.js:1:1)\n');
    expect(prettyLine(JSON.stringify({ level: 40, time: 0, err, msg: 'retrying' }))).toBe('00:00:00.000 WARN  retrying  err=boom\n');
  });

  it('createLogger writes pretty lines to a terminal (colour unless NO_COLOR) and JSON lines elsewhere', () => {
    const tty = capture(true);
    createLogger({ level: 'info', format: 'auto' }, tty, {}).child({ role: 'resource-server' }).info({ status: 401 }, 'dpop: request refused');
    expect(tty.lines).toHaveLength(1);
    expect(tty.lines[0]).toMatch(/^\x1b\[90m\d\d:\d\d:\d\d\.\d{3}\x1b\[0m \x1b\[36mINFO \x1b\[0m \x1b\[1mresource-server\x1b\[0m  dpop: request refused  \x1b\[90mstatus=401\x1b\[0m\n$/);

    const plain = capture(true);
    const logger = createLogger({ level: 'info', format: 'auto' }, plain, { NO_COLOR: '1' });
    logger.debug({ reason: 'nonce_missing' }, 'not shown at info');
    logger.info('no nonce secret configured');
    expect(plain.lines).toHaveLength(1);
    expect(plain.lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  no nonce secret configured\n$/);

    const pipe = capture(false);
    createLogger({ level: 'info', format: 'auto' }, pipe, {}).info({ status: 200 }, 'ok');
    expect(JSON.parse(pipe.lines[0]!)).toMatchObject({ level: 30, status: 200, msg: 'ok' });
    expect(JSON.parse(pipe.lines[0]!)).not.toHaveProperty('pid');
  });
});
