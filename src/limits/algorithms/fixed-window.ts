/**
 * Fixed window: a counter per window [start, end). Windows of `fixed_window` limits are
 * aligned to the epoch (start = ⌊now / W⌋ × W); `day` / `month` quotas use the same counter
 * over calendar windows (../calendar.ts).
 *
 *   allow ⇔ count + cost ≤ limit,  retry = reset = end − now,  remaining = limit − count
 *
 * The stored state carries its window start, so a counter from an earlier window (or from
 * before a policy changed its window) reads as zero whatever its expiry says.
 */
import type { Consumed, Described } from './outcome.js';

export interface WindowBounds {
  readonly start: number;
  readonly end: number;
}

export interface FixedWindowState {
  readonly start: number;
  readonly count: number;
}

export function epochWindow(nowMs: number, windowMs: number): WindowBounds {
  const start = Math.floor(nowMs / windowMs) * windowMs;
  return { start, end: start + windowMs };
}

export function fixedLoad(stored: FixedWindowState | undefined, window: WindowBounds): FixedWindowState {
  return {
    start: window.start,
    count: stored !== undefined && stored.start === window.start ? stored.count : 0,
  };
}

export function fixedConsume(
  state: FixedWindowState,
  nowMs: number,
  window: WindowBounds,
  limit: number,
  cost: number,
): Consumed<FixedWindowState> {
  if (state.count + cost <= limit)
    return { allowed: true, state: { start: state.start, count: state.count + cost } };
  return { allowed: false, retryAfterMs: window.end - nowMs };
}

export function fixedDescribe(
  state: FixedWindowState,
  nowMs: number,
  window: WindowBounds,
  limit: number,
): Described {
  const remaining = limit - state.count;
  return { remaining: Math.max(remaining, 0), resetMs: state.count > 0 ? window.end - nowMs : 0 };
}

export function fixedRefund(state: FixedWindowState, cost: number): FixedWindowState {
  return { start: state.start, count: state.count < cost ? 0 : state.count - cost };
}
