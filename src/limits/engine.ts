/**
 * Dispatch from a planned check to its algorithm, for the memory backend (the Redis script
 * has the same dispatch in Lua). Kept apart from the LRU so memory.ts is only about storage.
 */
import { type ConcurrencyState, concurrencyConsume, concurrencyDescribe } from './algorithms/concurrency.js';
import {
  epochWindow,
  type FixedWindowState,
  fixedConsume,
  fixedDescribe,
  fixedLoad,
  fixedRefund,
  type WindowBounds,
} from './algorithms/fixed-window.js';
import {
  type GcraState,
  gcraConsume,
  gcraDescribe,
  gcraLoad,
  gcraRefund,
  gcraTtlMs,
} from './algorithms/gcra.js';
import type { Consumed, Described } from './algorithms/outcome.js';
import { quotaWindow } from './algorithms/quota.js';
import {
  type SlidingState,
  slidingConsume,
  slidingDescribe,
  slidingLoad,
  slidingRefund,
  slidingTtlMs,
} from './algorithms/sliding-window.js';
import type { LimitShape } from './compile.js';

/** The state of one key as an algorithm sees it at `now` (normalized: older windows already dropped). */
export type WorkingState = GcraState | SlidingState | FixedWindowState | ConcurrencyState;
/** The state as stored, before normalization (concurrency is stored as its lease set, not here). */
export type StoredState = GcraState | SlidingState | FixedWindowState;

export interface Now {
  readonly ms: number;
  readonly us: number;
}

/** The window a fixed-window or calendar limit counts in at `now`; undefined for the others. */
export function windowOf(shape: LimitShape, nowMs: number): WindowBounds | undefined {
  if (shape.tag === 'fw') return epochWindow(nowMs, shape.windowMs);
  if (shape.tag === 'cal') return quotaWindow(nowMs, shape.period, shape.timeZone);
  return undefined;
}

export function load(
  shape: LimitShape,
  stored: StoredState | undefined,
  now: Now,
  window: WindowBounds | undefined,
): WorkingState {
  switch (shape.tag) {
    case 'tb':
      return gcraLoad(stored as GcraState | undefined, now.us);
    case 'sw':
      return slidingLoad(stored as SlidingState | undefined, now.ms, shape.windowMs);
    case 'fw':
    case 'cal':
      return fixedLoad(stored as FixedWindowState | undefined, window!);
    case 'cc':
      throw new Error('concurrency state is loaded from its lease set');
  }
}

export function consume(
  shape: LimitShape,
  state: WorkingState,
  now: Now,
  window: WindowBounds | undefined,
  cost: number,
  leaseTtlMs: number,
): Consumed<WorkingState> {
  switch (shape.tag) {
    case 'tb':
      return gcraConsume(state as GcraState, now.us, shape, cost);
    case 'sw':
      return slidingConsume(state as SlidingState, now.ms, shape, cost);
    case 'fw':
    case 'cal':
      return fixedConsume(state as FixedWindowState, now.ms, window!, shape.limit, cost);
    case 'cc':
      return concurrencyConsume(state as ConcurrencyState, now.ms, shape.limit, leaseTtlMs);
  }
}

export function describe(
  shape: LimitShape,
  state: WorkingState,
  now: Now,
  window: WindowBounds | undefined,
): Described {
  switch (shape.tag) {
    case 'tb':
      return gcraDescribe(state as GcraState, now.us, shape);
    case 'sw':
      return slidingDescribe(state as SlidingState, now.ms, shape);
    case 'fw':
    case 'cal':
      return fixedDescribe(state as FixedWindowState, now.ms, window!, shape.limit);
    case 'cc':
      return concurrencyDescribe(state as ConcurrencyState, now.ms, shape.limit);
  }
}

/** The state after giving back `cost`; undefined means "delete" (a token bucket back to full). */
export function refund(
  shape: LimitShape,
  state: WorkingState,
  now: Now,
  cost: number,
): StoredState | undefined {
  switch (shape.tag) {
    case 'tb':
      return gcraRefund(state as GcraState, now.us, shape, cost);
    case 'sw':
      return slidingRefund(state as SlidingState, cost);
    case 'fw':
    case 'cal':
      return fixedRefund(state as FixedWindowState, cost);
    case 'cc':
      return undefined;
  }
}

/** Epoch ms after which the stored state means nothing (and may be dropped). */
export function expiresAt(
  shape: LimitShape,
  state: StoredState,
  now: Now,
  window: WindowBounds | undefined,
): number {
  switch (shape.tag) {
    case 'tb':
      return now.ms + gcraTtlMs(state as GcraState, now.us);
    case 'sw':
      return now.ms + slidingTtlMs(state as SlidingState, now.ms, shape.windowMs);
    case 'fw':
    case 'cal':
      return window!.end;
    case 'cc':
      throw new Error('concurrency expiry is per lease');
  }
}
