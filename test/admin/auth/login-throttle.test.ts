/**
 * Login throttling: per username × IP, per IP and per username, with exponential backoff that
 * caps and expires by itself; a known IP is never locked out by the account-wide lock; and
 * nothing in the answers tells a real username from an unknown one.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import {
  LOGIN_THROTTLE_LIMITS,
  LoginThrottle,
  type LoginThrottleVerdict,
  lockDelayMs,
} from '../../../src/admin/auth/login-throttle.js';
import { ManualClock } from '../../../src/core/clock.js';
import { MemoryState } from '../../../src/state/memory.js';
import { RedisState } from '../../../src/state/redis.js';
import type { HotState } from '../../../src/state/types.js';
import { REDIS_URL, ROOMY_COMMAND_TIMEOUT_MS, redisGate, uniqueName } from '../../helpers/services.js';

const states: HotState[] = [];
const redis = await redisGate();

function setup(): { throttle: LoginThrottle; clock: ManualClock; state: MemoryState } {
  const clock = new ManualClock();
  const state = new MemoryState({ clock });
  states.push(state);
  return { throttle: new LoginThrottle({ state, clock }), clock, state };
}

const allowed: LoginThrottleVerdict = { allowed: true };
const locked = (scope: 'account_ip' | 'ip' | 'account', retryAfterS: number): LoginThrottleVerdict => ({
  allowed: false,
  scope,
  retryAfterS,
});

/** Fail `times` times, each only once allowed, as the HTTP layer would. */
async function failWaiting(
  throttle: LoginThrottle,
  clock: ManualClock,
  username: string,
  ip: string,
  times: number,
) {
  for (let i = 0; i < times; i++) {
    const verdict = await throttle.check(username, ip);
    if (!verdict.allowed) clock.advance(verdict.retryAfterS * 1000);
    await throttle.recordFailure(username, ip);
  }
}

// One suite so the states are closed by a suite hook (a file-level \`after\` would wait for the
// event loop to drain, which their open handles prevent).
describe('login throttle', () => {
  after(() => Promise.all(states.map((s) => s.close())));

  describe('lockDelayMs', () => {
    it('is 0 below the threshold, then doubles from 1 s up to the cap', () => {
      assert.deepEqual(
        [4, 5, 6, 7, 14, 15, 16, 1e6].map((n) => lockDelayMs('account_ip', n)),
        [0, 1000, 2000, 4000, 512_000, 900_000, 900_000, 900_000],
      );
      assert.deepEqual(
        [19, 20, 31, 32, 5000].map((n) => lockDelayMs('ip', n)),
        [0, 1000, 2_048_000, 3_600_000, 3_600_000],
      );
      assert.deepEqual(
        [49, 50, 59, 60].map((n) => lockDelayMs('account', n)),
        [0, 1000, 512_000, 900_000],
      );
    });
  });

  describe('per username and IP', () => {
    it('allows 4 failures, locks from the 5th with a delay doubling per failure, capped at 15 min', async () => {
      const { throttle, clock } = setup();
      for (let n = 1; n <= 4; n++) {
        await throttle.recordFailure('admin', '192.0.2.1');
        assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed, `after failure ${n}`);
      }
      const seen: number[] = [];
      for (let n = 5; n <= 17; n++) {
        await throttle.recordFailure('admin', '192.0.2.1');
        const verdict = await throttle.check('admin', '192.0.2.1');
        assert.equal(verdict.allowed, false);
        if (verdict.allowed) return;
        assert.equal(verdict.scope, 'account_ip');
        seen.push(verdict.retryAfterS);
        // Waiting out the lock, and only that, lets the next attempt through.
        clock.advance(verdict.retryAfterS * 1000 - 1);
        assert.equal((await throttle.check('admin', '192.0.2.1')).allowed, false);
        clock.advance(1);
        assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed);
      }
      assert.deepEqual(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
    });

    it('retryAfterS counts down with the clock and rounds up', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 8); // 8th failure: 8 s
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 8));
      clock.advance(2500);
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 6));
    });

    it('expires by itself, and a streak is forgotten after 15 quiet minutes', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 10); // 10th failure: 32 s
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 32));
      clock.advance(32_000);
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed);
      // Quiet for less than 15 minutes after the lock: the streak goes on (11th: 64 s).
      clock.advance(14 * 60_000);
      await throttle.recordFailure('admin', '192.0.2.1');
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 64));
      // Quiet for 15 minutes after the lock: a fresh streak, 4 failures free again.
      clock.advance(64_000 + 15 * 60_000);
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 4);
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed);
      await throttle.recordFailure('admin', '192.0.2.1');
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 1));
    });

    it('a lock at the cap also ends by itself', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 16);
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 900));
      clock.advance(15 * 60_000);
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed);
    });

    it('success clears the pair streak', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 7);
      clock.advance(4000);
      await throttle.recordSuccess('admin', '192.0.2.1');
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed);
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 4);
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), allowed, 'counting starts over');
      await throttle.recordFailure('admin', '192.0.2.1');
      assert.deepEqual(await throttle.check('admin', '192.0.2.1'), locked('account_ip', 1));
    });

    it('locks only that pair: the same user from another IP, another user from that IP are allowed', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 6);
      assert.equal((await throttle.check('admin', '192.0.2.1')).allowed, false);
      assert.deepEqual(await throttle.check('admin', '192.0.2.2'), allowed);
      assert.deepEqual(await throttle.check('alice', '192.0.2.1'), allowed);
    });

    it('treats usernames case-insensitively, as they are stored', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'Admin', '192.0.2.1', 2);
      await failWaiting(throttle, clock, 'ADMIN', '192.0.2.1', 2);
      await failWaiting(throttle, clock, 'admin', '192.0.2.1', 1);
      assert.deepEqual(await throttle.check('aDmIn', '192.0.2.1'), locked('account_ip', 1));
    });

    it('counts an IPv6 client per /64, and IPv4-mapped addresses as IPv4', async () => {
      const { throttle, clock } = setup();
      for (let i = 1; i <= 5; i++) await throttle.recordFailure('admin', `2001:db8:1:2::${i}`);
      assert.deepEqual(await throttle.check('admin', '2001:db8:1:2:ffff::99'), locked('account_ip', 1));
      assert.deepEqual(await throttle.check('admin', '2001:db8:1:3::1'), allowed, 'another /64');
      clock.advance(60_000);
      await failWaiting(throttle, clock, 'admin', '::ffff:192.0.2.7', 5);
      assert.deepEqual(await throttle.check('admin', '192.0.2.7'), locked('account_ip', 1));
    });
  });

  describe('per IP', () => {
    it('locks an IP after 20 failures across usernames, for every username, capped at 1 h', async () => {
      const { throttle, clock } = setup();
      // One failure per username: no pair or account streak comes near its threshold.
      for (let i = 1; i <= 19; i++) await throttle.recordFailure(`user${i}`, '203.0.113.9');
      assert.deepEqual(await throttle.check('brand-new', '203.0.113.9'), allowed);
      await throttle.recordFailure('user20', '203.0.113.9');
      assert.deepEqual(await throttle.check('brand-new', '203.0.113.9'), locked('ip', 1));
      assert.deepEqual(await throttle.check('brand-new', '203.0.113.10'), allowed, 'other IPs unaffected');
      const seen: number[] = [];
      for (let i = 21; i <= 34; i++) {
        const verdict = await throttle.check('x', '203.0.113.9');
        if (!verdict.allowed) clock.advance(verdict.retryAfterS * 1000);
        await throttle.recordFailure(`user${i}`, '203.0.113.9');
        const after = await throttle.check(`user${i}`, '203.0.113.9');
        if (!after.allowed) seen.push(after.retryAfterS);
      }
      assert.deepEqual(seen, [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600]);
      clock.advance(3600_000);
      assert.deepEqual(await throttle.check('x', '203.0.113.9'), allowed, 'and it ends by itself');
    });

    it('a successful login does not clear the IP streak', async () => {
      const { throttle } = setup();
      for (let i = 1; i <= 20; i++) await throttle.recordFailure(`user${i}`, '203.0.113.9');
      await throttle.recordSuccess('admin', '203.0.113.9');
      assert.deepEqual(await throttle.check('admin', '203.0.113.9'), locked('ip', 1));
    });

    it('answers with the longest of the locks that apply', async () => {
      const { throttle, clock } = setup();
      await failWaiting(throttle, clock, 'admin', '203.0.113.9', 11); // pair: 64 s
      for (let i = 12; i <= 20; i++) await throttle.recordFailure(`user${i}`, '203.0.113.9'); // ip: 1 s
      assert.deepEqual(await throttle.check('admin', '203.0.113.9'), locked('account_ip', 64));
      assert.deepEqual(await throttle.check('other', '203.0.113.9'), locked('ip', 1));
    });
  });

  describe('per username across IPs', () => {
    /** One failure per address: no pair or IP streak comes near its threshold. */
    async function distributedFailures(throttle: LoginThrottle, username: string, from: number, to: number) {
      for (let i = from; i <= to; i++) await throttle.recordFailure(username, `10.0.${i >> 8}.${i & 255}`);
    }

    it('locks the account for unknown IPs after 50 failures, capped at 15 min, ending by itself', async () => {
      const { throttle, clock } = setup();
      await distributedFailures(throttle, 'admin', 1, 49);
      assert.deepEqual(await throttle.check('admin', '198.51.100.1'), allowed);
      await distributedFailures(throttle, 'admin', 50, 50);
      assert.deepEqual(await throttle.check('admin', '198.51.100.1'), locked('account', 1));
      assert.deepEqual(await throttle.check('alice', '198.51.100.1'), allowed, 'only that account');
      const seen: number[] = [];
      for (let i = 51; i <= 62; i++) {
        const verdict = await throttle.check('admin', '198.51.100.1');
        if (!verdict.allowed) clock.advance(verdict.retryAfterS * 1000);
        await distributedFailures(throttle, 'admin', i, i);
        const after = await throttle.check('admin', '198.51.100.1');
        if (!after.allowed) seen.push(after.retryAfterS);
      }
      assert.deepEqual(seen, [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
      clock.advance(15 * 60_000);
      assert.deepEqual(await throttle.check('admin', '198.51.100.1'), allowed);
    });

    it('never locks out an IP that logged in to that username before', async () => {
      const { throttle, clock } = setup();
      await throttle.recordSuccess('admin', '198.51.100.7');
      clock.advance(86_400_000);
      await distributedFailures(throttle, 'admin', 1, 70);
      assert.deepEqual(await throttle.check('admin', '198.51.100.1'), locked('account', 900));
      assert.deepEqual(await throttle.check('admin', '198.51.100.7'), allowed, 'the known address gets in');
      assert.deepEqual(await throttle.check('ADMIN', '198.51.100.7'), allowed);
      // Known for that username only.
      await distributedFailures(throttle, 'alice', 1, 50);
      assert.deepEqual(await throttle.check('alice', '198.51.100.7'), locked('account', 1));
    });

    it('the known IP still has its own pair limit (it cannot be used to guess freely)', async () => {
      const { throttle, clock } = setup();
      await throttle.recordSuccess('admin', '198.51.100.7');
      await failWaiting(throttle, clock, 'admin', '198.51.100.7', 5);
      assert.deepEqual(await throttle.check('admin', '198.51.100.7'), locked('account_ip', 1));
    });

    it('an IP is known for 30 days after its last successful login', async () => {
      const { throttle, clock } = setup();
      await throttle.recordSuccess('admin', '198.51.100.7');
      clock.advance(LOGIN_THROTTLE_LIMITS.knownIpMs);
      await distributedFailures(throttle, 'admin', 1, 50);
      assert.deepEqual(await throttle.check('admin', '198.51.100.7'), locked('account', 1));
    });
  });

  describe('unknown usernames', () => {
    it('are counted and locked exactly like existing ones (the throttle cannot tell them apart)', async () => {
      // The same story for a real and an invented name, told to two throttles: every answer matches.
      const run = async (username: string): Promise<LoginThrottleVerdict[]> => {
        const { throttle, clock } = setup();
        await throttle.recordSuccess(username, '198.51.100.7');
        const answers: LoginThrottleVerdict[] = [];
        for (let i = 0; i < 12; i++) {
          await throttle.recordFailure(username, '192.0.2.1');
          answers.push(await throttle.check(username, '192.0.2.1'));
          clock.advance(1500);
        }
        for (let i = 1; i <= 60; i++) await throttle.recordFailure(username, `10.1.0.${i}`);
        answers.push(await throttle.check(username, '10.9.9.9'));
        answers.push(await throttle.check(username, '198.51.100.7'));
        return answers;
      };
      const [real, invented] = await Promise.all([run('admin'), run('no-such-user-8a1f')]);
      assert.deepEqual(invented, real);
      assert.ok(real.some((v) => !v.allowed && v.scope === 'account'));
    });
  });

  describe('state keys', () => {
    it('stay short whatever is typed, and never contain the username', async () => {
      const clock = new ManualClock();
      const inner = new MemoryState({ clock });
      states.push(inner);
      const keys = new Set<string>();
      const spy = new Proxy(inner, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (typeof args[0] === 'string') keys.add(args[0]);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const throttle = new LoginThrottle({ state: spy, clock });
      const longName = `secret-admin-${'ü'.repeat(100_000)}`;
      const junkIp = `not an ip ${'x'.repeat(100_000)}`;
      await throttle.recordFailure(longName, junkIp);
      await throttle.recordSuccess(longName, '2001:db8::1');
      await throttle.check(longName, junkIp);
      assert.ok(keys.size >= 7);
      for (const key of keys) {
        assert.ok(key.length <= 120, `${key.length}: ${key.slice(0, 80)}`);
        assert.ok(!key.includes('secret-admin'), key);
      }
      // Junk that is not an IP is still a subject of its own.
      await failWaiting(throttle, clock, 'admin', junkIp, 5);
      assert.deepEqual(await throttle.check('admin', junkIp), locked('account_ip', 1));
      assert.deepEqual(await throttle.check('admin', `${junkIp}y`), allowed);
    });
  });

  describe('state faults', () => {
    it('reject instead of letting the attempt through', async () => {
      const clock = new ManualClock();
      const inner = new MemoryState({ clock });
      states.push(inner);
      const broken = new Proxy(inner, {
        get(target, property) {
          if (property === 'get' || property === 'incr') return () => Promise.reject(new Error('state down'));
          const value = Reflect.get(target, property) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const throttle = new LoginThrottle({ state: broken, clock });
      await assert.rejects(throttle.check('admin', '192.0.2.1'), /state down/);
      await assert.rejects(throttle.recordFailure('admin', '192.0.2.1'), /state down/);
    });
  });

  describe('shared through Redis', { skip: redis.skip }, () => {
    const keyPrefix = `${uniqueName('pc_throttle')}:`;
    after(async () => {
      // Leave nothing behind in a Redis other suites share (known-IP keys live 30 days).
      const admin = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await admin.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      await admin.quit();
    });

    it('a lock recorded by one instance holds on another', async () => {
      const [a, b] = await Promise.all([
        RedisState.connect({ url: REDIS_URL, keyPrefix, commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS }),
        RedisState.connect({ url: REDIS_URL, keyPrefix, commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS }),
      ]);
      states.push(a, b);
      // Lock times are read from this clock; Redis expires keys by its own (TTLs here are minutes).
      const clock = new ManualClock(Date.now());
      const one = new LoginThrottle({ state: a, clock });
      const two = new LoginThrottle({ state: b, clock });
      for (let i = 0; i < 3; i++) await one.recordFailure('admin', '192.0.2.1');
      for (let i = 0; i < 2; i++) await two.recordFailure('admin', '192.0.2.1');
      assert.deepEqual(await one.check('admin', '192.0.2.1'), locked('account_ip', 1));
      assert.deepEqual(await two.check('admin', '192.0.2.1'), locked('account_ip', 1));
      await one.recordSuccess('admin', '192.0.2.1');
      assert.deepEqual(await two.check('admin', '192.0.2.1'), allowed);
    });
  });
});
