/**
 * Consecutive-failure circuit breaker. Closed: every call goes through and failures are
 * counted; `failureThreshold` in a row open it. Open: calls fail fast for `resetMs`, so a
 * caller stops piling requests (and retries) on a server that is down. Half-open: exactly one
 * trial call goes through; its success closes the circuit, its failure opens it again.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Consecutive failures (network errors, timeouts, 5xx) that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before one trial call. Default 10000 ms. */
  resetMs?: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly resetMs: number;
  readonly #now: () => number;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #trialInFlight = false;

  constructor(options: BreakerOptions = {}, now: () => number = Date.now) {
    this.failureThreshold = options.failureThreshold ?? 5;
    this.resetMs = options.resetMs ?? 10_000;
    if (!Number.isSafeInteger(this.failureThreshold) || this.failureThreshold < 1)
      throw new TypeError('breaker.failureThreshold must be a positive integer');
    if (!Number.isSafeInteger(this.resetMs) || this.resetMs < 0)
      throw new TypeError('breaker.resetMs must be a non-negative integer');
    this.#now = now;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.resetMs) return 'half_open';
    return this.#state;
  }

  /** Ask to make a call. In half-open state only the first caller gets through. */
  admit(): Admission {
    if (this.#state === 'closed') return { ok: true };
    const waited = this.#now() - this.#openedAt;
    if (this.#state === 'open' && waited < this.resetMs) {
      return { ok: false, retryAfterMs: this.resetMs - waited };
    }
    this.#state = 'half_open';
    if (this.#trialInFlight) return { ok: false, retryAfterMs: 0 };
    this.#trialInFlight = true;
    return { ok: true };
  }

  /** The server answered (below 500): it is up. */
  success(): void {
    this.#state = 'closed';
    this.#failures = 0;
    this.#trialInFlight = false;
  }

  failure(): void {
    this.#trialInFlight = false;
    if (this.#state === 'half_open') {
      this.#open();
      return;
    }
    // A call admitted before the circuit opened does not extend the open period.
    if (this.#state === 'open') return;
    this.#failures += 1;
    if (this.#failures >= this.failureThreshold) this.#open();
  }

  /** The call ended without telling anything about the server (the caller aborted it). */
  release(): void {
    this.#trialInFlight = false;
  }

  #open(): void {
    this.#state = 'open';
    this.#openedAt = this.#now();
    this.#failures = 0;
  }
}
