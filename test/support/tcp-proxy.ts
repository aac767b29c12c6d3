/**
 * A TCP proxy the test controls, standing between a client and a real server (Redis): close it
 * to simulate an outage (every live connection is destroyed), reopen it on the same port to
 * simulate recovery, or stall it (connections stay open but no answer comes back).
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Stop listening and destroy every connection (the peer sees a reset). */
  close(): Promise<void>;
  /** Listen again on the same port. */
  reopen(): Promise<void>;
  /** Keep connections open but stop forwarding the server's answers (a hung server). */
  stall(on: boolean): void;
}

export async function createTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let stalled = false;
  let server: net.Server | undefined;
  let port = 0;

  const handle = (client: net.Socket) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (!stalled) client.write(d);
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer(handle);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });

  await listen();
  return {
    get port() {
      return port;
    },
    async close() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
    reopen: listen,
    stall(on) {
      stalled = on;
    },
  };
}
