// A TCP proxy on loopback in front of PostgreSQL that a test controls, to make the database refuse
// or stall without touching the server itself (the other tests share it).
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * pass: bytes flow both ways. refuse: new connections are reset at once and existing ones are reset
 * (as when PostgreSQL restarts). stall: connections stay open and new ones are accepted, but no byte
 * moves either way until the mode changes again (a network partition, a frozen server).
 */
export type ProxyMode = 'pass' | 'refuse' | 'stall';

export interface TcpProxy {
  /** The port the proxy listens on, 127.0.0.1. */
  readonly port: number;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode): void;
  /** Connections open now (each one client socket and its upstream socket). */
  connections(): number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** One client connection and its upstream one. */
class Link {
  private readonly waitingForDrain = new Set<Socket>();

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    private stalled: () => boolean,
  ) {
    // Forwarded by hand rather than with pipe(): pipe resumes a source on 'drain' by itself, which
    // would undo a stall.
    this.forward(client, upstream);
    this.forward(upstream, client);
    this.updateFlow();
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        this.waitingForDrain.add(from);
        this.updateFlow();
        to.once('drain', () => {
          this.waitingForDrain.delete(from);
          this.updateFlow();
        });
      }
    });
    // A half-close passes on; a reset or an error ends both sides.
    from.on('end', () => to.end());
    from.on('error', () => this.destroy());
    from.on('close', () => this.destroy());
  }

  /** Reads only while neither a stall nor the other side's full buffer says to wait. */
  updateFlow(): void {
    for (const socket of [this.client, this.upstream]) {
      if (this.stalled() || this.waitingForDrain.has(socket)) socket.pause();
      else socket.resume();
    }
  }

  /** Closes both sides with a TCP reset, as a dying server or a dropped route does. */
  reset(): void {
    for (const socket of [this.client, this.upstream]) if (!socket.destroyed) socket.resetAndDestroy();
  }

  destroy(): void {
    for (const socket of [this.client, this.upstream]) if (!socket.destroyed) socket.destroy();
  }
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target` (loopback PostgreSQL by default). */
export async function startTcpProxy(target: { host: string; port: number } = { host: '127.0.0.1', port: 5432 }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  const links = new Set<Link>();
  const stalled = (): boolean => mode === 'stall';

  const server: Server = createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    // Paused until the link decides: nothing may reach the server during a stall.
    client.pause();
    const upstream = connect(target.port, target.host);
    upstream.on('error', () => undefined);
    upstream.pause();
    const link = new Link(client, upstream, stalled);
    links.add(link);
    client.once('close', () => links.delete(link));
    upstream.once('close', () => links.delete(link));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    port,
    get mode() {
      return mode;
    },
    setMode(next) {
      mode = next;
      if (next === 'refuse') for (const link of links) link.reset();
      else for (const link of links) link.updateFlow();
    },
    connections: () => links.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const link of links) link.destroy();
      links.clear();
      await closed;
    },
  };
}
