/**
 * Limits are validated and reduced once, when policies are compiled (STYLE 6): the request
 * path only looks up the derived parameters (a WeakMap keyed by the frozen CompiledLimit) and
 * builds the storage key. Messages name the field (STYLE 9).
 */
import { createHash } from 'node:crypto';
import { ROLLING_24H_MS } from './algorithms/quota.js';
import { type CalendarPeriod, checkTimeZone } from './calendar.js';
import type { CompiledLimit, LimitAlgorithm, LimitCheck, QuotaPeriod } from './types.js';

/** What a policy says, before validation. */
export interface LimitSpec {
  policyId: string;
  algorithm: LimitAlgorithm;
  limit: number;
  /** Fixed and sliding windows: the window. Token bucket: the emission interval, when `rate` is not given. */
  windowMs?: number;
  rate?: { count: number; perMs: number };
  period?: QuotaPeriod;
  timeZone?: string;
}

/**
 * The derived parameters an algorithm runs on. `tag` picks the algorithm (and the branch of
 * the Redis script); `suffix` ends the storage key, so a policy that changes algorithm or
 * quota period starts from fresh state instead of misreading the old one.
 */
export type LimitShape =
  | { readonly tag: 'tb'; readonly suffix: 'tb'; readonly limit: number; readonly emissionUs: number }
  | { readonly tag: 'sw'; readonly suffix: 'sw' | 'qr'; readonly limit: number; readonly windowMs: number }
  | { readonly tag: 'fw'; readonly suffix: 'fw'; readonly limit: number; readonly windowMs: number }
  | {
      readonly tag: 'cal';
      readonly suffix: 'qd' | 'qm';
      readonly limit: number;
      readonly period: CalendarPeriod;
      readonly timeZone: string;
    }
  | { readonly tag: 'cc'; readonly suffix: 'cc'; readonly limit: number };

export interface PlannedCheck {
  readonly shape: LimitShape;
  /** Storage key without the backend's prefix. */
  readonly key: string;
  /** The check's cost, capped at limit + 1 (any cost above the limit is denied alike). */
  readonly cost: number;
}

/** Policy ids are ours (e.g. "pol_…"); the cap and the brace ban keep keys and hash tags sane. */
export const MAX_POLICY_ID_LENGTH = 128;
/** Longer identities are stored by their SHA-256 so a client-influenced value cannot make huge keys. */
export const MAX_IDENTITY_LENGTH = 200;
/**
 * Products such as limit × W and T × burst must stay exact in doubles (JavaScript and Lua
 * alike). 2^51 leaves room for the sums the algorithms form from them (curr + cost ≤ 2×limit + 1).
 */
const MAX_PRODUCT = 2 ** 51;
const ALGORITHMS: readonly LimitAlgorithm[] = [
  'token_bucket',
  'sliding_window',
  'fixed_window',
  'quota',
  'concurrency',
];
const PERIODS: readonly QuotaPeriod[] = ['rolling_24h', 'day', 'month'];
/** Nominal period lengths, for `windowMs` of quotas (headers); the calendar decides the real ones. */
const NOMINAL_MS: Record<QuotaPeriod, number> = {
  rolling_24h: ROLLING_24H_MS,
  day: 86_400_000,
  month: 31 * 86_400_000,
};

const shapes = new WeakMap<CompiledLimit, LimitShape>();

/** Validate a limit and freeze it; the result can be used by any limiter. */
export function compileLimit(spec: LimitSpec): CompiledLimit {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('limit must be an object');
  const { policyId, algorithm, limit } = spec;
  if (
    typeof policyId !== 'string' ||
    policyId.length === 0 ||
    policyId.length > MAX_POLICY_ID_LENGTH ||
    /[{}]/.test(policyId)
  ) {
    throw new TypeError(
      `limit.policyId must be a non-empty string of at most ${MAX_POLICY_ID_LENGTH} characters without braces`,
    );
  }
  if (!ALGORITHMS.includes(algorithm)) {
    throw new TypeError(`limit.algorithm must be one of ${ALGORITHMS.join(', ')} (got ${String(algorithm)})`);
  }
  positiveInteger(limit, 'limit.limit');
  const only = (field: 'rate' | 'period' | 'timeZone' | 'windowMs', allowed: boolean, what: string) => {
    if (!allowed && spec[field] !== undefined) throw new TypeError(`limit.${field} applies to ${what} only`);
  };
  only('rate', algorithm === 'token_bucket', 'token_bucket');
  only('period', algorithm === 'quota', 'quota');
  only(
    'timeZone',
    algorithm === 'quota' && (spec.period === 'day' || spec.period === 'month'),
    'day and month quotas',
  );
  only(
    'windowMs',
    algorithm === 'token_bucket' || algorithm === 'sliding_window' || algorithm === 'fixed_window',
    'token_bucket, sliding_window and fixed_window',
  );

  let compiled: CompiledLimit;
  let shape: LimitShape;
  switch (algorithm) {
    case 'token_bucket': {
      let emissionMs: number;
      let rate: { count: number; perMs: number } | undefined;
      if (spec.rate !== undefined) {
        if (typeof spec.rate !== 'object' || spec.rate === null)
          throw new TypeError('limit.rate must be an object');
        positiveInteger(spec.rate.count, 'limit.rate.count');
        positiveInteger(spec.rate.perMs, 'limit.rate.perMs');
        rate = Object.freeze({ count: spec.rate.count, perMs: spec.rate.perMs });
        emissionMs = rate.perMs / rate.count;
      } else {
        const windowMs = spec.windowMs;
        if (typeof windowMs !== 'number' || !Number.isFinite(windowMs) || windowMs <= 0) {
          throw new TypeError(
            'limit.rate (or limit.windowMs, the emission interval) is required for token_bucket',
          );
        }
        emissionMs = windowMs;
      }
      const emissionUs = Math.round(emissionMs * 1000);
      if (emissionUs < 1) throw new RangeError('limit.rate must be at most 1 000 000 per second');
      if (emissionUs * limit > MAX_PRODUCT) {
        throw new RangeError('limit.limit × the emission interval must be at most 2^51 µs (about 71 years)');
      }
      compiled = {
        policyId,
        algorithm,
        limit,
        windowMs: emissionMs,
        ...(rate === undefined ? {} : { rate }),
      };
      shape = { tag: 'tb', suffix: 'tb', limit, emissionUs };
      break;
    }
    case 'sliding_window':
    case 'fixed_window': {
      const windowMs = spec.windowMs;
      positiveInteger(windowMs, 'limit.windowMs');
      checkProduct(limit, windowMs as number);
      compiled = { policyId, algorithm, limit, windowMs: windowMs as number };
      shape =
        algorithm === 'sliding_window'
          ? { tag: 'sw', suffix: 'sw', limit, windowMs: windowMs as number }
          : { tag: 'fw', suffix: 'fw', limit, windowMs: windowMs as number };
      break;
    }
    case 'quota': {
      const period = spec.period;
      if (period === undefined || !PERIODS.includes(period)) {
        throw new TypeError(
          `limit.period must be one of ${PERIODS.join(', ')} for quota (got ${String(period)})`,
        );
      }
      if (period === 'rolling_24h') {
        checkProduct(limit, ROLLING_24H_MS);
        compiled = { policyId, algorithm, limit, windowMs: ROLLING_24H_MS, period };
        shape = { tag: 'sw', suffix: 'qr', limit, windowMs: ROLLING_24H_MS };
      } else {
        const timeZone = checkTimeZone(spec.timeZone ?? 'UTC', 'limit.timeZone');
        compiled = { policyId, algorithm, limit, windowMs: NOMINAL_MS[period], period, timeZone };
        shape = { tag: 'cal', suffix: period === 'day' ? 'qd' : 'qm', limit, period, timeZone };
      }
      break;
    }
    case 'concurrency':
      compiled = { policyId, algorithm, limit, windowMs: 0 };
      shape = { tag: 'cc', suffix: 'cc', limit };
      break;
  }
  Object.freeze(compiled);
  shapes.set(compiled, Object.freeze(shape));
  return compiled;
}

/**
 * The derived parameters of a limit. A limit not made by `compileLimit` (a literal) is
 * compiled on first use; then it is the same WeakMap lookup.
 */
export function shapeOf(limit: CompiledLimit): LimitShape {
  const cached = shapes.get(limit);
  if (cached !== undefined) return cached;
  if (typeof limit !== 'object' || limit === null) throw new TypeError('check.limit must be a CompiledLimit');
  const { windowMs, ...rest } = limit;
  // A literal carries the derived windowMs of token buckets and quotas; only the spec's own fields count.
  const spec: LimitSpec = {
    ...rest,
    ...(limit.algorithm === 'sliding_window' ||
    limit.algorithm === 'fixed_window' ||
    (limit.algorithm === 'token_bucket' && limit.rate === undefined)
      ? { windowMs }
      : {}),
  } as LimitSpec;
  const shape = shapes.get(compileLimit(spec))!;
  shapes.set(limit, shape);
  return shape;
}

/**
 * Plans of frozen checks. A caller that reuses one frozen check per (limit, identity), as the
 * pipeline stage does for a returning caller, then pays one WeakMap lookup per request instead
 * of validating and building the storage key string again (and the backend's Map lookup hashes
 * a string whose hash is already cached). A frozen check cannot change, so its plan cannot either.
 */
const plans = new WeakMap<LimitCheck, PlannedCheck>();

export function planCheck(check: LimitCheck): PlannedCheck {
  if (typeof check !== 'object' || check === null) throw new TypeError('check must be an object');
  const cached = plans.get(check);
  if (cached !== undefined) return cached;
  const shape = shapeOf(check.limit);
  const { identity } = check;
  if (typeof identity !== 'string' || identity.length === 0) {
    throw new TypeError('check.identity must be a non-empty string');
  }
  let cost = 1;
  if (check.cost !== undefined) {
    positiveInteger(check.cost, 'check.cost');
    cost = check.cost > shape.limit ? shape.limit + 1 : check.cost;
  }
  const plan: PlannedCheck = { shape, key: storageKey(check.limit.policyId, identity, shape.suffix), cost };
  if (Object.isFrozen(check)) plans.set(check, plan);
  return plan;
}

/**
 * `rl:{<policyId>:<identity>}:<suffix>`. The braces are a Redis Cluster hash tag: the slot
 * is chosen by the policy and identity only, whatever the suffix. Identities are stored as
 * `=<identity>` or, beyond 200 characters, `#<sha256 base64url>`; the marker keeps a short
 * identity from ever colliding with the digest of a long one.
 */
export function storageKey(policyId: string, identity: string, suffix: string): string {
  const id =
    identity.length > MAX_IDENTITY_LENGTH
      ? `#${createHash('sha256').update(identity).digest('base64url')}`
      : `=${identity}`;
  // join() builds one flat string; a template literal builds a rope of 5 pieces, which the
  // memory backend would keep per entry (measured: ~150 B more per key, see README).
  return ['rl:{', policyId, ':', id, '}:', suffix].join('');
}

/** The key a lease's slot lives under. */
export function leaseKey(policyId: string, identity: string): string {
  return storageKey(policyId, identity, 'cc');
}

function positiveInteger(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${field} must be a positive integer (got ${String(value)})`);
  }
}

function checkProduct(limit: number, windowMs: number): void {
  if (limit * windowMs > MAX_PRODUCT) {
    throw new RangeError('limit.limit × limit.windowMs must be at most 2^51 (e.g. 26 million per 24 h)');
  }
}
