/**
 * Asking the person at the terminal: a visible answer (a username) or a secret one (a password,
 * a one-time code) that is not echoed. When stdin is not a terminal, the answers are read from
 * it one line at a time, in the order they are asked, so a script can pipe them in:
 * `printf '%s\n' "$PASSWORD" | dpopkit login …`.
 *
 * Prompts go to stderr, so stdout stays for the command's result.
 *
 * @module
 */
import { createInterface } from 'node:readline';

export interface Prompter {
  /** Ask; `secret` answers are not echoed on a terminal. */
  ask(question: string, secret: boolean): Promise<string>;
  close(): void;
}

/** A usage-style failure with its own exit status (1: the sign-in could not go on). */
function noAnswer(message: string): Error {
  return new Error(message);
}

/** The prompter for this process: the terminal when stdin is one, else stdin's lines. */
export function createPrompter(input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Prompter {
  return input.isTTY ? terminalPrompter(input, output) : linePrompter(input, output);
}

function terminalPrompter(input: NodeJS.ReadStream, output: NodeJS.WriteStream): Prompter {
  return {
    async ask(question, secret) {
      if (!secret) {
        const rl = createInterface({ input, output, terminal: true });
        try {
          return await new Promise<string>((resolve) => rl.question(question, resolve));
        } finally {
          rl.close();
        }
      }
      output.write(question);
      input.setRawMode(true);
      input.setEncoding('utf8');
      input.resume();
      return new Promise<string>((resolve, reject) => {
        let value = '';
        const finish = () => {
          input.off('data', onData);
          input.setRawMode(false);
          input.pause();
          output.write('\n');
        };
        const onData = (chunk: string) => {
          for (const char of chunk) {
            if (char === '\r' || char === '\n') {
              finish();
              resolve(value);
              return;
            }
            if (char === '\u0003') {
              // Ctrl+C: the terminal is in raw mode, so no SIGINT comes; stop as it would.
              finish();
              reject(noAnswer('cancelled'));
              return;
            }
            if (char === '\u0004' && value === '') {
              finish();
              reject(noAnswer('no answer (end of input)'));
              return;
            }
            if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
            else if (char >= ' ') value += char;
          }
        };
        input.on('data', onData);
      });
    },
    close() {},
  };
}

function linePrompter(input: NodeJS.ReadStream, output: NodeJS.WriteStream): Prompter {
  const lines: string[] = [];
  const waiting: Array<(line: string | undefined) => void> = [];
  let ended = false;
  let started = false;
  let rl: ReturnType<typeof createInterface> | undefined;
  const start = () => {
    if (started) return;
    started = true;
    rl = createInterface({ input, terminal: false });
    rl.on('line', (line) => {
      const next = waiting.shift();
      if (next) next(line);
      else lines.push(line);
    });
    rl.on('close', () => {
      ended = true;
      for (const next of waiting.splice(0)) next(undefined);
    });
  };
  return {
    async ask(question, secret) {
      start();
      // Said on stderr all the same, so a log shows what each line was for (never the answer).
      output.write(`${question}${secret ? '(read from stdin)' : ''}\n`);
      const line = lines.length > 0 ? lines.shift() : ended ? undefined : await new Promise<string | undefined>((resolve) => waiting.push(resolve));
      if (line === undefined) throw noAnswer(`stdin ended before the answer to "${question.replace(/[:\s]+$/, '')}"`);
      return line.replace(/\r$/, '');
    },
    close() {
      rl?.close();
      input.pause();
    },
  };
}
