/**
 * Token bucket as GCRA (the generic cell rate algorithm, as in Brandur Leach's `throttled`
 * and Stripe's limiter): the state is one number, the theoretical arrival time (TAT) of the
 * next request if the client sent at exactly the refill rate.
 *
 *   T   = emission interval = rate.perMs / rate.count   (µs, rounded; ≥ 1 µs)
 *   τ   = T × burst                                      (how far ahead of the rate a client may be)
 *   tat = max(stored TAT, now)
 *   allow  ⇔  tat + cost×T − τ ≤ now           then TAT := tat + cost×T
 *   retry  =  tat + cost×T − τ − now            (when denied)
 *   remaining = ⌊(τ − (tat − now)) / T⌋,  reset = tat − now (until the bucket is full)
 *
 * Time is in microseconds (Redis TIME gives them) so rates above 1 000/s keep their precision:
 * 3/s is T = 333 333 µs instead of a 333 ms that would allow 3.003/s. Epoch µs are ~1.8e15,
 * well inside 2^53; `compileLimit` bounds τ so TAT stays there.
 */
import type { Consumed, Described } from './outcome.js';

export interface GcraParams {
  /** Burst: the bucket capacity. */
  readonly limit: number;
  readonly emissionUs: number;
}

export interface GcraState {
  readonly tatUs: number;
}

/** A TAT in the past means a full bucket: the same as no state. */
export function gcraLoad(stored: GcraState | undefined, nowUs: number): GcraState {
  return { tatUs: stored === undefined || stored.tatUs < nowUs ? nowUs : stored.tatUs };
}

export function gcraConsume(
  state: GcraState,
  nowUs: number,
  p: GcraParams,
  cost: number,
): Consumed<GcraState> {
  const newTat = state.tatUs + p.emissionUs * cost;
  const allowAt = newTat - p.emissionUs * p.limit;
  if (nowUs < allowAt) return { allowed: false, retryAfterMs: Math.ceil((allowAt - nowUs) / 1000) };
  return { allowed: true, state: { tatUs: newTat } };
}

export function gcraDescribe(state: GcraState, nowUs: number, p: GcraParams): Described {
  const level = state.tatUs - nowUs;
  const remaining = Math.floor((p.emissionUs * p.limit - level) / p.emissionUs);
  return { remaining: Math.max(remaining, 0), resetMs: Math.ceil(level / 1000) };
}

/** Move the TAT back by the refunded units, never before now (a full bucket). Undefined: delete. */
export function gcraRefund(
  state: GcraState,
  nowUs: number,
  p: GcraParams,
  cost: number,
): GcraState | undefined {
  const tat = state.tatUs - p.emissionUs * cost;
  return tat <= nowUs ? undefined : { tatUs: tat };
}

/** Milliseconds the state must be kept: until the TAT, after which it equals no state. */
export function gcraTtlMs(state: GcraState, nowUs: number): number {
  return Math.ceil((state.tatUs - nowUs) / 1000);
}
