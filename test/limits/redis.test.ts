import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/core/clock.js';
import { compileLimit } from '../../src/limits/compile.js';
import { LimiterUnavailableError, type LimiterUnavailableReason } from '../../src/limits/errors.js';
import { RedisLimiter } from '../../src/limits/redis.js';
import type { CompiledLimit, RateLimiter } from '../../src/limits/types.js';
import { REDIS_URL, ROOMY_COMMAND_TIMEOUT_MS, redisGate, uniqueName } from '../helpers/services.js';
import { eventually, sleep, timed } from '../helpers/wait.js';
import { TcpProxy } from '../state/tcp-proxy.js';
import { limitOf, runLimiterContract } from './limiter-contract.js';
import { runModelProperties } from './model.js';

// Faults must surface as rejections of our calls, never as stray rejections or 'error'
// events nobody listens to (ioredis prints those instead of throwing).
const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`unhandledRejection: ${String(reason)}`));
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  if (String(args[0]).includes('[ioredis]')) strays.push(args.map(String).join(' '));
  consoleError(...args);
};

const redis = await redisGate();
const keyPrefix = `${uniqueName('pcl_rl_test')}:`;
const target = new URL(REDIS_URL);
const HOUR = 3_600_000;

function unavailable(result: PromiseSettledResult<unknown>, reason: LimiterUnavailableReason): void {
  assert.equal(result.status, 'rejected');
  const err = (result as PromiseRejectedResult).reason;
  assert.ok(err instanceof LimiterUnavailableError, `expected LimiterUnavailableError, got ${String(err)}`);
  assert.equal(err.reason, reason, err.message);
}

describe('RedisLimiter', { skip: redis.skip }, () => {
  let shared: Redis;
  let admin: Redis;

  before(async () => {
    shared = new Redis(REDIS_URL, { enableAutoPipelining: true, lazyConnect: true });
    admin = new Redis(REDIS_URL, { lazyConnect: true });
    await Promise.all([shared.connect(), admin.connect()]);
  });

  after(async () => {
    // Leave nothing behind in a Redis other suites (and developers) share.
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await Promise.all([admin.quit(), shared.quit()]);
    assert.deepEqual(strays, []);
  });

  const clock = new ManualClock();
  runLimiterContract(
    'RedisLimiter',
    () =>
      RedisLimiter.connect({
        url: REDIS_URL,
        keyPrefix,
        testClock: clock,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      }),
    {
      clock,
    },
  );

  describe('model (same sequences as MemoryLimiter, via the test clock)', () => {
    const modelClock = new ManualClock();
    runModelProperties(
      'RedisLimiter',
      modelClock,
      async () => new RedisLimiter(shared, { keyPrefix, testClock: modelClock }),
    );
  });

  describe('server time, keys and expiry', () => {
    test('decisions use the Redis server clock (TIME) when no test clock is set', async () => {
      const limiter = await RedisLimiter.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      try {
        const limit = limitOf({ algorithm: 'token_bucket', limit: 2, rate: { count: 10, perMs: 1_000 } });
        const who = uniqueName('server-time');
        const [first] = (await limiter.checkAll([{ limit, identity: who }])).decisions;
        const [serverSeconds, serverMicros] = await admin.time();
        const serverUs = Number(serverSeconds) * 1e6 + Number(serverMicros);
        const stored = Number(await admin.get(`${keyPrefix}rl:{${limit.policyId}:=${who}}:tb`));
        // The TAT is the server's "now" plus one emission interval (100 ms), in µs.
        assert.ok(Math.abs(stored - 100_000 - serverUs) < 500_000, `stored ${stored}, server ${serverUs}`);
        assert.equal(first!.allowed, true);
        assert.equal((await limiter.checkAll([{ limit, identity: who }])).allowed, true);
        const denied = (await limiter.checkAll([{ limit, identity: who }])).decisions[0]!;
        assert.equal(denied.allowed, false);
        assert.ok(denied.retryAfterMs! > 0 && denied.retryAfterMs! <= 100, `retry ${denied.retryAfterMs}`);
        await sleep(denied.retryAfterMs! + 20);
        assert.equal((await limiter.checkAll([{ limit, identity: who }])).allowed, true);
      } finally {
        await limiter.close();
      }
    });

    test('every key written has an expiry, under <prefix>rl:{<policy>:<identity>}:<algorithm>', async () => {
      const limiter = await RedisLimiter.connect({
        url: REDIS_URL,
        keyPrefix,
        leaseTtlMs: 30_000,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      try {
        const who = uniqueName('ttl');
        const cases: Array<[CompiledLimit, string, number]> = [
          [limitOf({ algorithm: 'token_bucket', limit: 5, rate: { count: 1, perMs: 1_000 } }), 'tb', 1_000],
          [limitOf({ algorithm: 'sliding_window', limit: 5, windowMs: 10_000 }), 'sw', 20_000],
          [limitOf({ algorithm: 'fixed_window', limit: 5, windowMs: 10_000 }), 'fw', 10_000],
          [limitOf({ algorithm: 'quota', limit: 5, period: 'rolling_24h' }), 'qr', 48 * HOUR],
          [
            limitOf({ algorithm: 'quota', limit: 5, period: 'day', timeZone: 'Europe/Berlin' }),
            'qd',
            25 * HOUR,
          ],
          [limitOf({ algorithm: 'quota', limit: 5, period: 'month' }), 'qm', 31 * 24 * HOUR],
          [limitOf({ algorithm: 'concurrency', limit: 5 }), 'cc', 30_000],
        ];
        const result = await limiter.checkAll(cases.map(([limit]) => ({ limit, identity: who })));
        assert.equal(result.allowed, true);
        for (const [limit, suffix, maxTtl] of cases) {
          const key = `${keyPrefix}rl:{${limit.policyId}:=${who}}:${suffix}`;
          const ttl = await admin.pttl(key);
          assert.ok(ttl > 0 && ttl <= maxTtl, `${key}: pttl ${ttl}`);
        }
        // A concurrency key is a sorted set of lease ids scored by expiry.
        const cc = cases.at(-1)![0];
        const members = await admin.zrange(`${keyPrefix}rl:{${cc.policyId}:=${who}}:cc`, 0, -1);
        assert.deepEqual(members, [result.leases[0]!.leaseId]);
        // A denied call writes nothing: no key appears for a new identity.
        const fresh = uniqueName('denied');
        const tight = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: 10_000 });
        await limiter.checkAll([{ limit: tight, identity: fresh }]);
        const denied = await limiter.checkAll([
          { limit: cases[1]![0], identity: fresh },
          { limit: tight, identity: fresh },
        ]);
        assert.equal(denied.allowed, false);
        assert.equal(await admin.exists(`${keyPrefix}rl:{${cases[1]![0].policyId}:=${fresh}}:sw`), 0);
      } finally {
        await limiter.close();
      }
    });

    test('identities longer than 200 characters are stored by their SHA-256', async () => {
      const limiter = new RedisLimiter(shared, { keyPrefix, testClock: new ManualClock() });
      const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: 10_000 });
      await limiter.checkAll([{ limit, identity: 'x'.repeat(10_000) }]);
      const keys = await admin.keys(`${keyPrefix}rl:{${limit.policyId}:*`);
      assert.equal(keys.length, 1);
      assert.match(keys[0]!, /:#[A-Za-z0-9_-]{43}\}:fw$/);
    });

    test('a calendar quota counts in the window of the server time, whatever the instance clock says', async () => {
      // The instance is 5 minutes slow: it still thinks it is 30 March in Berlin, the server is in the 31st.
      const server = new ManualClock(Date.parse('2026-03-30T22:02:00Z'));
      const instance = new ManualClock(Date.parse('2026-03-30T21:57:00Z'));
      const limit = limitOf({ algorithm: 'quota', limit: 1, period: 'day', timeZone: 'Europe/Berlin' });
      const who = uniqueName('skew');
      const skewed = new RedisLimiter(shared, { keyPrefix, testClock: server, clock: instance });
      const first = (await skewed.checkAll([{ limit, identity: who }])).decisions[0]!;
      assert.deepEqual([first.allowed, first.resetMs], [true, 24 * HOUR - 2 * 60_000], 'counted in the 31st');
      // An instance with the right clock sees the same count for the same day.
      const right = new RedisLimiter(shared, { keyPrefix, testClock: server });
      assert.equal((await right.checkAll([{ limit, identity: who }])).allowed, false);
    });

    test('at the exact boundary, the server time decides: 1 ms of skew either way picks the right day', async () => {
      const midnight = Date.parse('2026-03-30T22:00:00Z'); // 31 March, 00:00 CEST
      const limit = limitOf({ algorithm: 'quota', limit: 1, period: 'day', timeZone: 'Europe/Berlin' });
      const cases: Array<[number, number, number]> = [
        // [server, instance, expected resetMs]
        [midnight, midnight - 1, 24 * HOUR],
        [midnight - 1, midnight, 1],
      ];
      for (const [serverAt, instanceAt, resetMs] of cases) {
        const limiter = new RedisLimiter(shared, {
          keyPrefix,
          testClock: new ManualClock(serverAt),
          clock: new ManualClock(instanceAt),
        });
        const decision = (await limiter.checkAll([{ limit, identity: uniqueName('edge') }])).decisions[0]!;
        assert.deepEqual([decision.allowed, decision.resetMs], [true, resetMs]);
      }
    });
  });

  describe('several instances', () => {
    test('two RedisLimiter instances share counts: exactly the limit passes across both', async () => {
      const [a, b] = await Promise.all([
        RedisLimiter.connect({ url: REDIS_URL, keyPrefix, commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS }),
        RedisLimiter.connect({ url: REDIS_URL, keyPrefix, commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS }),
      ]);
      try {
        const limit = limitOf({ algorithm: 'fixed_window', limit: 100, windowMs: HOUR });
        const concurrency = limitOf({ algorithm: 'concurrency', limit: 7 });
        const who = uniqueName('shared');
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).checkAll([{ limit, identity: who }])),
        );
        // A window boundary (epoch-aligned hours) may fall inside the burst, at most once.
        const allowed = results.filter((r) => r.allowed).length;
        assert.ok(allowed === 100 || allowed === 200, `allowed ${allowed}`);
        const slots = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? a : b).checkAll([{ limit: concurrency, identity: who }]),
          ),
        );
        const held = slots.filter((r) => r.allowed);
        assert.equal(held.length, 7);
        await b.release(held.filter((_, i) => i % 2 === 0).flatMap((r) => r.leases));
        assert.equal((await a.checkAll([{ limit: concurrency, identity: who }])).decisions[0]!.remaining, 3);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    test('all the limits of a request cost one round trip (one script call)', async () => {
      const client = new Redis(REDIS_URL, { enableAutoPipelining: true, lazyConnect: true });
      await client.connect();
      const info = String(await client.client('INFO'));
      const address = /(?:^| )addr=(\S+)/.exec(info)![1]!;
      const monitor = await admin.monitor();
      const seen: string[] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === address) seen.push(String(args[0]).toLowerCase());
      });
      try {
        const limiter = new RedisLimiter(client, { keyPrefix });
        const who = uniqueName('rtt');
        const checks = [
          limitOf({ algorithm: 'token_bucket', limit: 5, rate: { count: 1, perMs: 1_000 } }),
          limitOf({ algorithm: 'sliding_window', limit: 5, windowMs: 10_000 }),
          limitOf({ algorithm: 'fixed_window', limit: 5, windowMs: 10_000 }),
          limitOf({ algorithm: 'quota', limit: 5, period: 'day', timeZone: 'Asia/Tokyo' }),
          limitOf({ algorithm: 'concurrency', limit: 5 }),
        ].map((limit) => ({ limit, identity: who }));
        await limiter.checkAll(checks);
        await limiter.checkAll(checks);
        await eventually(async () => assert.equal(seen.length, 2));
        await sleep(50);
        assert.deepEqual(
          seen,
          ['eval', 'evalsha'],
          'the first call loads the script, later ones use its hash',
        );
      } finally {
        monitor.disconnect();
        await client.quit();
      }
    });
  });

  describe('faults', () => {
    // A bucket, not a window: counts stay exact in real time, whatever boundary the run crosses.
    const limit = compileLimit({
      policyId: 'pol_faults',
      algorithm: 'token_bucket',
      limit: 1_000,
      rate: { count: 1, perMs: HOUR },
    });

    test('connecting to a closed port rejects fast with LimiterUnavailableError', async () => {
      const { ms, result } = await timed(RedisLimiter.connect({ url: 'redis://127.0.0.1:1', keyPrefix }));
      unavailable(result, 'connect');
      assert.ok(ms < 2_000, `took ${Math.round(ms)} ms`);
      assert.doesNotMatch(String((result as PromiseRejectedResult).reason.message), /s3cret/);
    });

    test('options are validated with messages naming the field', async () => {
      await assert.rejects(
        RedisLimiter.connect({ url: 'http://127.0.0.1:6379' }),
        /options\.url must be a redis/,
      );
      await assert.rejects(
        RedisLimiter.connect({ url: REDIS_URL, leaseTtlMs: 0 }),
        /options\.leaseTtlMs must be a positive integer/,
      );
      await assert.rejects(
        RedisLimiter.connect({ url: REDIS_URL, commandTimeoutMs: -5 }),
        /options\.commandTimeoutMs must be a positive integer/,
      );
    });

    describe('through a TCP proxy', () => {
      let proxy: TcpProxy;
      let limiter: RateLimiter;

      before(async () => {
        proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
        await proxy.start();
        limiter = await RedisLimiter.connect({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix });
      });

      after(async () => {
        proxy.blackhole(false);
        await limiter.close();
        await proxy.stop();
      });

      const ok = () => limiter.checkAll([{ limit, identity: 'fault' }]);

      test('Redis down: checks, refunds and releases reject at once; service resumes when it is back', async () => {
        assert.equal((await ok()).allowed, true);
        await proxy.stop();
        await sleep(50);
        const single = await timed(ok());
        unavailable(single.result, 'unreachable');
        assert.ok(single.ms < 500, `took ${Math.round(single.ms)} ms`);
        const burst = await Promise.allSettled(Array.from({ length: 50 }, () => ok()));
        for (const result of burst) unavailable(result, 'unreachable');
        unavailable((await timed(limiter.refund([{ limit, identity: 'fault' }]))).result, 'unreachable');
        unavailable(
          (await timed(limiter.release([{ policyId: 'pol', identity: 'fault', leaseId: 'x' }]))).result,
          'unreachable',
        );
        await proxy.start();
        await eventually(async () => assert.equal((await ok()).allowed, true));
        // Nothing sent during the outage was queued and replayed: one request before, one after.
        const direct = new RedisLimiter(shared, { keyPrefix });
        const [count] = (await direct.checkAll([{ limit, identity: 'fault' }])).decisions;
        assert.equal(count!.remaining, 1_000 - 3);
      });

      test('Redis unresponsive (partition): checks time out within the command timeout, then recover', async () => {
        assert.equal((await ok()).allowed, true);
        proxy.blackhole(true);
        const single = await timed(ok());
        unavailable(single.result, 'timeout');
        // 'timeout' says the deadline ended it (not a refusal); the upper bound says it is short.
        assert.ok(single.ms < 500, `took ${Math.round(single.ms)} ms`);
        const burst = await timed(Promise.allSettled(Array.from({ length: 50 }, () => ok())));
        assert.ok(burst.ms < 500, `a burst of 50 took ${Math.round(burst.ms)} ms`);
        for (const result of (burst.result as PromiseFulfilledResult<PromiseSettledResult<unknown>[]>)
          .value) {
          assert.equal(result.status, 'rejected');
          assert.ok((result as PromiseRejectedResult).reason instanceof LimiterUnavailableError);
        }
        proxy.blackhole(false);
        await eventually(async () => assert.equal((await ok()).allowed, true));
      });
    });
  });
});
