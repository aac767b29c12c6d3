/**
 * A round-robin TCP load balancer for tests: each new connection goes to the next upstream;
 * when an upstream refuses the connection (its process is gone) the next one is tried, as a
 * health-checking balancer would. Connections already open to a dead upstream are reset.
 */
import net from 'node:net';

export interface TcpBalancer {
  readonly port: number;
  close(): Promise<void>;
}

export function createTcpBalancer(port: number, upstreams: number[], host = '127.0.0.1'): Promise<TcpBalancer> {
  const sockets = new Set<net.Socket>();
  let next = 0;
  const connect = (client: net.Socket, tries: number) => {
    const target = upstreams[next++ % upstreams.length]!;
    const upstream = net.connect(target, host);
    sockets.add(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      sockets.delete(upstream);
      if (!connected && tries + 1 < upstreams.length) connect(client, tries + 1);
      else client.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (connected) client.destroy();
    });
  };
  const server = net.createServer((client) => {
    client.pause();
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => sockets.delete(client));
    connect(client, 0);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}
