/**
 * Sliding window as a weighted pair of fixed windows (Cloudflare's approach): the state is the
 * count of the current window and of the previous one, and the previous count is weighted by
 * how much of it the sliding window still covers.
 *
 *   W = window, start = ⌊now / W⌋ × W, e = now − start
 *   estimate = prev × (W − e) / W + curr
 *   allow  ⇔  estimate + cost ≤ limit   ⇔   prev × (W − e) + (curr + cost) × W ≤ limit × W
 *
 * compared multiplied out, so the test is exact in integers (limit × W < 2^53, checked when
 * the limit is compiled). The retry time is the first millisecond at which the decaying
 * previous count lets the request in (closed form below), and the reset is when both counts
 * have decayed: the end of the next window if the current one has requests, else of this one.
 */
import type { Consumed, Described } from './outcome.js';

export interface SlidingParams {
  readonly limit: number;
  readonly windowMs: number;
}

export interface SlidingState {
  /** Start of the current window, epoch ms. */
  readonly start: number;
  readonly prev: number;
  readonly curr: number;
}

/** The stored state seen from the window that contains now (older windows count for nothing). */
export function slidingLoad(stored: SlidingState | undefined, nowMs: number, windowMs: number): SlidingState {
  const start = Math.floor(nowMs / windowMs) * windowMs;
  if (stored === undefined) return { start, prev: 0, curr: 0 };
  if (stored.start === start) return { start, prev: stored.prev, curr: stored.curr };
  if (stored.start === start - windowMs) return { start, prev: stored.curr, curr: 0 };
  return { start, prev: 0, curr: 0 };
}

export function slidingConsume(
  state: SlidingState,
  nowMs: number,
  p: SlidingParams,
  cost: number,
): Consumed<SlidingState> {
  const w = p.windowMs;
  const e = nowMs - state.start;
  if (state.prev * (w - e) + (state.curr + cost) * w <= p.limit * w) {
    return { allowed: true, state: { start: state.start, prev: state.prev, curr: state.curr + cost } };
  }
  return { allowed: false, retryAfterMs: slidingRetryAfter(state, e, p, cost) };
}

/**
 * Within this window (curr + cost ≤ limit): the first e' with prev × (W − e') ≤ (limit − curr − cost) × W,
 * i.e. e' = W − ⌊(limit − curr − cost) × W / prev⌋ (prev > 0, or the request would pass).
 * Otherwise the next window, where curr becomes prev: wait for its start, then the same with
 * prev := curr and curr := 0. A cost above the limit never passes; it gets the full reset.
 */
function slidingRetryAfter(state: SlidingState, e: number, p: SlidingParams, cost: number): number {
  const w = p.windowMs;
  if (cost > p.limit) return 2 * w - e;
  if (state.curr + cost <= p.limit) {
    return w - Math.floor(((p.limit - state.curr - cost) * w) / state.prev) - e;
  }
  let wait = w - e;
  if (state.curr > 0) wait = wait + w - Math.floor(((p.limit - cost) * w) / state.curr);
  return wait;
}

export function slidingDescribe(state: SlidingState, nowMs: number, p: SlidingParams): Described {
  const w = p.windowMs;
  const e = nowMs - state.start;
  const remaining = Math.floor((p.limit * w - state.prev * (w - e) - state.curr * w) / w);
  let resetMs = 0;
  if (state.curr > 0) resetMs = 2 * w - e;
  else if (state.prev > 0) resetMs = w - e;
  return { remaining: Math.max(remaining, 0), resetMs };
}

/** Take the refund from the current window first (the request most likely counted there), then the previous. */
export function slidingRefund(state: SlidingState, cost: number): SlidingState {
  let left = cost;
  let curr = state.curr;
  let prev = state.prev;
  const fromCurr = Math.min(curr, left);
  curr = curr - fromCurr;
  left = left - fromCurr;
  const fromPrev = Math.min(prev, left);
  prev = prev - fromPrev;
  return { start: state.start, prev, curr };
}

/** The current count matters until the end of the next window. */
export function slidingTtlMs(state: SlidingState, nowMs: number, windowMs: number): number {
  return state.start + 2 * windowMs - nowMs;
}
