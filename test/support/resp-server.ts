/**
 * A tiny RESP2 server standing in for a Redis that answers with an error (e.g. OOM under
 * `maxmemory-policy noeviction`), which cannot be provoked on the shared test Redis without
 * reconfiguring it for everyone. It answers the client's handshake (`INFO`, `PING`) like a
 * ready Redis and every other command with `error`.
 */
import net from 'node:net';

export interface RespServer {
  readonly port: number;
  /** Commands received, by name (upper case). */
  readonly seen: string[];
  close(): Promise<void>;
}

/** Parse complete RESP arrays of bulk strings from `buf`; returns the commands and the rest. */
function parse(buf: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let at = 0;
  outer: while (at < buf.length) {
    if (buf[at] !== 0x2a) break; // '*'
    let eol = buf.indexOf('\r\n', at);
    if (eol < 0) break;
    const n = Number(buf.subarray(at + 1, eol).toString());
    let p = eol + 2;
    const args: string[] = [];
    for (let i = 0; i < n; i++) {
      eol = buf.indexOf('\r\n', p);
      if (eol < 0) break outer;
      const len = Number(buf.subarray(p + 1, eol).toString());
      if (eol + 2 + len + 2 > buf.length) break outer;
      args.push(buf.subarray(eol + 2, eol + 2 + len).toString());
      p = eol + 2 + len + 2;
    }
    commands.push(args);
    at = p;
  }
  return { commands, rest: buf.subarray(at) };
}

export async function createErrorRespServer(error: string): Promise<RespServer> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      const { commands, rest } = parse(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const [name = ''] of commands) {
        const cmd = name.toUpperCase();
        seen.push(cmd);
        if (cmd === 'INFO') {
          const info = '# Server\r\nredis_version:7.0.0\r\nloading:0\r\n';
          socket.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`);
        } else if (cmd === 'PING') socket.write('+PONG\r\n');
        else socket.write(`-${error}\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
