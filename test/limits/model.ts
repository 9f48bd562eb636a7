/**
 * Model-based tests: random sequences of time advances, requests, refunds and releases,
 * played against a limiter and against a deliberately naive reference, whose decisions the
 * limiter must match exactly (allowed, remaining, reset, retry). The references keep a log
 * of every allowed request (or a continuously draining level for the bucket) and answer by
 * counting and searching, not by the closed forms the algorithms use. memory.test.ts runs
 * them on MemoryLimiter; redis.test.ts replays the same sequences (same seed) on
 * RedisLimiter with its test clock, which is what proves the Lua mirrors the TypeScript.
 *
 * Set PORTCULLIS_MODEL_SEED to explore other sequences (both backends take the same seed);
 * a failure prints the seed and path to replay it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ManualClock } from '../../src/core/clock.js';
import { compileLimit, type LimitSpec } from '../../src/limits/compile.js';
import type { CompiledLimit, ConcurrencyLease, LimitCheck, RateLimiter } from '../../src/limits/types.js';

export const MODEL_SEED = Number(process.env['PORTCULLIS_MODEL_SEED'] ?? 20260101);
export const MODEL_RUNS = Number(process.env['PORTCULLIS_MODEL_RUNS'] ?? 100);
const LEASE_TTL_MS = 300_000;

// ---------------------------------------------------------------- reference implementations

interface RefDescribe {
  remaining: number;
  resetMs: number;
}

interface Reference {
  /** Would a request of `cost` pass now; if not, after how many ms (the first ms at which it would). */
  evaluate(now: number, cost: number): { allowed: boolean; retryAfterMs: number };
  commit(now: number, cost: number, leaseId: string | undefined): void;
  describe(now: number): RefDescribe;
  refund(now: number, cost: number): void;
  release(leaseId: string): void;
}

/** Smallest t in (lo, hi] with pred(t), for pred monotone (false … false true … true) and pred(hi) true. */
function firstTrue(lo: number, hi: number, pred: (t: number) => boolean): number {
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (pred(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

interface LogEntry {
  t: number;
  cost: number;
}

function sumWhere(log: readonly LogEntry[], keep: (t: number) => boolean): number {
  let sum = 0;
  for (const entry of log) if (keep(entry.t)) sum += entry.cost;
  return sum;
}

/** Remove `cost` units from the newest entries that `keep` accepts. */
function takeBack(log: LogEntry[], cost: number, keep: (t: number) => boolean): void {
  let left = cost;
  for (let i = log.length - 1; i >= 0 && left > 0; i--) {
    const entry = log[i]!;
    if (!keep(entry.t)) continue;
    const taken = Math.min(entry.cost, left);
    entry.cost -= taken;
    left -= taken;
  }
}

/** A window as "the set of instants with the same label", labels never repeating once left. */
class WindowLogReference implements Reference {
  readonly #log: LogEntry[] = [];
  constructor(
    readonly limit: number,
    readonly label: (t: number) => string,
  ) {}

  #count(now: number): number {
    const label = this.label(now);
    return sumWhere(this.#log, (t) => this.label(t) === label);
  }

  /** The first instant after `now` with another label: exponential then binary search. */
  #end(now: number): number {
    const label = this.label(now);
    let step = 1;
    let lo = now;
    while (this.label(now + step) === label) {
      lo = now + step;
      step *= 2;
    }
    return firstTrue(lo, now + step, (t) => this.label(t) !== label);
  }

  evaluate(now: number, cost: number) {
    const allowed = this.#count(now) + cost <= this.limit;
    return { allowed, retryAfterMs: allowed ? 0 : this.#end(now) - now };
  }
  commit(now: number, cost: number): void {
    this.#log.push({ t: now, cost });
  }
  describe(now: number): RefDescribe {
    const count = this.#count(now);
    return { remaining: Math.max(0, this.limit - count), resetMs: count > 0 ? this.#end(now) - now : 0 };
  }
  refund(now: number, cost: number): void {
    const label = this.label(now);
    takeBack(this.#log, cost, (t) => this.label(t) === label);
  }
  release(): void {}
}

/** Cloudflare's estimate, computed from the log of allowed requests at any instant. */
class SlidingLogReference implements Reference {
  readonly #log: LogEntry[] = [];
  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  #counts(now: number): { prev: number; curr: number; e: number } {
    const w = this.windowMs;
    const start = now - (now % w);
    return {
      prev: sumWhere(this.#log, (t) => t >= start - w && t < start),
      curr: sumWhere(this.#log, (t) => t >= start && t <= now),
      e: now - start,
    };
  }

  /** Whether `cost` more fits at instant `t` (with no other request in between). */
  #fits(t: number, cost: number): boolean {
    const { prev, curr, e } = this.#counts(t);
    const w = this.windowMs;
    return prev * (w - e) + (curr + cost) * w <= this.limit * w;
  }

  evaluate(now: number, cost: number) {
    if (this.#fits(now, cost)) return { allowed: true, retryAfterMs: 0 };
    // The estimate only decays while nobody sends, so "fits" is monotone in time.
    return {
      allowed: false,
      retryAfterMs: firstTrue(now, now + 2 * this.windowMs, (t) => this.#fits(t, cost)) - now,
    };
  }
  commit(now: number, cost: number): void {
    this.#log.push({ t: now, cost });
  }
  describe(now: number): RefDescribe {
    let remaining = 0;
    while (remaining < this.limit && this.#fits(now, remaining + 1)) remaining++;
    const empty = (t: number) => {
      const { prev, curr, e } = this.#counts(t);
      return prev * (this.windowMs - e) + curr * this.windowMs === 0;
    };
    const resetMs = empty(now) ? 0 : firstTrue(now, now + 2 * this.windowMs, empty) - now;
    return { remaining, resetMs };
  }
  refund(now: number, cost: number): void {
    const start = now - (now % this.windowMs);
    takeBack(this.#log, cost, (t) => t >= start - this.windowMs);
  }
  release(): void {}
}

/** The leaky-bucket form of GCRA: a level in µs that drains continuously, one interval per unit. */
class LeakyBucketReference implements Reference {
  #level = 0;
  #at = 0;
  constructor(
    readonly limit: number,
    readonly emissionUs: number,
  ) {}

  #drained(now: number): number {
    return Math.max(0, this.#level - (now * 1000 - this.#at));
  }
  evaluate(now: number, cost: number) {
    const over = this.#drained(now) + cost * this.emissionUs - this.limit * this.emissionUs;
    return over <= 0
      ? { allowed: true, retryAfterMs: 0 }
      : { allowed: false, retryAfterMs: Math.ceil(over / 1000) };
  }
  commit(now: number, cost: number): void {
    this.#level = this.#drained(now) + cost * this.emissionUs;
    this.#at = now * 1000;
  }
  describe(now: number): RefDescribe {
    const level = this.#drained(now);
    let remaining = 0;
    while (level + (remaining + 1) * this.emissionUs <= this.limit * this.emissionUs) remaining++;
    return { remaining, resetMs: Math.ceil(level / 1000) };
  }
  refund(now: number, cost: number): void {
    this.#level = Math.max(0, this.#drained(now) - cost * this.emissionUs);
    this.#at = now * 1000;
  }
  release(): void {}
}

class LeaseReference implements Reference {
  readonly #leases = new Map<string, number>();
  constructor(readonly limit: number) {}

  #live(now: number): number[] {
    return [...this.#leases.values()].filter((expiry) => expiry > now);
  }
  evaluate(now: number) {
    const live = this.#live(now);
    if (live.length < this.limit) return { allowed: true, retryAfterMs: 0 };
    return { allowed: false, retryAfterMs: Math.min(1_000, Math.min(...live) - now) };
  }
  commit(now: number, _cost: number, leaseId: string | undefined): void {
    this.#leases.set(leaseId!, now + LEASE_TTL_MS);
  }
  describe(now: number): RefDescribe {
    const live = this.#live(now);
    return {
      remaining: Math.max(0, this.limit - live.length),
      resetMs: live.length >= this.limit ? Math.min(...live) - now : 0,
    };
  }
  refund(): void {}
  release(leaseId: string): void {
    this.#leases.delete(leaseId);
  }
}

function localLabel(timeZone: string, period: 'day' | 'month'): (t: number) => string {
  // A different route to the local date than src/limits/calendar.ts: a formatted string.
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    ...(period === 'day' ? { day: '2-digit' } : {}),
  });
  return (t) => format.format(t);
}

function referenceFor(spec: LimitSpec): Reference {
  switch (spec.algorithm) {
    case 'fixed_window':
      return new WindowLogReference(spec.limit, (t) => String(Math.floor(t / spec.windowMs!)));
    case 'sliding_window':
      return new SlidingLogReference(spec.limit, spec.windowMs!);
    case 'token_bucket':
      return new LeakyBucketReference(spec.limit, Math.round((spec.rate!.perMs * 1000) / spec.rate!.count));
    case 'quota':
      if (spec.period === 'rolling_24h') return new SlidingLogReference(spec.limit, 86_400_000);
      return new WindowLogReference(spec.limit, localLabel(spec.timeZone ?? 'UTC', spec.period!));
    case 'concurrency':
      return new LeaseReference(spec.limit);
  }
}

// ---------------------------------------------------------------- scenarios

type Op =
  | { kind: 'advance'; ms: number }
  | { kind: 'check'; costs: number[] }
  | { kind: 'refund'; costs: number[] }
  | { kind: 'release'; pick: number };

interface Scenario {
  specs: LimitSpec[];
  startMs: number;
  ops: Op[];
}

interface Family {
  spec: fc.Arbitrary<LimitSpec>;
  /** Largest single time step: a few windows, so boundaries and decay are crossed often. */
  maxAdvanceMs: number;
  start: fc.Arbitrary<number>;
}

const policy = 'model';
const anyStart = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) });
/** Instants near DST changes (and a skipped midnight) in the zones the calendar cases use. */
const DST_EDGES = [
  '2026-03-29T01:00:00Z', // Europe/Berlin spring
  '2026-10-25T01:00:00Z', // Europe/Berlin autumn
  '2026-03-08T07:00:00Z', // America/New_York spring
  '2026-11-01T06:00:00Z', // America/New_York autumn
  '2026-09-06T04:00:00Z', // America/Santiago: midnight skipped
  '2026-04-05T03:00:00Z', // America/Santiago: 24:00 → 23:00
  '2026-04-04T15:00:00Z', // Australia/Lord_Howe: 30-minute change
].map(Date.parse);
const ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'America/Santiago',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'UTC',
];
const nearDstEdge = fc
  .tuple(fc.constantFrom(...DST_EDGES), fc.integer({ min: -40 * 3_600_000, max: 40 * 3_600_000 }))
  .map(([edge, offset]) => edge + offset);

export const FAMILIES: Record<string, Family> = {
  fixed_window: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('fixed_window' as const),
      limit: fc.integer({ min: 1, max: 5 }),
      windowMs: fc.integer({ min: 1, max: 300 }),
    }),
    maxAdvanceMs: 400,
    start: anyStart,
  },
  sliding_window: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('sliding_window' as const),
      limit: fc.integer({ min: 1, max: 6 }),
      windowMs: fc.integer({ min: 1, max: 300 }),
    }),
    maxAdvanceMs: 400,
    start: anyStart,
  },
  token_bucket: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('token_bucket' as const),
      limit: fc.integer({ min: 1, max: 6 }),
      rate: fc.oneof(
        fc.record({ count: fc.integer({ min: 1, max: 10 }), perMs: fc.integer({ min: 1, max: 500 }) }),
        // Sub-millisecond emission intervals, up to the 1 000 000/s (1 µs) compileLimit allows.
        fc.record({ count: fc.integer({ min: 100, max: 1_000 }), perMs: fc.integer({ min: 1, max: 50 }) }),
      ),
    }),
    maxAdvanceMs: 600,
    start: anyStart,
  },
  quota_rolling_24h: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('quota' as const),
      limit: fc.integer({ min: 1, max: 5 }),
      period: fc.constant('rolling_24h' as const),
    }),
    maxAdvanceMs: 20 * 3_600_000,
    start: anyStart,
  },
  quota_day: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('quota' as const),
      limit: fc.integer({ min: 1, max: 4 }),
      period: fc.constant('day' as const),
      timeZone: fc.constantFrom(...ZONES),
    }),
    maxAdvanceMs: 14 * 3_600_000,
    start: nearDstEdge,
  },
  quota_month: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('quota' as const),
      limit: fc.integer({ min: 1, max: 4 }),
      period: fc.constant('month' as const),
      timeZone: fc.constantFrom(...ZONES),
    }),
    maxAdvanceMs: 12 * 86_400_000,
    start: nearDstEdge,
  },
  concurrency: {
    spec: fc.record({
      policyId: fc.constant(policy),
      algorithm: fc.constant('concurrency' as const),
      limit: fc.integer({ min: 1, max: 4 }),
    }),
    maxAdvanceMs: 200_000,
    start: anyStart,
  },
};

function opsFor(limits: readonly { limit: number }[], maxAdvanceMs: number): fc.Arbitrary<Op[]> {
  const costs = fc.tuple(...limits.map((l) => fc.integer({ min: 1, max: l.limit })));
  return fc.array(
    fc.oneof(
      { weight: 4, arbitrary: costs.map((c): Op => ({ kind: 'check', costs: c })) },
      {
        weight: 3,
        arbitrary: fc
          .oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: maxAdvanceMs }))
          .map((ms): Op => ({ kind: 'advance', ms })),
      },
      { weight: 1, arbitrary: costs.map((c): Op => ({ kind: 'refund', costs: c })) },
      { weight: 1, arbitrary: fc.nat(20).map((pick): Op => ({ kind: 'release', pick })) },
    ),
    { maxLength: 40 },
  );
}

function scenarioOf(families: readonly Family[]): fc.Arbitrary<Scenario> {
  return fc.tuple(fc.tuple(...families.map((f) => f.spec)), families[0]!.start).chain(([specs, startMs]) =>
    opsFor(specs, Math.max(...families.map((f) => f.maxAdvanceMs))).map((ops) => ({
      specs: specs.map((spec, i) => ({ ...spec, policyId: `${spec.policyId}${i}` })),
      startMs,
      ops,
    })),
  );
}

let runSeq = 0;

/** Play a scenario on a limiter and on the references; every decision must be equal. */
async function replay(limiter: RateLimiter, clock: ManualClock, scenario: Scenario): Promise<void> {
  const identity = `run:${process.pid}:${++runSeq}:${Math.random().toString(36).slice(2, 8)}`;
  const limits: CompiledLimit[] = scenario.specs.map((spec) => compileLimit(spec));
  const refs = scenario.specs.map(referenceFor);
  const held: ConcurrencyLease[] = [];
  clock.set(scenario.startMs);
  for (const [step, op] of scenario.ops.entries()) {
    const now = clock.now();
    const where = `step ${step} (${op.kind}) at ${new Date(now).toISOString()}`;
    switch (op.kind) {
      case 'advance':
        clock.advance(op.ms);
        break;
      case 'check': {
        const checks: LimitCheck[] = limits.map((limit, i) => ({ limit, identity, cost: op.costs[i]! }));
        const got = await limiter.checkAll(checks);
        const evaluated = refs.map((ref, i) => ref.evaluate(now, op.costs[i]!));
        const allowed = evaluated.every((e) => e.allowed);
        const leaseIds = got.leases.map((lease) => lease.leaseId);
        if (allowed) {
          let nextLease = 0;
          refs.forEach((ref, i) => {
            const leaseId =
              scenario.specs[i]!.algorithm === 'concurrency' ? leaseIds[nextLease++] : undefined;
            ref.commit(now, op.costs[i]!, leaseId);
          });
          held.push(...got.leases);
        }
        const expected = refs.map((ref, i) => ({
          allowed: evaluated[i]!.allowed,
          limit: scenario.specs[i]!.limit,
          ...ref.describe(now),
          retryAfterMs: evaluated[i]!.allowed ? undefined : evaluated[i]!.retryAfterMs,
        }));
        assert.deepEqual(
          { allowed: got.allowed, decisions: got.decisions },
          { allowed, decisions: expected },
          where,
        );
        assert.equal(
          got.leases.length,
          allowed ? scenario.specs.filter((s) => s.algorithm === 'concurrency').length : 0,
        );
        break;
      }
      case 'refund':
        await limiter.refund(limits.map((limit, i) => ({ limit, identity, cost: op.costs[i]! })));
        for (const [i, ref] of refs.entries()) ref.refund(now, op.costs[i]!);
        break;
      case 'release': {
        if (held.length === 0) break;
        const [lease] = held.splice(op.pick % held.length, 1);
        await limiter.release([lease!]);
        for (const ref of refs) ref.release(lease!.leaseId);
        break;
      }
    }
  }
}

/**
 * Register one property test per algorithm family plus a mixed one (2–3 limits of different
 * families in every call, for all-or-nothing). `open` gives a limiter on `clock` with the
 * default lease TTL; it is closed after each run.
 */
export function runModelProperties(
  label: string,
  clock: ManualClock,
  open: () => Promise<RateLimiter>,
  options: { skip?: string | false } = {},
): void {
  const property = (families: Family[]) =>
    fc.asyncProperty(scenarioOf(families), async (scenario) => {
      const limiter = await open();
      try {
        await replay(limiter, clock, scenario);
      } finally {
        await limiter.close();
      }
    });
  for (const [name, family] of Object.entries(FAMILIES)) {
    test(`${label}: ${name} matches the reference model`, { skip: options.skip ?? false }, async () => {
      await fc.assert(property([family]), { seed: MODEL_SEED, numRuns: MODEL_RUNS });
    });
  }
  test(`${label}: several limits per call match the reference (all or nothing)`, {
    skip: options.skip ?? false,
  }, async () => {
    const names = Object.keys(FAMILIES);
    const mixed = fc
      .uniqueArray(fc.constantFrom(...names), { minLength: 2, maxLength: 3 })
      .chain((picked) => scenarioOf(picked.map((n) => FAMILIES[n]!)));
    await fc.assert(
      fc.asyncProperty(mixed, async (scenario) => {
        const limiter = await open();
        try {
          await replay(limiter, clock, scenario);
        } finally {
          await limiter.close();
        }
      }),
      { seed: MODEL_SEED, numRuns: MODEL_RUNS },
    );
  });
}
