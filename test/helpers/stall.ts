// Stores that stall: a TCP server that accepts connections and never answers, and a proxy to a
// real store that stops forwarding (both ways, connections left open) once a number of request
// bytes went through. What an overloaded or half-dead S3 endpoint looks like to a client.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface StallServer {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Resolves once at least `n` connections were accepted. */
  connected(n?: number): Promise<void>;
  /** Closes every connection and the listener. */
  stop(): Promise<void>;
}

async function listen(
  onSocket: (socket: Socket) => void,
): Promise<{ server: Server; sockets: Set<Socket>; endpoint: string; accepted: () => number; connected: (n?: number) => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
    for (const w of waiters.filter((w) => accepted >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    sockets,
    endpoint: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    connected: (n = 1) => (accepted >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** Accepts every connection, reads what is sent, never writes a byte. */
export async function startStallServer(): Promise<StallServer> {
  const l = await listen((socket) => socket.resume());
  return { endpoint: l.endpoint, connections: l.accepted, connected: l.connected, stop: closer(l.server, l.sockets) };
}

export interface StallingProxy extends StallServer {
  /** True once the proxy has stalled (a connection, or everything). */
  stalled(): boolean;
}

/**
 * Forwards to `upstream` (http://host:port) until `afterBytes` request bytes went through in all,
 * then stalls: forwards nothing more either way and never closes. `scope` says what stalls: only
 * the connection that crossed the mark (a half-dead backend; new connections work), or every
 * connection, present and future (the store is gone).
 */
export async function startStallingProxy(upstream: string, afterBytes: number, scope: 'connection' | 'all'): Promise<StallingProxy> {
  const target = new URL(upstream);
  let forwarded = 0;
  let tripped = false;
  const upstreams = new Set<Socket>();
  const l = await listen((client) => {
    const server = connect(Number(target.port), target.hostname);
    let stalled = scope === 'all' && tripped;
    upstreams.add(server);
    server.on('close', () => upstreams.delete(server));
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    client.on('data', (chunk: Buffer) => {
      if (stalled || (scope === 'all' && tripped)) return;
      const room = tripped ? Infinity : afterBytes - forwarded;
      if (chunk.length >= room) {
        tripped = stalled = true;
        if (room > 0) server.write(chunk.subarray(0, room));
        forwarded = afterBytes;
        return;
      }
      if (!tripped) forwarded += chunk.length;
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!stalled && !(scope === 'all' && tripped)) client.write(chunk);
    });
  });
  const stopClients = closer(l.server, l.sockets);
  return {
    endpoint: l.endpoint,
    connections: l.accepted,
    connected: l.connected,
    stalled: () => tripped,
    async stop() {
      for (const s of upstreams) s.destroy();
      await stopClients();
    },
  };
}
