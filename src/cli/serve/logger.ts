/**
 * `dpopkit serve`'s log: pino, written as one human line per event on a terminal and as pino's
 * JSON lines otherwise (a log collector, `| jq`), or as `log.format` / `DPOPKIT_LOG_FORMAT` say.
 *
 * The pretty form is a small formatter of pino's own JSON lines (about forty lines, no
 * dependency): pino-pretty would bring a dozen packages to every server install for the one
 * development convenience of colouring a line, and this output needs none of its options.
 *
 * `21:40:03.512 INFO  authorization-server  request refused  endpoint=token error=invalid_grant`
 *
 * @module
 */
import pino, { type Logger } from 'pino';

export type LogFormat = 'pretty' | 'json';

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** The format `auto` means for this output: pretty for a person at a terminal, JSON for programs. */
export function resolveLogFormat(format: 'auto' | LogFormat, output: Output = process.stdout): LogFormat {
  return format === 'auto' ? (output.isTTY ? 'pretty' : 'json') : format;
}

export function createLogger(config: { level: string; format: 'auto' | LogFormat }, output: Output = process.stdout, env: NodeJS.ProcessEnv = process.env): Logger {
  const options = { level: config.level, base: undefined };
  if (resolveLogFormat(config.format, output) === 'json') return output === process.stdout ? pino(options) : pino(options, { write: (line: string) => output.write(line) });
  const color = Boolean(output.isTTY) && !env.NO_COLOR;
  return pino(options, { write: (line: string) => output.write(prettyLine(line, color)) });
}

const LEVELS: Record<number, [label: string, color: string]> = {
  10: ['TRACE', '90'], 20: ['DEBUG', '90'], 30: ['INFO ', '36'], 40: ['WARN ', '33'], 50: ['ERROR', '31'], 60: ['FATAL', '35'],
};

/** One pino JSON line as a human line: time, level, who, message, then the facts as key=value. */
export function prettyLine(json: string, color = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { level, time, msg, role, err, ...facts } = entry;
  const [label, code] = LEVELS[level as number] ?? [String(level).padEnd(5), '0'];
  const paint = (text: string, sgr: string) => (color ? `\x1b[${sgr}m${text}\x1b[0m` : text);
  const clock = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  let line = `${paint(clock, '90')} ${paint(label, code)} ${role ? `${paint(String(role), '1')}  ` : ''}${String(msg ?? '')}`;
  const pairs = Object.entries(facts).filter(([, value]) => value !== undefined).map(([key, value]) => `${key}=${formatValue(value)}`);
  const error = err as { message?: string; stack?: string } | undefined;
  if (error?.message) pairs.push(`err=${formatValue(error.message)}`);
  if (pairs.length) line += `  ${paint(pairs.join(' '), '90')}`;
  // A stack only for what went wrong inside the server (error and fatal).
  if (error?.stack && (level as number) >= 50) line += `\n${error.stack.split('\n').slice(1).join('\n')}`;
  return `${line}\n`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}
