import { createServer, connect, type Server, type Socket } from 'node:net';

/** A TCP proxy an outage test can cut and restore, instead of stopping the shared PostgreSQL or Redis. */
export interface TcpProxy {
  /** The local port on 127.0.0.1; it stays the same across close() and open(). */
  readonly port: number;
  /** Stops listening and destroys every current connection, so clients see resets and refused connects. */
  close(): Promise<void>;
  /** Listens again on the same port. */
  open(): Promise<void>;
  /** Final teardown; safe to call in any state. */
  stop(): Promise<void>;
}

export interface TcpProxyOptions {
  targetHost: string;
  targetPort: number;
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  const server: Server = createServer((client) => {
    const upstream = connect({ host: options.targetHost, port: options.targetPort });
    track(client);
    track(upstream);
    // Either side failing tears down the pair, so the client sees the outage instead of a half-open socket.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });

  const shut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  await listen(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('TCP proxy has no port');
  const { port } = address;

  return {
    port,
    close: shut,
    open: () => (server.listening ? Promise.resolve() : listen(port)),
    stop: shut,
  };
}
