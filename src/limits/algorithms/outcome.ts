/**
 * What every algorithm returns. The algorithms are pure functions of (stored state, now,
 * parameters): the memory backend calls them, and the Redis script (../redis-script.ts)
 * repeats each one operation for operation, so both backends decide identically; the
 * model-based tests check that on random sequences. All arithmetic stays on integers below
 * 2^53, where JavaScript and Lua (both IEEE doubles) agree exactly; the only divisions are
 * immediately floored or ceiled.
 */

/** The result of trying to take `cost` units: the next state when allowed, a retry hint when not. */
export type Consumed<S> =
  | { readonly allowed: true; readonly state: S }
  | { readonly allowed: false; readonly retryAfterMs: number };

/** What a state means for the client right now (headers): see LimitDecision. */
export interface Described {
  readonly remaining: number;
  readonly resetMs: number;
}
