/**
 * Instance heartbeats: each gateway marks itself alive in the shared state every few seconds
 * and learns how many instances are alive. The `local` degraded rate-limit mode divides each
 * limit by that count, so N instances enforcing locally still add up to about the limit. The
 * last count seen is kept when the state is unreachable — which is exactly when it is needed.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { HotState } from '../state/types.js';

const GROUP = 'instances';

export class InstanceRegistry {
  readonly id = randomUUID();
  readonly #state: HotState;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #live = 1;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { state: HotState; intervalMs?: number; logger: Logger }) {
    this.#state = options.state;
    this.#intervalMs = options.intervalMs ?? 2_000;
    this.#logger = options.logger;
  }

  /** Instances alive at the last successful heartbeat (at least this one). */
  get live(): number {
    return this.#live;
  }

  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), this.#intervalMs);
    this.#timer.unref();
  }

  async beat(): Promise<void> {
    try {
      this.#live = Math.max(1, await this.#state.heartbeat(GROUP, this.id, this.#intervalMs * 3));
    } catch (error) {
      this.#logger.debug({ err: error }, 'heartbeat failed; keeping the last instance count');
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
