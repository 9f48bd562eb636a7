/**
 * One keep-alive undici Pool per upstream origin, created on first use and shared by every
 * route that points at that origin. Closed (gracefully) on shutdown.
 */
import { Pool } from 'undici';

export interface UpstreamPoolOptions {
  connections: number;
  connectTimeoutMs?: number;
}

export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  readonly #options: UpstreamPoolOptions;

  constructor(options: UpstreamPoolOptions) {
    this.#options = options;
  }

  get(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.#options.connections,
        pipelining: 1,
        connect: { timeout: this.#options.connectTimeoutMs ?? 5_000 },
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Drop pools no route uses any more (after a configuration change). */
  retain(origins: ReadonlySet<string>): void {
    for (const [origin, pool] of this.#pools) {
      if (!origins.has(origin)) {
        this.#pools.delete(origin);
        void pool.close().catch(() => pool.destroy());
      }
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }
}
