/**
 * RedisLimiter on a real Redis Cluster (three masters started for this file): the limiter
 * contract and the model, then what is particular to a cluster — the checks of one request
 * split by slot, one script per slot, a denial in one slot undone in the others, and a lost
 * node failing fast.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { ManualClock } from '../../src/core/clock.js';
import { LimiterUnavailableError } from '../../src/limits/errors.js';
import { RedisLimiter } from '../../src/limits/redis.js';
import type { CompiledLimit } from '../../src/limits/types.js';
import { keySlot } from '../../src/state/cluster-slot.js';
import { type LocalRedisCluster, redisServerGate, startRedisCluster } from '../helpers/redis-cluster.js';
import { uniqueName } from '../helpers/services.js';
import { limitOf, runLimiterContract } from './limiter-contract.js';
import { runModelProperties } from './model.js';

const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`unhandledRejection: ${String(reason)}`));
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  if (String(args[0]).includes('[ioredis]')) strays.push(args.map(String).join(' '));
  consoleError(...args);
};

const gate = redisServerGate();
const cluster: LocalRedisCluster | undefined = gate.skip ? undefined : await startRedisCluster();
if (cluster) process.stderr.write(`[redis cluster] 3 masters ready in ${cluster.startMs} ms\n`);
const keyPrefix = `${uniqueName('pcl_rl_cl')}:`;
const HOUR = 3_600_000;

describe('RedisLimiter on Redis Cluster', { skip: gate.skip }, () => {
  const c = cluster as LocalRedisCluster;
  let shared: Cluster;

  before(async () => {
    shared = new Cluster([...c.nodes], { enableAutoPipelining: true, lazyConnect: true });
    await shared.connect();
  });

  after(async () => {
    await shared.quit().catch(() => shared.disconnect());
    await c.stop();
    assert.deepEqual(strays, []);
  });

  const clock = new ManualClock();
  runLimiterContract(
    'RedisLimiter (cluster)',
    // Generous: a loaded machine must not turn a slow reply into a contract failure.
    () =>
      RedisLimiter.connect({
        url: c.url,
        cluster: true,
        keyPrefix,
        testClock: clock,
        commandTimeoutMs: 2_000,
      }),
    { clock },
  );

  describe('model (same sequences as MemoryLimiter, via the test clock)', () => {
    const modelClock = new ManualClock();
    runModelProperties(
      'RedisLimiter (cluster)',
      modelClock,
      async () => new RedisLimiter(shared, { keyPrefix, testClock: modelClock }),
    );
  });

  /** The key a limit keeps for an identity (≤ 200 characters), and the node serving it. */
  const keyOf = (limit: CompiledLimit, who: string, suffix: string) =>
    `${keyPrefix}rl:{${limit.policyId}:=${who}}:${suffix}`;
  const nodeOf = (limit: CompiledLimit, who: string) => c.ownerOf(keySlot(keyOf(limit, who, 'x')));

  /** An identity whose keys for `limit` live on node `index` (or on any node but `not`). */
  async function identityOn(limit: CompiledLimit, want: { index?: number; not?: number }): Promise<string> {
    for (;;) {
      const who = uniqueName('who');
      const at = await nodeOf(limit, who);
      if (want.index !== undefined ? at === want.index : at !== want.not) return who;
    }
  }

  describe('checks spread over slots', () => {
    test('a denial in one slot consumes nothing in the others, leases included', async () => {
      const limiter = await RedisLimiter.connect({
        url: c.url,
        cluster: true,
        keyPrefix,
        commandTimeoutMs: 2_000,
      });
      try {
        const window = limitOf({ algorithm: 'fixed_window', limit: 10, windowMs: HOUR });
        const bucket = limitOf({ algorithm: 'token_bucket', limit: 10, rate: { count: 1, perMs: HOUR } });
        const slots = limitOf({ algorithm: 'concurrency', limit: 10 });
        const tight = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: HOUR });
        const who = await identityOn(tight, { index: 0 });
        const a = await identityOn(window, { not: 0 });
        const b = await identityOn(bucket, { not: 0 });
        const d = await identityOn(slots, { not: 0 });
        const checks = [
          { limit: window, identity: a },
          { limit: bucket, identity: b },
          { limit: slots, identity: d },
          { limit: tight, identity: who },
        ];
        const first = await limiter.checkAll(checks);
        assert.equal(first.allowed, true);
        assert.deepEqual(
          first.decisions.map((x) => x.remaining),
          [9, 9, 9, 0],
        );
        const denied = await limiter.checkAll(checks);
        assert.equal(denied.allowed, false);
        assert.deepEqual(
          denied.decisions.map((x) => [x.allowed, x.remaining]),
          [
            [true, 9],
            [true, 9],
            [true, 9],
            [false, 0],
          ],
        );
        assert.deepEqual(denied.leases, []);
        // Given back: the other slots hold what the first request consumed, nothing more.
        const admin = c.node(await nodeOf(slots, d));
        assert.deepEqual(await admin.zrange(keyOf(slots, d, 'cc'), 0, -1), [first.leases[0]!.leaseId]);
        const again = await limiter.checkAll(checks.slice(0, 3));
        assert.deepEqual(
          again.decisions.map((x) => x.remaining),
          [8, 8, 8],
        );
      } finally {
        await limiter.close();
      }
    });

    test('each slot group costs one script call on its own node', async () => {
      const limiter = new RedisLimiter(shared, { keyPrefix });
      const one = limitOf({ algorithm: 'fixed_window', limit: 5, windowMs: 10_000 });
      const two = limitOf({ algorithm: 'sliding_window', limit: 5, windowMs: 10_000 });
      const three = limitOf({ algorithm: 'token_bucket', limit: 5, rate: { count: 1, perMs: 1_000 } });
      // Two checks on node 1 in different slots, one on node 2: three scripts.
      const x = await identityOn(one, { index: 1 });
      let y = await identityOn(two, { index: 1 });
      while (keySlot(keyOf(two, y, 'sw')) === keySlot(keyOf(one, x, 'fw')))
        y = await identityOn(two, { index: 1 });
      const z = await identityOn(three, { index: 2 });
      const monitors = await Promise.all(c.nodes.map((_, i) => c.node(i).duplicate().monitor()));
      const seen: string[][] = c.nodes.map(() => []);
      monitors.forEach((monitor, i) => {
        monitor.on('monitor', (_time: string, args: string[]) => {
          const command = String(args[0]).toLowerCase();
          if (
            (command === 'eval' || command === 'evalsha') &&
            args.some((a) => String(a).startsWith(keyPrefix))
          )
            seen[i]!.push(command);
        });
      });
      try {
        const checks = [
          { limit: one, identity: x },
          { limit: three, identity: z },
          { limit: two, identity: y },
        ];
        await limiter.checkAll(checks);
        const deadline = Date.now() + 2_000;
        while (seen.flat().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(
          seen.map((commands) => commands.length),
          [0, 2, 1],
        );
      } finally {
        for (const monitor of monitors) monitor.disconnect();
      }
    });

    test('200 concurrent requests through two limiters against a limit of 100: exactly 100', async () => {
      const [a, b] = await Promise.all([
        RedisLimiter.connect({ url: c.url, cluster: true, keyPrefix, commandTimeoutMs: 5_000 }),
        RedisLimiter.connect({ url: c.url, cluster: true, keyPrefix, commandTimeoutMs: 5_000 }),
      ]);
      try {
        const limit = limitOf({ algorithm: 'token_bucket', limit: 100, rate: { count: 1, perMs: HOUR } });
        const who = uniqueName('exact');
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).checkAll([{ limit, identity: who }])),
        );
        assert.equal(results.filter((r) => r.allowed).length, 100);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    test('under concurrency, no unit leaks: every limit ends at exactly the allowed count', async () => {
      const [a, b] = await Promise.all([
        RedisLimiter.connect({ url: c.url, cluster: true, keyPrefix, commandTimeoutMs: 5_000 }),
        RedisLimiter.connect({ url: c.url, cluster: true, keyPrefix, commandTimeoutMs: 5_000 }),
      ]);
      try {
        const perKey = limitOf({ algorithm: 'fixed_window', limit: 100, windowMs: HOUR });
        const perIp = limitOf({ algorithm: 'token_bucket', limit: 150, rate: { count: 1, perMs: HOUR } });
        const key = await identityOn(perKey, { index: 0 });
        const ip = await identityOn(perIp, { not: 0 });
        const checks = [
          { limit: perKey, identity: key },
          { limit: perIp, identity: ip },
        ];
        const results = await Promise.all(
          Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? a : b).checkAll(checks)),
        );
        const allowed = results.filter((r) => r.allowed).length;
        // Compensation is not a transaction: a request may be denied while another's units
        // are on their way back, never allowed beyond a limit.
        assert.ok(allowed > 0 && allowed <= 100, `allowed ${allowed}`);
        // One more request reads what is left (after consuming, when it is allowed).
        const probe = await a.checkAll(checks);
        const taken = allowed + (probe.allowed ? 1 : 0);
        assert.deepEqual(
          probe.decisions.map((d) => d.remaining),
          [100 - taken, 150 - taken],
          'what remains is exactly the limits minus the requests allowed',
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  // Last: it takes a master down for good.
  describe('losing a node', () => {
    test('checks touching the lost node fail fast; what they consumed elsewhere is given back', async () => {
      const limiter = await RedisLimiter.connect({ url: c.url, cluster: true, keyPrefix });
      try {
        const lostLimit = limitOf({ algorithm: 'fixed_window', limit: 10, windowMs: HOUR });
        const keptLimit = limitOf({ algorithm: 'fixed_window', limit: 10, windowMs: HOUR });
        const victim = 2;
        const lost = await identityOn(lostLimit, { index: victim });
        const kept = await identityOn(keptLimit, { not: victim });
        const both = [
          { limit: keptLimit, identity: kept },
          { limit: lostLimit, identity: lost },
        ];
        assert.equal((await limiter.checkAll(both)).allowed, true);
        await c.kill(victim);
        const started = performance.now();
        await assert.rejects(limiter.checkAll(both), (err: unknown) => {
          assert.ok(err instanceof LimiterUnavailableError, String(err));
          return true;
        });
        const ms = performance.now() - started;
        assert.ok(ms < 1_000, `took ${Math.round(ms)} ms`);
        const alone = await limiter.checkAll([{ limit: keptLimit, identity: kept }]);
        assert.deepEqual([alone.allowed, alone.decisions[0]!.remaining], [true, 8], 'one before, one now');
      } finally {
        await limiter.close();
      }
    });
  });
});
