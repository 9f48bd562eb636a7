/**
 * Concurrency: requests in flight. The backends keep the set of live leases (memory: a Map in
 * expiry order; Redis: a sorted set scored by expiry, purged of expired members on every
 * check); the decision only needs how many are live and when the oldest expires.
 *
 *   allow ⇔ live + 1 ≤ limit   (one slot per request whatever its cost)
 *
 * Leases expire on their own after the lease TTL, so a crashed instance (or a lost release)
 * cannot hold slots forever; a request that outlives the TTL stops being counted.
 */
import type { Consumed, Described } from './outcome.js';

/**
 * A denied client cannot know when a response elsewhere ends; the earliest lease expiry is
 * only an upper bound (minutes). A one-second hint keeps clients from either hammering or
 * waiting out the whole lease TTL.
 */
export const CONCURRENCY_RETRY_HINT_MS = 1_000;

export interface ConcurrencyState {
  /** Live leases. */
  readonly count: number;
  /** Expiry (epoch ms) of the oldest live lease; 0 when there is none. */
  readonly firstExpiry: number;
}

export function concurrencyConsume(
  state: ConcurrencyState,
  nowMs: number,
  limit: number,
  leaseTtlMs: number,
): Consumed<ConcurrencyState> {
  if (state.count + 1 <= limit) {
    return {
      allowed: true,
      state: {
        count: state.count + 1,
        firstExpiry: state.count === 0 ? nowMs + leaseTtlMs : state.firstExpiry,
      },
    };
  }
  const untilExpiry = state.firstExpiry - nowMs;
  return {
    allowed: false,
    retryAfterMs: Math.min(untilExpiry, CONCURRENCY_RETRY_HINT_MS),
  };
}

export function concurrencyDescribe(state: ConcurrencyState, nowMs: number, limit: number): Described {
  const remaining = limit - state.count;
  return {
    remaining: Math.max(remaining, 0),
    resetMs: state.count >= limit ? state.firstExpiry - nowMs : 0,
  };
}
