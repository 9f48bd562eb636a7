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

  /**
   * Close every pool, at shutdown after the proxy has drained: an exchange still open then is an
   * orphan, so what has not closed within `graceMs` is destroyed. (Seen: after load generators
   * dropped their connections mid-request, undici's graceful close() never resolved and the
   * process never exited.)
   */
  async close(graceMs = 1_000): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => closeWithin(pool, graceMs)));
  }
}

async function closeWithin(pool: Pool, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([
    pool.close().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (!inTime) await pool.destroy().catch(() => undefined);
}
