/**
 * The command deadline (src/state/deadline.ts): a reply that arrived in time is not declared
 * timed out because the gateway's own event loop stalled and read it late, while a genuinely
 * slow Redis still fails within about the deadline. Real Redis; the stall is a synchronous
 * busy-wait started right after the command went out, so its reply sits unread in the socket
 * while the deadline passes (what a GC pause or CPU starvation does).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { compileLimit } from '../../src/limits/compile.js';
import { LimiterUnavailableError } from '../../src/limits/errors.js';
import { RedisLimiter } from '../../src/limits/redis.js';
import { DeadlineExceededError, withinDeadline } from '../../src/state/deadline.js';
import { isStateError } from '../../src/state/errors.js';
import { RedisState } from '../../src/state/redis.js';
import { REDIS_URL, redisGate, uniqueName } from '../helpers/services.js';
import { eventually, sleep, timed } from '../helpers/wait.js';
import { TcpProxy } from './tcp-proxy.js';

// A deadline that lost its race must not leave a stray rejection behind.
const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`unhandledRejection: ${String(reason)}`));

const redis = await redisGate();
const keyPrefix = `${uniqueName('pcl_deadline')}:`;
const target = new URL(REDIS_URL);

/** Short, so the stall below is many deadlines long; the connections' ioredis backstop stays at 1 s. */
const DEADLINE_MS = 30;
/** Far past the deadline, far below the 1 s backstop, and ample for a local Redis to answer. */
const STALL_MS = 200;

/** Block the event loop, as a GC pause or a long synchronous task does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/**
 * Start a command, then stall the loop once it has been written: in the check phase, after
 * ioredis's auto-pipelining flush (also a setImmediate, queued first by `start`).
 */
function stalledAfter<T>(start: () => Promise<T>): Promise<T> {
  const command = start();
  setImmediate(() => stall(STALL_MS));
  return command;
}

/** What a plain timer does (ioredis's commandTimeout): the control that shows the stall bites. */
function plainDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('Command timed out')), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function reasonOf(result: PromiseSettledResult<unknown>): unknown {
  assert.equal(result.status, 'rejected');
  return (result as PromiseRejectedResult).reason;
}

const activeTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('withinDeadline', () => {
  test('settles as the promise does and clears its timer', async () => {
    const before = activeTimeouts();
    assert.equal(await withinDeadline(Promise.resolve(42), 60_000), 42);
    const failure = new Error('refused');
    await assert.rejects(withinDeadline(Promise.reject(failure), 60_000), (err) => err === failure);
    assert.equal(activeTimeouts(), before, 'no timer left to hold the process');
  });

  test('rejects with a "timed out" error when the promise stays pending', async () => {
    const outcome = withinDeadline(new Promise<never>(() => {}), DEADLINE_MS);
    let settled = false;
    const [result] = await Promise.all([
      Promise.allSettled([outcome]).then(([r]) => {
        settled = true;
        return r;
      }),
      // Not before the deadline. Compared with a shorter timer started in the same turn (the
      // same loop time), not with the wall clock: Node starts a timer from the time its loop
      // turn began, so against performance.now() a busy turn makes any timer look early.
      new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          if (settled) reject(new Error('settled before the deadline'));
          else resolve();
        }, DEADLINE_MS - 5),
      ),
    ]);
    const err = reasonOf(result);
    assert.ok(err instanceof DeadlineExceededError, String(err));
    assert.match(err.message, /timed out/i);
    assert.equal(err.timeoutMs, DEADLINE_MS);
  });

  test('data that arrived during a stall is read before the verdict; a plain timer misses it', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    const [[peer]] = await Promise.all([accepted, once(socket, 'connect')]);
    try {
      const reply = new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(String(chunk))));
      const guarded = withinDeadline(reply, DEADLINE_MS);
      const plain = plainDeadline(reply, DEADLINE_MS);
      // In the socket's buffer before the deadline, read only once the stall is over.
      peer.write('pong');
      stall(STALL_MS);
      const [ours, control] = await Promise.allSettled([guarded, plain]);
      assert.match(String((reasonOf(control) as Error).message), /timed out/);
      assert.deepEqual(ours, { status: 'fulfilled', value: 'pong' });
    } finally {
      peer.destroy();
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  describe('with a real Redis reply read late', { skip: redis.skip }, () => {
    let client: Redis;
    before(async () => {
      client = new Redis(REDIS_URL, { lazyConnect: true });
      await client.connect();
      await client.set(`${keyPrefix}unit`, 'answered');
    });
    after(async () => {
      await client.del(`${keyPrefix}unit`);
      await client.quit();
    });

    test('a reply already in the socket when the timer fires resolves, where a plain timer fails it', async () => {
      const command = client.get(`${keyPrefix}unit`);
      const guarded = withinDeadline(command, DEADLINE_MS);
      const plain = plainDeadline(command, DEADLINE_MS);
      setImmediate(() => stall(STALL_MS));
      const [ours, control] = await Promise.allSettled([guarded, plain]);
      // The control proves the scenario: the reply was read only after the timers phase.
      assert.match(String((reasonOf(control) as Error).message), /timed out/);
      assert.deepEqual(ours, { status: 'fulfilled', value: 'answered' });
    });
  });
});

describe('Redis commands during an event-loop stall of the gateway', { skip: redis.skip }, () => {
  let admin: Redis;
  let proxy: TcpProxy;
  const opened: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    admin = new Redis(REDIS_URL, { lazyConnect: true });
    await admin.connect();
    proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    await proxy.start();
  });
  afterEach(async () => {
    proxy.delay(0);
    await Promise.all(opened.splice(0).map((o) => o.close()));
  });
  after(async () => {
    await proxy.stop();
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await admin.quit();
    assert.deepEqual(strays, []);
  });

  async function openState(url: string): Promise<RedisState> {
    const state = await RedisState.connect({ url, keyPrefix, commandTimeoutMs: DEADLINE_MS });
    opened.push(state);
    return state;
  }

  async function openLimiter(url: string): Promise<RedisLimiter> {
    const limiter = await RedisLimiter.connect({ url, keyPrefix, commandTimeoutMs: DEADLINE_MS });
    opened.push(limiter);
    return limiter;
  }

  const limit = compileLimit({
    policyId: uniqueName('pol'),
    algorithm: 'fixed_window',
    limit: 100,
    windowMs: 3_600_000,
  });

  test('RedisState: get, incr and setIfAbsent answered in time succeed', async () => {
    const state = await openState(REDIS_URL);
    // Warm up: the connection is ready and the incr script is loaded (no NOSCRIPT round trip).
    await state.set('stalled', 'v');
    await state.incr('stalled-n', 1, 60_000);

    assert.equal(await stalledAfter(() => state.get('stalled')), 'v');
    assert.equal(await stalledAfter(() => state.incr('stalled-n', 1, 60_000)), 2);
    assert.equal(await stalledAfter(() => state.setIfAbsent('stalled-nonce', '1', 60_000)), true);
    assert.equal((await stalledAfter(() => state.health())).ok, true);
  });

  test('RedisLimiter: a check answered in time is decided by Redis, not by the degraded mode', async () => {
    const limiter = await openLimiter(REDIS_URL);
    const who = uniqueName('stalled');
    assert.equal((await limiter.checkAll([{ limit, identity: who }])).allowed, true);

    const result = await stalledAfter(() => limiter.checkAll([{ limit, identity: who }]));
    assert.equal(result.allowed, true);
    assert.equal(result.decisions[0]!.remaining, 98, 'counted once, by Redis');
  });

  test('a genuinely slow Redis still fails by the deadline, classified as a timeout', async () => {
    const url = `redis://127.0.0.1:${proxy.port}`;
    const state = await openState(url);
    const limiter = await openLimiter(url);
    const who = uniqueName('slow');
    await state.set('slow', 'v');
    await limiter.checkAll([{ limit, identity: who }]);
    // Every reply 600 ms late or more: below the 1 s backstop and socket timeout, so only
    // the deadline can end these waits.
    proxy.delay(300);

    const get = await timed(state.get('slow'));
    const stateErr = reasonOf(get.result);
    assert.ok(isStateError(stateErr, 'ERR_STATE_UNAVAILABLE'), String(stateErr));
    assert.ok(stateErr.cause instanceof DeadlineExceededError, String(stateErr.cause));
    assert.match(stateErr.message, /timed out/);

    const check = await timed(limiter.checkAll([{ limit, identity: who }]));
    const limiterErr = reasonOf(check.result);
    assert.ok(limiterErr instanceof LimiterUnavailableError, String(limiterErr));
    assert.equal(limiterErr.reason, 'timeout', limiterErr.message);
    assert.ok(limiterErr.cause instanceof DeadlineExceededError, String(limiterErr.cause));

    const release = await timed(limiter.release([{ policyId: limit.policyId, identity: who, leaseId: 'x' }]));
    assert.equal((reasonOf(release.result) as LimiterUnavailableError).reason, 'timeout');

    const health = await state.health();
    assert.equal(health.ok, false);
    assert.match(health.error ?? '', /PING failed: .*timed out/);

    // The late replies are consumed in order: once Redis is fast again, answers are right
    // (after the delayed bytes are through: the proxy does not keep order across a change).
    await sleep(1_000);
    proxy.delay(0);
    assert.equal(await eventually(() => state.get('slow')), 'v');
    assert.equal((await eventually(() => limiter.checkAll([{ limit, identity: who }]))).allowed, true);
  });
});
