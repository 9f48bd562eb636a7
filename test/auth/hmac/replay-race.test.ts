/**
 * Concurrent replays: 50 copies of one valid request racing through the verifier must yield
 * exactly one ok, on the in-process state and on a real Redis shared by two gateway instances
 * (SET NX is what makes the nonce check atomic across instances).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Clock, systemClock } from '../../../src/core/clock.js';
import { MemoryState } from '../../../src/state/memory.js';
import { RedisState } from '../../../src/state/redis.js';
import type { HotState } from '../../../src/state/types.js';
import { REDIS_URL, redisGate, uniqueName } from '../../helpers/services.js';
import { check, clockAtStart, outcome, signRequest } from './fixtures.js';

const COPIES = 50;

async function race(states: readonly HotState[], clock: Clock = clockAtStart(), timestamp?: number) {
  const request = signRequest(timestamp === undefined ? {} : { timestamp });
  const verdicts = await Promise.all(
    Array.from({ length: COPIES }, (_, i) => check(request, { state: states[i % states.length]!, clock })),
  );
  const counts = new Map<string, number>();
  for (const verdict of verdicts) counts.set(outcome(verdict), (counts.get(outcome(verdict)) ?? 0) + 1);
  return Object.fromEntries(counts);
}

describe('50 parallel replays of one valid request (MemoryState)', () => {
  const state = new MemoryState({ clock: clockAtStart() });
  after(() => state.close());

  test('exactly one ok, 49 replayed_request', async () => {
    assert.deepEqual(await race([state]), { ok: 1, replayed_request: COPIES - 1 });
  });
});

const redis = await redisGate();

describe('50 parallel replays of one valid request (Redis)', { skip: redis.skip }, () => {
  const keyPrefix = `${uniqueName('pcl_hmac')}:`;
  const opened: RedisState[] = [];
  const connect = async () => {
    const state = await RedisState.connect({ url: REDIS_URL, keyPrefix, commandTimeoutMs: 2_000 });
    opened.push(state);
    return state;
  };
  after(async () => {
    for (const state of opened) await state.close();
  });
  // Redis expires keys on its own clock, so the request is stamped with real time.
  const nowS = () => Math.floor(systemClock.now() / 1000);

  test('one instance: exactly one ok, 49 replayed_request', async () => {
    const state = await connect();
    assert.deepEqual(await race([state], systemClock, nowS()), { ok: 1, replayed_request: COPIES - 1 });
  });

  test('two instances sharing Redis: exactly one ok, 49 replayed_request', async () => {
    const states = [await connect(), await connect()];
    assert.deepEqual(await race(states, systemClock, nowS()), { ok: 1, replayed_request: COPIES - 1 });
  });
});
