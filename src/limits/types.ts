/**
 * Rate limits and quotas: the types the gateway's policies compile to and the one interface
 * both backends implement (`memory.ts`, one process; `redis.ts`, shared by every instance).
 * The contract suite in test/limits/limiter-contract.ts runs against both.
 *
 * A denial is data (`allowed: false` with a retry hint), never an exception: exceptions are
 * faults. A backend that cannot answer rejects with `LimiterUnavailableError` (errors.ts) so
 * the caller can apply the route's degraded mode (local / open / closed); a malformed limit
 * or check is a caller bug and rejects with a TypeError or RangeError naming the field.
 */

export type LimitAlgorithm = 'token_bucket' | 'sliding_window' | 'fixed_window' | 'quota' | 'concurrency';

/**
 * `rolling_24h`: the sliding-window estimate over 24 h. `day` / `month`: calendar windows that
 * start at local midnight / on the 1st in `timeZone` (23, 24 or 25 h long across DST changes).
 */
export type QuotaPeriod = 'rolling_24h' | 'day' | 'month';

/**
 * One limit, as a policy compiles to it (build it with `compileLimit`, which validates, fills
 * `windowMs` and freezes it; the request path then only looks it up).
 */
export interface CompiledLimit {
  /** Names the counter together with the identity: two limits with one policyId share state. */
  readonly policyId: string;
  readonly algorithm: LimitAlgorithm;
  /**
   * Requests allowed per window (fixed/sliding window, quota), the bucket capacity = burst
   * (token bucket), or the requests in flight at once (concurrency).
   */
  readonly limit: number;
  /**
   * Window length for fixed and sliding windows. For a token bucket, the emission interval
   * (`rate.perMs / rate.count`, possibly fractional; informative, `rate` is authoritative).
   * For quotas the nominal period (24 h, or 31 days for `month`), for headers only.
   * Unused (0) for concurrency.
   */
  readonly windowMs: number;
  /** Token bucket refill rate: `count` tokens every `perMs` milliseconds. */
  readonly rate?: { readonly count: number; readonly perMs: number };
  /** Quota only. */
  readonly period?: QuotaPeriod;
  /** Quota `day` / `month` only: an IANA time zone. Default 'UTC'. */
  readonly timeZone?: string;
}

export interface LimitCheck {
  readonly limit: CompiledLimit;
  /**
   * Whose counter, already built by the caller, e.g. "key:key_abc" or "ip:2001:db8::/64".
   * Identities longer than 200 characters are stored by their SHA-256, so any length is safe.
   */
  readonly identity: string;
  /**
   * Units this request consumes (default 1), a positive integer. A cost above the limit can
   * never pass and is always denied. Concurrency ignores it: a request holds one slot.
   */
  readonly cost?: number;
}

export interface LimitDecision {
  /** Whether this limit alone lets the request through. */
  readonly allowed: boolean;
  readonly limit: number;
  /**
   * Units left after this call: after the consumption when the whole request was allowed,
   * otherwise what is left unconsumed (a denied request consumes nothing anywhere).
   */
  readonly remaining: number;
  /**
   * Milliseconds until the full limit is available again (window over, bucket full, counts
   * decayed); 0 when it already is. For concurrency: 0 while a slot is free, else the time
   * until the oldest lease expires on its own (an upper bound: a release frees it earlier).
   */
  readonly resetMs: number;
  /** Set when this limit denies: milliseconds until a request of the same cost could pass. */
  readonly retryAfterMs: number | undefined;
}

/** A held concurrency slot. Pass it to `release` when the response ends or the client aborts. */
export interface ConcurrencyLease {
  readonly policyId: string;
  readonly identity: string;
  readonly leaseId: string;
}

export interface CheckAllResult {
  /** True when every check allowed; only then was anything consumed. */
  readonly allowed: boolean;
  /** One decision per check, in the order of the checks. */
  readonly decisions: LimitDecision[];
  /** One lease per concurrency check, in check order; empty when not allowed. */
  readonly leases: ConcurrencyLease[];
}

export interface RateLimiter {
  readonly kind: 'memory' | 'redis';
  /**
   * Evaluate every limit that applies to one request, all or nothing: when any check denies,
   * nothing is consumed on any of them (a client hammering at its limit is not locked out by
   * its own rejected requests), and every decision is still returned so headers can show the
   * tightest limit. Atomic with respect to concurrent calls, in every process sharing the backend.
   */
  checkAll(checks: readonly LimitCheck[]): Promise<CheckAllResult>;
  /** Free concurrency slots. Idempotent; releasing an expired or unknown lease does nothing. */
  release(leases: readonly ConcurrencyLease[]): Promise<void>;
  /**
   * Give back the `cost` of allowed requests whose upstream failed, where the policy asks.
   * Never gives back more than is counted in the current state; a no-op for concurrency.
   */
  refund(checks: readonly LimitCheck[]): Promise<void>;
  close(): Promise<void>;
}
