/**
 * A circuit breaker in front of the shared limiter: after `failures` consecutive failures no
 * request waits on Redis for `openMs`; then one request at a time probes it (half-open) and a
 * success closes the circuit. So a dead or slow Redis costs each request nothing once
 * noticed, and recovery is automatic.
 */
import type { Clock } from '../core/clock.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export class CircuitBreaker {
  readonly #failures: number;
  readonly #openMs: number;
  readonly #clock: Clock;
  #consecutive = 0;
  #openedAt: number | undefined;
  #probing = false;

  constructor(options: { failures?: number; openMs?: number; clock: Clock }) {
    this.#failures = options.failures ?? 3;
    this.#openMs = options.openMs ?? 2_000;
    this.#clock = options.clock;
  }

  get state(): BreakerState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#clock.monotonic() - this.#openedAt >= this.#openMs ? 'half_open' : 'open';
  }

  /** Whether this request may use the protected dependency. */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    this.#consecutive = 0;
    this.#openedAt = undefined;
    this.#probing = false;
  }

  failure(): void {
    this.#probing = false;
    this.#consecutive++;
    if (this.#openedAt !== undefined || this.#consecutive >= this.#failures)
      this.#openedAt = this.#clock.monotonic();
  }
}
