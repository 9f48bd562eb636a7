/**
 * The RateLimiter contract: one suite every backend must pass (STYLE 1). Run by
 * memory.test.ts and redis.test.ts, both on a ManualClock (Redis through the limiter's
 * `testClock`, which replaces the server's TIME in the script), so time-dependent cases are
 * exact and never sleep. Identities are unique per test: a shared Redis keeps state across tests.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { ManualClock } from '../../src/core/clock.js';
import { compileLimit, type LimitSpec } from '../../src/limits/compile.js';
import { LimiterUnavailableError } from '../../src/limits/errors.js';
import type { CompiledLimit, LimitCheck, LimitDecision, RateLimiter } from '../../src/limits/types.js';

export interface LimiterContractOptions {
  /** The clock the limiters opened by `open` run on; tests move it (and set dates for calendar cases). */
  clock: ManualClock;
  /** Lease TTL the opened limiters use (default 5 min). */
  leaseTtlMs?: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let policySeq = 0;

/** A compiled limit with a policy id unique to this process. */
export function limitOf(spec: Omit<LimitSpec, 'policyId'>): CompiledLimit {
  return compileLimit({ ...spec, policyId: `pol_${++policySeq}` } as LimitSpec);
}

export function runLimiterContract(
  label: string,
  open: () => Promise<RateLimiter>,
  { clock, leaseTtlMs = 5 * MINUTE }: LimiterContractOptions,
): void {
  let opened: RateLimiter[] = [];
  let seq = 0;
  const identity = (what: string) => `${what}:${++seq}:${Math.random().toString(36).slice(2, 8)}`;

  async function fresh(): Promise<RateLimiter> {
    const limiter = await open();
    opened.push(limiter);
    return limiter;
  }

  async function one(
    limiter: RateLimiter,
    limit: CompiledLimit,
    who: string,
    cost?: number,
  ): Promise<LimitDecision> {
    const result = await limiter.checkAll([
      { limit, identity: who, ...(cost === undefined ? {} : { cost }) },
    ]);
    assert.equal(result.decisions.length, 1);
    assert.equal(result.allowed, result.decisions[0]!.allowed);
    return result.decisions[0]!;
  }

  /** Send `n` requests one after another; how many passed. */
  async function allowedOf(
    limiter: RateLimiter,
    limit: CompiledLimit,
    who: string,
    n: number,
  ): Promise<number> {
    let allowed = 0;
    for (let i = 0; i < n; i++) if ((await one(limiter, limit, who)).allowed) allowed++;
    return allowed;
  }

  /** Move the clock to `offset` ms into the next window of `windowMs` (epoch-aligned windows). */
  function alignTo(windowMs: number, offset = 0): void {
    const now = clock.now();
    clock.advance(Math.floor(now / windowMs) * windowMs + windowMs + offset - now);
  }

  const at = (iso: string) => clock.set(Date.parse(iso));

  describe(`${label}: RateLimiter contract`, () => {
    afterEach(async () => {
      const closing = opened;
      opened = [];
      await Promise.all(closing.map((limiter) => limiter.close()));
    });

    describe('fixed_window', () => {
      test('allows up to the limit, then denies until the window ends', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'fixed_window', limit: 5, windowMs: MINUTE });
        const who = identity('fw');
        alignTo(MINUTE, 10_000);
        for (let i = 4; i >= 0; i--) {
          assert.deepEqual(await one(limiter, limit, who), {
            allowed: true,
            limit: 5,
            remaining: i,
            resetMs: 50_000,
            retryAfterMs: undefined,
          });
        }
        assert.deepEqual(await one(limiter, limit, who), {
          allowed: false,
          limit: 5,
          remaining: 0,
          resetMs: 50_000,
          retryAfterMs: 50_000,
        });
        clock.advance(49_999);
        assert.equal((await one(limiter, limit, who)).retryAfterMs, 1);
        clock.advance(1);
        const next = await one(limiter, limit, who);
        assert.equal(next.allowed, true);
        assert.equal(next.remaining, 4);
        assert.equal(next.resetMs, MINUTE);
      });

      test('a cost takes that many units; a cost above the limit never passes', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'fixed_window', limit: 5, windowMs: MINUTE });
        const who = identity('cost');
        alignTo(MINUTE);
        assert.equal((await one(limiter, limit, who, 3)).remaining, 2);
        const tooMuch = await one(limiter, limit, who, 3);
        assert.equal(tooMuch.allowed, false);
        assert.equal(tooMuch.remaining, 2, 'a denied cost consumes nothing');
        assert.equal((await one(limiter, limit, who, 2)).remaining, 0);
        clock.advance(MINUTE);
        assert.equal((await one(limiter, limit, identity('huge'), 6)).allowed, false);
        assert.equal((await one(limiter, limit, who, 1_000_000)).allowed, false);
        assert.equal((await one(limiter, limit, who, 5)).allowed, true);
      });
    });

    describe('sliding_window', () => {
      test('the previous window counts by its remaining overlap (two-window weighted estimate)', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'sliding_window', limit: 10, windowMs: 1_000 });
        const who = identity('sw');
        alignTo(1_000, 500);
        assert.equal(await allowedOf(limiter, limit, who, 12), 10);
        // 250 ms into the next window the previous 10 weigh 0.75 × 10 = 7.5: two more fit (9.5 ≤ 10).
        clock.advance(750);
        assert.equal(await allowedOf(limiter, limit, who, 2), 2);
        const denied = await one(limiter, limit, who);
        assert.equal(denied.allowed, false);
        assert.equal(denied.remaining, 0);
        // The third fits once 10 × (1000 − e)/1000 + 3 ≤ 10, i.e. e ≥ 300: 50 ms from now.
        assert.equal(denied.retryAfterMs, 50);
        clock.advance(49);
        assert.equal((await one(limiter, limit, who)).allowed, false);
        clock.advance(1);
        assert.equal((await one(limiter, limit, who)).allowed, true);
      });

      test('resetMs is when both windows have decayed: then the full limit is back', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'sliding_window', limit: 4, windowMs: 1_000 });
        const who = identity('sw-reset');
        alignTo(1_000, 300);
        const last = await one(limiter, limit, who, 4);
        assert.equal(last.resetMs, 1_700);
        clock.advance(1_699);
        assert.equal((await one(limiter, limit, who, 4)).allowed, false);
        clock.advance(1);
        assert.equal((await one(limiter, limit, who, 4)).allowed, true);
      });
    });

    describe('token_bucket (GCRA)', () => {
      test('a burst up to the capacity, then the steady rate', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'token_bucket', limit: 5, rate: { count: 10, perMs: 1_000 } });
        const who = identity('tb');
        for (let i = 4; i >= 0; i--) {
          const decision = await one(limiter, limit, who);
          assert.deepEqual(
            [decision.allowed, decision.remaining, decision.resetMs],
            [true, i, (5 - i) * 100],
            'each request pushes the full-bucket time 100 ms further',
          );
        }
        const denied = await one(limiter, limit, who);
        assert.deepEqual([denied.allowed, denied.retryAfterMs, denied.resetMs], [false, 100, 500]);
        clock.advance(100);
        assert.equal(await allowedOf(limiter, limit, who, 3), 1);
        clock.advance(50);
        assert.equal((await one(limiter, limit, who)).retryAfterMs, 50);
        clock.advance(50);
        // Steady state: one request per emission interval, never two.
        for (let i = 0; i < 20; i++) {
          assert.equal(await allowedOf(limiter, limit, who, 2), 1);
          clock.advance(100);
        }
        clock.advance(10_000);
        assert.equal(await allowedOf(limiter, limit, who, 10), 5, 'an idle bucket refills to the burst only');
      });

      test('sub-millisecond and non-integer emission intervals keep their precision', async () => {
        const limiter = await fresh();
        const fast = limitOf({ algorithm: 'token_bucket', limit: 1, rate: { count: 5_000, perMs: 1_000 } });
        const who = identity('fast');
        assert.equal((await one(limiter, fast, who)).allowed, true);
        const denied = await one(limiter, fast, who);
        assert.deepEqual([denied.allowed, denied.retryAfterMs], [false, 1], '200 µs, rounded up to 1 ms');
        clock.advance(1);
        assert.equal(await allowedOf(limiter, fast, who, 3), 1);
        const third = limitOf({ algorithm: 'token_bucket', limit: 1, rate: { count: 3, perMs: 1_000 } });
        const slow = identity('third');
        assert.equal((await one(limiter, third, slow)).allowed, true);
        assert.equal((await one(limiter, third, slow)).retryAfterMs, 334, '333.333 ms, rounded up');
      });
    });

    describe('quota', () => {
      test('rolling_24h: the limit per 24 h, freeing up as the previous day decays', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'quota', limit: 3, period: 'rolling_24h' });
        const who = identity('rolling');
        alignTo(24 * HOUR, 12 * HOUR);
        assert.equal(await allowedOf(limiter, limit, who, 5), 3);
        const denied = await one(limiter, limit, who);
        // Next day, the 3 weigh 3 × (24 h − e)/24 h; one more fits when that is ≤ 2: e ≥ 8 h.
        assert.equal(denied.retryAfterMs, 12 * HOUR + 8 * HOUR);
        assert.equal(denied.resetMs, 36 * HOUR);
        clock.advance(denied.resetMs);
        assert.equal(await allowedOf(limiter, limit, who, 5), 3);
      });

      test('day: windows start at local midnight, and a spring-forward day in Europe/Berlin is 23 h', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'quota', limit: 2, period: 'day', timeZone: 'Europe/Berlin' });
        const who = identity('day');
        // 2026-03-29: clocks go 02:00 CET → 03:00 CEST. The day runs 28 Mar 23:00Z → 29 Mar 22:00Z.
        at('2026-03-29T10:00:00Z');
        assert.equal(await allowedOf(limiter, limit, who, 2), 2);
        const denied = await one(limiter, limit, who);
        assert.equal(denied.allowed, false);
        assert.equal(denied.retryAfterMs, 12 * HOUR, 'until 22:00Z, not 23:00Z (the CET offset)');
        assert.equal(denied.resetMs, 12 * HOUR);
        at('2026-03-29T21:59:59.999Z');
        assert.equal((await one(limiter, limit, who)).allowed, false);
        at('2026-03-29T22:00:00.000Z');
        const next = await one(limiter, limit, who);
        assert.deepEqual([next.allowed, next.remaining, next.resetMs], [true, 1, 24 * HOUR]);
      });

      test('day: a fall-back day in Europe/Berlin is 25 h', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'quota', limit: 1, period: 'day', timeZone: 'Europe/Berlin' });
        const who = identity('day-autumn');
        // 2026-10-25: clocks go 03:00 CEST → 02:00 CET. The day runs 24 Oct 22:00Z → 25 Oct 23:00Z.
        at('2026-10-24T22:00:00.000Z');
        const first = await one(limiter, limit, who);
        assert.deepEqual([first.allowed, first.resetMs], [true, 25 * HOUR]);
        at('2026-10-25T22:59:59.999Z');
        assert.equal((await one(limiter, limit, who)).allowed, false);
        at('2026-10-25T23:00:00.000Z');
        assert.equal((await one(limiter, limit, who)).allowed, true);
      });

      test('day: where DST skips midnight (America/Santiago), the day starts at 01:00', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'quota', limit: 1, period: 'day', timeZone: 'America/Santiago' });
        const who = identity('santiago');
        // 2026-09-06 00:00 −04 does not exist: clocks jump to 01:00 −03, which is 04:00Z.
        at('2026-09-05T12:00:00.000Z');
        assert.equal((await one(limiter, limit, who)).allowed, true);
        at('2026-09-06T03:59:59.999Z');
        const denied = await one(limiter, limit, who);
        assert.deepEqual([denied.allowed, denied.retryAfterMs], [false, 1]);
        at('2026-09-06T04:00:00.000Z');
        assert.equal((await one(limiter, limit, who)).allowed, true);
      });

      test('month: windows start on the 1st at local midnight', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'quota', limit: 2, period: 'month', timeZone: 'Europe/Berlin' });
        const who = identity('month');
        // March 2026 in Berlin: 28 Feb 23:00Z → 31 Mar 22:00Z (CEST from the 29th).
        at('2026-03-01T00:00:00.000Z');
        assert.equal(await allowedOf(limiter, limit, who, 3), 2);
        at('2026-03-31T21:59:59.999Z');
        const denied = await one(limiter, limit, who);
        assert.deepEqual([denied.allowed, denied.retryAfterMs], [false, 1]);
        at('2026-03-31T22:00:00.000Z');
        const april = await one(limiter, limit, who);
        assert.deepEqual([april.allowed, april.remaining, april.resetMs], [true, 1, 30 * 24 * HOUR]);
      });

      test('UTC is the default time zone', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'quota', limit: 1, period: 'day' });
        const who = identity('utc');
        at('2026-05-05T23:59:59.000Z');
        assert.equal((await one(limiter, limit, who)).resetMs, 1_000);
      });
    });

    describe('concurrency', () => {
      test('leases hold slots until released; release is idempotent', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'concurrency', limit: 2 });
        const who = identity('cc');
        const a = await limiter.checkAll([{ limit, identity: who }]);
        const b = await limiter.checkAll([{ limit, identity: who }]);
        assert.equal(a.allowed && b.allowed, true);
        assert.equal(a.leases.length, 1);
        assert.deepEqual(
          [a.leases[0]!.policyId, a.leases[0]!.identity],
          [limit.policyId, who],
          'a lease names its counter',
        );
        assert.notEqual(a.leases[0]!.leaseId, b.leases[0]!.leaseId);
        assert.equal(b.decisions[0]!.remaining, 0);
        assert.equal(b.decisions[0]!.resetMs, leaseTtlMs, 'full: the oldest lease expires in one lease TTL');
        const c = await limiter.checkAll([{ limit, identity: who }]);
        assert.equal(c.allowed, false);
        assert.deepEqual(c.leases, [], 'a denied request holds nothing');
        assert.equal(c.decisions[0]!.retryAfterMs, 1_000);
        await limiter.release(a.leases);
        await limiter.release(a.leases);
        const d = await limiter.checkAll([{ limit, identity: who }]);
        assert.equal(d.allowed, true);
        assert.equal(
          (await limiter.checkAll([{ limit, identity: who }])).allowed,
          false,
          'the double release freed one slot',
        );
        await limiter.release([...b.leases, ...d.leases]);
        assert.equal((await one(limiter, limit, who)).remaining, 1);
      });

      test('leases expire on their own after the lease TTL (a crashed instance frees its slots)', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'concurrency', limit: 2 });
        const who = identity('cc-expiry');
        const first = await limiter.checkAll([{ limit, identity: who }]);
        clock.advance(1_000);
        await limiter.checkAll([{ limit, identity: who }]);
        assert.equal((await one(limiter, limit, who)).resetMs, leaseTtlMs - 1_000);
        clock.advance(leaseTtlMs - 1_000 - 1);
        assert.equal((await one(limiter, limit, who)).allowed, false);
        clock.advance(1);
        const after = await limiter.checkAll([{ limit, identity: who }]);
        assert.equal(after.allowed, true, 'the first lease expired');
        assert.equal(after.decisions[0]!.remaining, 0);
        await limiter.release(first.leases); // releasing an expired lease is harmless
        assert.equal((await one(limiter, limit, who)).allowed, false);
      });

      test('cost does not matter: a request holds one slot', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'concurrency', limit: 2 });
        const result = await limiter.checkAll([{ limit, identity: identity('cc-cost'), cost: 5 }]);
        assert.deepEqual([result.allowed, result.decisions[0]!.remaining], [true, 1]);
      });
    });

    describe('all or nothing', () => {
      test('when one check denies, nothing is consumed on the others, and every decision is returned', async () => {
        const limiter = await fresh();
        const tight = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: HOUR });
        const loose = limitOf({ algorithm: 'fixed_window', limit: 5, windowMs: HOUR });
        const who = identity('aon');
        alignTo(HOUR);
        assert.equal((await one(limiter, tight, who)).remaining, 0);
        const result = await limiter.checkAll([
          { limit: loose, identity: who },
          { limit: tight, identity: who },
        ]);
        assert.equal(result.allowed, false);
        assert.equal(result.decisions.length, 2);
        assert.deepEqual(
          [result.decisions[0]!.allowed, result.decisions[0]!.remaining, result.decisions[0]!.resetMs],
          [true, 5, 0],
          'the passing limit shows its unconsumed state',
        );
        assert.deepEqual([result.decisions[1]!.allowed, result.decisions[1]!.retryAfterMs], [false, HOUR]);
        assert.equal((await one(limiter, loose, who)).remaining, 4, 'only this request consumed it');
      });

      test('every algorithm together: one exhausted limit consumes nothing anywhere, and holds no lease', async () => {
        const limiter = await fresh();
        const who = identity('aon-all');
        const limits = [
          limitOf({ algorithm: 'token_bucket', limit: 3, rate: { count: 1, perMs: 1_000 } }),
          limitOf({ algorithm: 'sliding_window', limit: 3, windowMs: MINUTE }),
          limitOf({ algorithm: 'quota', limit: 3, period: 'rolling_24h' }),
          limitOf({ algorithm: 'quota', limit: 3, period: 'day', timeZone: 'Asia/Tokyo' }),
          limitOf({ algorithm: 'quota', limit: 3, period: 'month' }),
          limitOf({ algorithm: 'concurrency', limit: 3 }),
        ];
        const exhausted = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: HOUR });
        alignTo(HOUR);
        await one(limiter, exhausted, who);
        const checks: LimitCheck[] = [...limits, exhausted].map((limit) => ({ limit, identity: who }));
        for (let i = 0; i < 10; i++) {
          const result = await limiter.checkAll(checks);
          assert.equal(result.allowed, false);
          assert.deepEqual(result.leases, []);
          assert.deepEqual(
            result.decisions.map((d) => [d.allowed, d.remaining]),
            [...limits.map(() => [true, 3]), [false, 0]],
          );
        }
        const alone = await limiter.checkAll(checks.slice(0, -1));
        assert.equal(alone.allowed, true);
        assert.deepEqual(
          alone.decisions.map((d) => d.remaining),
          limits.map(() => 2),
        );
        assert.equal(alone.leases.length, 1);
      });

      test('the same counter twice in one call counts twice, in order', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'fixed_window', limit: 3, windowMs: HOUR });
        const who = identity('twice');
        alignTo(HOUR);
        const result = await limiter.checkAll([
          { limit, identity: who },
          { limit, identity: who },
        ]);
        assert.deepEqual(
          result.decisions.map((d) => d.remaining),
          [2, 1],
        );
        const over = await limiter.checkAll([
          { limit, identity: who },
          { limit, identity: who },
        ]);
        assert.equal(over.allowed, false);
        assert.deepEqual(
          over.decisions.map((d) => [d.allowed, d.remaining]),
          [
            [true, 1],
            [false, 1],
          ],
        );
        assert.equal((await one(limiter, limit, who)).remaining, 0);
      });

      test('no checks: allowed, nothing to report', async () => {
        const limiter = await fresh();
        assert.deepEqual(await limiter.checkAll([]), { allowed: true, decisions: [], leases: [] });
      });
    });

    describe('rejected requests do not consume', () => {
      const cases: Array<[string, Omit<LimitSpec, 'policyId'>]> = [
        ['fixed_window', { algorithm: 'fixed_window', limit: 10, windowMs: MINUTE }],
        ['sliding_window', { algorithm: 'sliding_window', limit: 10, windowMs: MINUTE }],
        ['token_bucket', { algorithm: 'token_bucket', limit: 10, rate: { count: 10, perMs: MINUTE } }],
        ['quota rolling_24h', { algorithm: 'quota', limit: 10, period: 'rolling_24h' }],
        ['quota day', { algorithm: 'quota', limit: 10, period: 'day', timeZone: 'America/New_York' }],
      ];
      for (const [name, spec] of cases) {
        test(`${name}: 1000 requests at a limit of 10, then after the reset exactly 10 again`, async () => {
          const limiter = await fresh();
          const limit = limitOf(spec);
          const who = identity('hammer');
          let allowed = 0;
          let last: LimitDecision | undefined;
          for (let i = 0; i < 1000; i++) {
            last = await one(limiter, limit, who);
            if (last.allowed) allowed++;
            if (i % 100 === 99) clock.advance(10); // the hammering spreads over a little time
          }
          assert.equal(allowed, 10);
          clock.advance(last!.resetMs);
          assert.equal(await allowedOf(limiter, limit, who, 20), 10);
        });
      }
    });

    describe('retry and reset hints are exact', () => {
      const cases: Array<[string, Omit<LimitSpec, 'policyId'>]> = [
        ['fixed_window', { algorithm: 'fixed_window', limit: 3, windowMs: 7_000 }],
        ['sliding_window', { algorithm: 'sliding_window', limit: 3, windowMs: 7_000 }],
        ['token_bucket', { algorithm: 'token_bucket', limit: 3, rate: { count: 2, perMs: 7_000 } }],
        ['quota rolling_24h', { algorithm: 'quota', limit: 3, period: 'rolling_24h' }],
        ['quota month', { algorithm: 'quota', limit: 3, period: 'month', timeZone: 'Australia/Lord_Howe' }],
      ];
      for (const [name, spec] of cases) {
        test(`${name}: denied 1 ms before retryAfterMs, allowed at it; full limit exactly at resetMs`, async () => {
          const limiter = await fresh();
          const limit = limitOf(spec);
          const who = identity('hint');
          clock.advance(1_234);
          let denied: LimitDecision | undefined;
          for (let i = 0; i < 10 && denied === undefined; i++) {
            const decision = await one(limiter, limit, who);
            if (!decision.allowed) denied = decision;
            clock.advance(333);
          }
          assert.ok(denied !== undefined);
          clock.advance(-333);
          const retry = denied.retryAfterMs!;
          assert.ok(retry > 0);
          clock.advance(retry - 1);
          assert.equal((await one(limiter, limit, who)).allowed, false);
          clock.advance(1);
          const passed = await one(limiter, limit, who);
          assert.equal(passed.allowed, true);
          clock.advance(passed.resetMs - 1);
          assert.equal((await one(limiter, limit, who, 3)).allowed, false, 'not full 1 ms before the reset');
          clock.advance(1);
          assert.equal((await one(limiter, limit, who, 3)).allowed, true, 'full at the reset');
        });
      }
    });

    describe('refund', () => {
      test('gives back units of windows, buckets and quotas; never more than was counted', async () => {
        const limiter = await fresh();
        const specs: Array<Omit<LimitSpec, 'policyId'>> = [
          { algorithm: 'fixed_window', limit: 2, windowMs: HOUR },
          { algorithm: 'sliding_window', limit: 2, windowMs: HOUR },
          { algorithm: 'token_bucket', limit: 2, rate: { count: 1, perMs: HOUR } },
          { algorithm: 'quota', limit: 2, period: 'rolling_24h' },
          { algorithm: 'quota', limit: 2, period: 'day', timeZone: 'Europe/Berlin' },
        ];
        alignTo(24 * HOUR, HOUR);
        for (const spec of specs) {
          const limit = limitOf(spec);
          const who = identity(`refund-${spec.algorithm}`);
          await limiter.refund([{ limit, identity: who }]); // nothing counted yet: nothing to give back
          assert.equal(await allowedOf(limiter, limit, who, 3), 2, spec.algorithm);
          await limiter.refund([{ limit, identity: who }]);
          assert.equal(await allowedOf(limiter, limit, who, 3), 1, `${spec.algorithm} after one refund`);
          await limiter.refund([{ limit, identity: who, cost: 50 }]);
          await limiter.refund([{ limit, identity: who, cost: 50 }]);
          assert.equal(await allowedOf(limiter, limit, who, 3), 2, `${spec.algorithm} after over-refunding`);
        }
      });

      test('refunding a concurrency check does nothing (release frees slots)', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'concurrency', limit: 1 });
        const who = identity('refund-cc');
        await limiter.checkAll([{ limit, identity: who }]);
        await limiter.refund([{ limit, identity: who }]);
        assert.equal((await one(limiter, limit, who)).allowed, false);
      });
    });

    describe('atomicity', () => {
      const cases: Array<[string, Omit<LimitSpec, 'policyId'>]> = [
        ['fixed_window', { algorithm: 'fixed_window', limit: 100, windowMs: HOUR }],
        ['sliding_window', { algorithm: 'sliding_window', limit: 100, windowMs: HOUR }],
        ['token_bucket', { algorithm: 'token_bucket', limit: 100, rate: { count: 1, perMs: HOUR } }],
        ['concurrency', { algorithm: 'concurrency', limit: 100 }],
      ];
      for (const [name, spec] of cases) {
        test(`${name}: 200 concurrent requests against a limit of 100, exactly 100 pass`, async () => {
          const limiter = await fresh();
          const limit = limitOf(spec);
          const other = limitOf({ algorithm: 'fixed_window', limit: 1_000, windowMs: HOUR });
          const who = identity('race');
          alignTo(HOUR);
          const results = await Promise.all(
            Array.from({ length: 200 }, () =>
              limiter.checkAll([
                { limit: other, identity: who },
                { limit, identity: who },
              ]),
            ),
          );
          assert.equal(results.filter((r) => r.allowed).length, 100);
          // All or nothing under concurrency too: the other limit counted only the 100.
          assert.equal((await one(limiter, other, who)).remaining, 1_000 - 101);
        });
      }
    });

    describe('identities and arguments', () => {
      test('identities of any length are kept apart (long ones are hashed)', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: HOUR });
        const base = identity('long').padEnd(5_000, 'x');
        assert.equal((await one(limiter, limit, `${base}a`)).allowed, true);
        assert.equal((await one(limiter, limit, `${base}b`)).allowed, true);
        assert.equal((await one(limiter, limit, `${base}a`)).allowed, false);
        const unicode = identity('ünï 🚪 {tag}');
        assert.equal((await one(limiter, limit, unicode)).allowed, true);
        assert.equal((await one(limiter, limit, unicode)).allowed, false);
      });

      test('a malformed check is a caller bug (TypeError/RangeError), not an outage', async () => {
        const limiter = await fresh();
        const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: HOUR });
        for (const cost of [0, -1, 1.5, Number.NaN]) {
          await assert.rejects(limiter.checkAll([{ limit, identity: 'x', cost }]), RangeError);
        }
        await assert.rejects(limiter.checkAll([{ limit, identity: '' }]), TypeError);
        await assert.rejects(
          limiter.checkAll([{ limit: { ...limit, limit: 0 }, identity: 'x' }]),
          /limit\.limit must be a positive integer/,
        );
      });

      test('a closed limiter rejects with LimiterUnavailableError (reason closed)', async () => {
        const limiter = await open();
        await limiter.close();
        const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: HOUR });
        await assert.rejects(limiter.checkAll([{ limit, identity: 'x' }]), (err: unknown) => {
          assert.ok(err instanceof LimiterUnavailableError);
          assert.equal(err.reason, 'closed');
          assert.equal(err.code, 'ERR_LIMITER_UNAVAILABLE');
          return true;
        });
        await limiter.close(); // idempotent
      });
    });
  });
}
