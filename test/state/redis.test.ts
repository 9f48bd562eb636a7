import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DeadlineExceededError } from '../../src/state/deadline.js';
import { isStateError } from '../../src/state/errors.js';
import { openState } from '../../src/state/open-state.js';
import { RedisState } from '../../src/state/redis.js';
import { REDIS_URL, ROOMY_COMMAND_TIMEOUT_MS, redisGate, uniqueName } from '../helpers/services.js';
import { eventually, sleep, timed } from '../helpers/wait.js';
import { Inbox, rejectsWith, runStateContract } from './state-contract.js';
import { TcpProxy } from './tcp-proxy.js';

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
const keyPrefix = `${uniqueName('pcl_test')}:`;
const target = new URL(REDIS_URL);

describe('RedisState', { skip: redis.skip }, () => {
  after(async () => {
    // Leave nothing behind in a Redis other suites (and developers) share.
    const admin = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await admin.quit();
    assert.deepEqual(strays, []);
  });

  runStateContract('RedisState', () =>
    RedisState.connect({ url: REDIS_URL, keyPrefix, commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS }),
  );

  describe('keys and channels', () => {
    test('keys are stored under the prefix and the incr ttl is set server-side', async () => {
      const state = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      const admin = new Redis(REDIS_URL);
      try {
        await state.set('plain', 'v');
        assert.equal(await admin.get(`${keyPrefix}plain`), 'v');
        await state.incr('counted', 2, 60_000);
        const pttl = await admin.pttl(`${keyPrefix}counted`);
        assert.ok(pttl > 55_000 && pttl <= 60_000, `pttl ${pttl}`);
        await state.incr('counted', 2, 1_000);
        assert.ok((await admin.pttl(`${keyPrefix}counted`)) > 55_000, 'existing expiry kept');
      } finally {
        await admin.quit();
        await state.close();
      }
    });

    test('a lease is one key under the prefix, hash-tagged by name, expiring by Redis time', async () => {
      const state = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      const admin = new Redis(REDIS_URL);
      try {
        assert.equal(await state.acquireLease('detector', 'one', 60_000), true);
        const key = `${keyPrefix}lease:{detector}`;
        assert.equal(await admin.get(key), 'one');
        const pttl = await admin.pttl(key);
        assert.ok(pttl > 55_000 && pttl <= 60_000, `pttl ${pttl}`);
        assert.equal(await state.acquireLease('detector', 'one', 120_000), true);
        assert.ok((await admin.pttl(key)) > 115_000, 'a renewal re-arms the expiry');
        assert.equal(await state.releaseLease('detector', 'one'), true);
        assert.equal(await admin.exists(key), 0);
      } finally {
        await admin.quit();
        await state.close();
      }
    });

    test('a heartbeat group is two keys in one Cluster slot, both expiring', async () => {
      const state = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      const admin = new Redis(REDIS_URL);
      try {
        await state.heartbeat('fleet', 'one', 30_000, '{"v":1}');
        const members = `${keyPrefix}hb:{fleet}`;
        const infos = `${keyPrefix}hbi:{fleet}`;
        // Redis Cluster hashes only the first non-empty {…} of a key: same tag, same slot.
        const tag = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];
        assert.equal(tag(members), 'fleet');
        assert.equal(tag(infos), 'fleet');
        for (const key of [members, infos]) {
          const pttl = await admin.pttl(key);
          assert.ok(pttl > 55_000 && pttl <= 60_000, `${key} pttl ${pttl}`);
        }
        assert.equal(await admin.hget(infos, 'one'), '{"v":1}');
        await state.leave('fleet', 'one');
        assert.equal(await admin.exists(members, infos), 0, 'the last member leaving leaves nothing');
      } finally {
        await admin.quit();
        await state.close();
      }
    });

    test('states with different prefixes do not see each other', async () => {
      const a = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      const b = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix: `${keyPrefix}other:`,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      try {
        await a.set('isolated', 'a');
        assert.equal(await b.get('isolated'), null);
        const inbox = new Inbox();
        await b.subscribe('isolated-events', inbox.handler);
        await a.publish('isolated-events', 'nope');
        await b.publish('isolated-events', 'yes');
        assert.deepEqual(await inbox.waitFor(1), ['yes']);
        assert.deepEqual(inbox.messages, ['yes']);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    test('openState picks Redis for redis:// URLs', async () => {
      const state = await openState({ redisUrl: REDIS_URL, keyPrefix });
      try {
        assert.equal(state.kind, 'redis');
        assert.equal(state.shared, true);
      } finally {
        await state.close();
      }
    });
  });

  describe('start-up failures', () => {
    test('connecting to a closed port rejects fast with a clear message', async () => {
      const { ms, result } = await timed(RedisState.connect({ url: 'redis://127.0.0.1:1', keyPrefix }));
      assert.equal(result.status, 'rejected');
      const err = (result as PromiseRejectedResult).reason;
      assert.ok(isStateError(err, 'ERR_STATE_CONNECT'), String(err));
      assert.match(err.message, /cannot connect to Redis at redis:\/\/127\.0\.0\.1:1 \(3 attempts/);
      assert.match(err.message, /ECONNREFUSED/);
      assert.ok(ms < 2_000, `took ${ms} ms`);
    });

    test('the error never repeats credentials from the URL', async () => {
      const { result } = await timed(RedisState.connect({ url: 'redis://admin:s3cret-pw@127.0.0.1:1/2' }));
      const err = (result as PromiseRejectedResult).reason as Error;
      assert.match(err.message, /redis:\/\/127\.0\.0\.1:1\/2/);
      assert.doesNotMatch(err.message, /s3cret-pw|admin/);
    });

    test('a server that accepts but never answers fails within the connect budget', async () => {
      const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
      await proxy.start();
      proxy.blackhole(true);
      try {
        const { ms, result } = await timed(
          RedisState.connect({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix, connectTimeoutMs: 500 }),
        );
        assert.equal(result.status, 'rejected');
        assert.ok(isStateError((result as PromiseRejectedResult).reason, 'ERR_STATE_CONNECT'));
        assert.ok(ms < 1_000, `took ${ms} ms`);
      } finally {
        await proxy.stop();
      }
    });

    test('rediss:// (in any case) really uses TLS: a plaintext server fails the handshake', async () => {
      const plaintext = `${target.hostname}:${target.port || 6379}`;
      for (const scheme of ['rediss', 'REDISS']) {
        const { ms, result } = await timed(
          RedisState.connect({ url: `${scheme}://${plaintext}`, keyPrefix, connectTimeoutMs: 300 }),
        );
        assert.equal(result.status, 'rejected', `${scheme}:// must not fall back to plaintext`);
        assert.ok(isStateError((result as PromiseRejectedResult).reason, 'ERR_STATE_CONNECT'));
        // The handshake stalls (Redis waits for a command line), so the connect budget ends it.
        assert.ok(ms < 1_500, `took ${ms} ms`);
      }
    });

    test('options are validated with messages naming the field', async () => {
      await assert.rejects(
        RedisState.connect({ url: 'http://x' }),
        /options\.url must be a redis:\/\/ or rediss:\/\/ URL/,
      );
      await assert.rejects(
        RedisState.connect({ url: REDIS_URL, commandTimeoutMs: 0 }),
        /options\.commandTimeoutMs must be a positive integer/,
      );
    });
  });

  describe('outages after start-up', () => {
    let proxy: TcpProxy;
    let state: RedisState;
    let direct: RedisState;

    before(async () => {
      proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
      await proxy.start();
    });
    afterEach(async () => {
      proxy.blackhole(false);
      await state?.close();
      await direct?.close();
    });
    after(async () => {
      await proxy.stop();
    });

    async function connectThroughProxy(): Promise<void> {
      state = await RedisState.connect({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix });
      direct = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
    }

    test('Redis down: commands reject at once, health says so, and service resumes when it is back', async () => {
      await connectThroughProxy();
      await state.set('outage', 'before');
      await proxy.stop();

      for (let i = 0; i < 5; i++) {
        const { ms, result } = await timed(state.get('outage'));
        assert.equal(result.status, 'rejected');
        assert.ok(isStateError((result as PromiseRejectedResult).reason, 'ERR_STATE_UNAVAILABLE'));
        assert.ok(ms < 500, `attempt ${i} took ${ms} ms`);
      }
      const burst = await timed(
        Promise.allSettled(Array.from({ length: 200 }, () => state.incr('outage-n', 1, 60_000))),
      );
      assert.ok(burst.ms < 500, `a burst of 200 took ${burst.ms} ms`);
      const unavailable = rejectsWith('ERR_STATE_UNAVAILABLE');
      await assert.rejects(state.acquireLease('outage-lease', 'one', 60_000), unavailable);
      await assert.rejects(state.releaseLease('outage-lease', 'one'), unavailable);
      const health = await state.health();
      assert.equal(health.ok, false);
      assert.match(health.error ?? '', /PING failed/);

      await proxy.start();
      assert.equal(await eventually(() => state.get('outage')), 'before');
      assert.equal((await state.health()).ok, true);
      assert.equal(await direct.get('outage-n'), null, 'nothing queued during the outage was replayed');
    });

    test('Redis unresponsive (partition): commands time out quickly, then recover', async () => {
      await connectThroughProxy();
      await state.set('partition', 'before');
      proxy.blackhole(true);

      const single = await timed(state.get('partition'));
      assert.equal(single.result.status, 'rejected');
      assert.ok(isStateError((single.result as PromiseRejectedResult).reason, 'ERR_STATE_UNAVAILABLE'));
      assert.ok(single.ms < 500, `took ${single.ms} ms`);
      const burst = await timed(Promise.allSettled(Array.from({ length: 50 }, () => state.get('partition'))));
      assert.ok(burst.ms < 500, `a burst of 50 took ${burst.ms} ms`);
      assert.ok(
        burst.result.status === 'fulfilled' && burst.result.value.every((r) => r.status === 'rejected'),
      );
      assert.equal((await state.health()).ok, false);
      // Stay partitioned past the socket timeout (1 s): the silent connection is torn down
      // and reconnect attempts start inside the partition, as in a real outage.
      await sleep(1_300);
      // Known dead now: refused at once, not after waiting out a deadline on a dead socket.
      const later = await Promise.allSettled([state.get('partition')]);
      const laterError = (later[0] as PromiseRejectedResult).reason;
      assert.ok(isStateError(laterError, 'ERR_STATE_UNAVAILABLE'), String(laterError));
      assert.ok(
        !(laterError.cause instanceof DeadlineExceededError),
        `refused by ${String(laterError.cause)}`,
      );

      proxy.blackhole(false);
      assert.equal(await eventually(() => state.get('partition')), 'before');
      // Once recovered it stays up: no timer left over from the dead connection may tear
      // down the new one (ioredis#2147), which would fail requests just after recovery.
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        assert.equal(await state.get('partition'), 'before');
        await sleep(25);
      }
    });

    test('a subscriber connection that dies silently is detected and resubscribed', async () => {
      state = await RedisState.connect({
        url: `redis://127.0.0.1:${proxy.port}`,
        keyPrefix,
        subscriberHeartbeatMs: 200,
      });
      direct = await RedisState.connect({
        url: REDIS_URL,
        keyPrefix,
        commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS,
      });
      const inbox = new Inbox();
      await state.subscribe('heartbeat', inbox.handler);
      await direct.publish('heartbeat', 'm1');
      await inbox.waitFor(1);

      proxy.freezeExisting();
      await direct.publish('heartbeat', 'lost');
      await eventually(async () => {
        await direct.publish('heartbeat', 'm2');
        if (!inbox.messages.includes('m2')) await inbox.waitFor(inbox.messages.length + 1, 100);
        assert.ok(inbox.messages.includes('m2'));
      });
      assert.equal(inbox.messages.includes('lost'), false);
    });

    test('subscriptions are restored after a reconnect', async () => {
      await connectThroughProxy();
      const inbox = new Inbox();
      await state.subscribe('resubscribed', inbox.handler);
      await direct.publish('resubscribed', 'm1');
      await inbox.waitFor(1);

      await proxy.stop();
      await sleep(100);
      await proxy.start();
      // The resubscribe happens in the background after the reconnect: publish until it lands.
      await eventually(async () => {
        await direct.publish('resubscribed', 'm2');
        await inbox.waitFor(2, 100);
      });
      assert.equal(inbox.messages[1], 'm2');
      assert.equal(
        (
          await eventually(async () => {
            const health = await state.health();
            if (!health.ok) throw new Error(health.error);
            return health;
          })
        ).ok,
        true,
      );
    });

    test('subscribing while Redis is down rejects instead of hanging', async () => {
      await connectThroughProxy();
      await proxy.stop();
      try {
        const { ms, result } = await timed(state.subscribe('never', () => {}));
        assert.equal(result.status, 'rejected');
        assert.ok(ms < 2_500, `took ${ms} ms`);
      } finally {
        await proxy.start();
      }
      // A later subscribe, once Redis is back, opens the subscriber connection afresh.
      const inbox = new Inbox();
      await eventually(() => state.subscribe('later', inbox.handler));
      await direct.publish('later', 'ok');
      assert.deepEqual(await inbox.waitFor(1), ['ok']);
    });

    test('a closed state rejects rather than reconnecting', async () => {
      await connectThroughProxy();
      await state.close();
      await assert.rejects(state.get('x'), rejectsWith('ERR_STATE_CLOSED'));
    });
  });
});
