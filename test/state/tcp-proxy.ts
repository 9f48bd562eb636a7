/**
 * A TCP proxy to put between a client and Redis, so tests can break the network the ways
 * production does: `stop()` refuses connections (Redis down), `blackhole()` keeps sockets
 * open but silent (partition, frozen host), and `start()` again brings it back.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;
  #blackholed = false;
  readonly #frozen = new WeakSet<Socket>();
  #delayMs = 0;

  constructor(targetHost: string, targetPort: number) {
    this.#targetHost = targetHost;
    this.#targetPort = targetPort;
  }

  get port(): number {
    return this.#port;
  }

  /** Listen (again) — on the same port after a stop, so clients reconnect to where they were. */
  async start(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
    this.#port = address.port;
    this.#server = server;
  }

  /** Stop listening and drop every connection: clients see a reset, then connection refused. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Delay every chunk in both directions by `ms` (a slow or distant Redis); 0 turns it off. */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** While on, bytes go nowhere in either direction but sockets stay open, like a partition. */
  blackhole(on: boolean): void {
    this.#blackholed = on;
    for (const socket of this.#sockets) {
      if (on) socket.pause();
      else if (!this.#frozen.has(socket)) socket.resume();
    }
  }

  /**
   * Silence every current connection for good while new ones work: a flow lost without a
   * FIN (NAT entry dropped, host replaced), which only a liveness probe can discover.
   */
  freezeExisting(): void {
    for (const socket of this.#sockets) {
      this.#frozen.add(socket);
      socket.pause();
    }
  }

  #accept(client: Socket): void {
    const upstream = connect(this.#targetPort, this.#targetHost);
    // Plain 'data' forwarding rather than pipe(): pipe() resumes a source on its own, which
    // would leak bytes through a blackhole.
    const relay = (to: Socket) => (chunk: Buffer) => {
      if (this.#delayMs > 0) setTimeout(() => to.writable && to.write(chunk), this.#delayMs);
      else to.write(chunk);
    };
    client.on('data', relay(upstream));
    upstream.on('data', relay(client));
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      if (this.#blackholed) socket.pause();
    }
  }
}
