/**
 * Time source, injected wherever time matters so tests can drive it (STYLE: inject Clock).
 * `now()` is wall-clock milliseconds since the epoch; `monotonic()` is for durations only.
 */
export interface Clock {
  now(): number;
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  #now: number;
  #mono = 0;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  monotonic(): number {
    return this.#mono;
  }
  advance(ms: number): void {
    this.#now += ms;
    this.#mono += ms;
  }
  set(epochMs: number): void {
    this.#now = epochMs;
  }
}
