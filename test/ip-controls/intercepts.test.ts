/**
 * Intercept alerting: records every violation, and exactly one alert per key per window however
 * many violations arrive at once — on one instance (memory state) and across two instances
 * sharing Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Alert } from '../../src/alerts/webhook.js';
import { ManualClock } from '../../src/core/clock.js';
import { InterceptRecorder, MAX_PENDING, MAX_RECORDED_PER_WINDOW } from '../../src/ip-controls/intercepts.js';
import { openState } from '../../src/state/open-state.js';
import type { HotState } from '../../src/state/types.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_URL, ROOMY_COMMAND_TIMEOUT_MS, redisGate } from '../helpers/services.js';

const logger = pino({ level: 'silent' });
const violation = (keyId: string, ip: string) => ({
  keyId,
  clientId: 'acme',
  ip,
  bound: ['192.0.2.1/32'],
  routeId: 'orders',
  method: 'GET',
  path: '/v1/orders',
  requestId: 'r1',
});

describe('intercept alerts', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 25, 12, 0, 10));
  let store: Store;
  before(async () => {
    store = await openStore({ url: 'sqlite::memory:', clock });
    await store.migrate();
  });
  after(() => store.close());

  it('records each violation and sends one alert when a key reaches the threshold in a window', async () => {
    const state = await openState({ clock });
    const alerts: Alert[] = [];
    const recorder = new InterceptRecorder({
      store,
      state,
      clock,
      logger,
      alerts: { threshold: 3, windowS: 60, send: (a) => alerts.push(a) },
    });
    for (let i = 0; i < 10; i++) recorder.record(violation('key_a', `198.51.100.${i}`));
    recorder.record(violation('key_b', '198.51.100.99'));
    await recorder.drain();
    assert.equal((await store.intercepts.list({ keyId: 'key_a' })).length, 10);
    assert.equal(alerts.length, 1);
    const [alert] = alerts;
    assert.equal(alert?.kind, 'intercepts');
    assert.match(alert?.summary ?? '', /key_a .*3 times within 60 s/);
    assert.equal((alert?.details as { key?: string } | undefined)?.key, 'key_a');
    clock.advance(60_000);
    for (let i = 0; i < 3; i++) recorder.record(violation('key_a', '198.51.100.1'));
    await recorder.drain();
    assert.equal(alerts.length, 2, 'the next window alerts again');
    await state.close();
  });

  it('a flood of violations is bounded: in flight, and in rows per key and window', async () => {
    const state = await openState({ clock });
    const recorder = new InterceptRecorder({
      store,
      state,
      clock,
      logger,
      alerts: { threshold: 0, windowS: 60, send: () => undefined },
    });
    for (let i = 0; i < MAX_PENDING + 250; i++) recorder.record(violation('key_flood', '198.51.100.1'));
    assert.equal(recorder.dropped, 250);
    await recorder.drain();
    assert.equal(
      (await store.intercepts.list({ keyId: 'key_flood', limit: 5000 })).length,
      MAX_RECORDED_PER_WINDOW,
      'per key and window, the first ones are written and the rest only counted',
    );
    await state.close();
  });

  it('threshold 0 never alerts; a store fault loses the record but not the alert', async () => {
    const state = await openState({ clock });
    const alerts: Alert[] = [];
    const off = new InterceptRecorder({
      store,
      state,
      clock,
      logger,
      alerts: { threshold: 0, windowS: 60, send: (a) => alerts.push(a) },
    });
    for (let i = 0; i < 5; i++) off.record(violation('key_c', '198.51.100.1'));
    await off.drain();
    assert.equal(alerts.length, 0);
    const closed = await openStore({ url: 'sqlite::memory:', clock });
    await closed.close();
    const faulty = new InterceptRecorder({
      store: closed,
      state,
      clock,
      logger,
      alerts: { threshold: 1, windowS: 60, send: (a) => alerts.push(a) },
    });
    faulty.record(violation('key_d', '198.51.100.1'));
    await faulty.drain();
    assert.equal(alerts.length, 1);
    await state.close();
  });
});

const redis = await redisGate();
describe('intercept alerts across two instances sharing Redis', { skip: redis.skip }, () => {
  it('50 concurrent violations split over two instances send exactly one alert', async () => {
    const clock = new ManualClock(Date.now());
    const store = await openStore({ url: 'sqlite::memory:', clock });
    await store.migrate();
    const keyPrefix = `pcl-test-${randomBytes(4).toString('hex')}:`;
    const states: HotState[] = [
      await openState({
        redisUrl: REDIS_URL,
        keyPrefix,
        clock,
        redis: { commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS },
      }),
      await openState({
        redisUrl: REDIS_URL,
        keyPrefix,
        clock,
        redis: { commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS },
      }),
    ];
    const alerts: Alert[] = [];
    const recorders = states.map(
      (state) =>
        new InterceptRecorder({
          store,
          state,
          clock,
          logger,
          alerts: { threshold: 5, windowS: 300, send: (a) => alerts.push(a) },
        }),
    );
    try {
      for (let i = 0; i < 50; i++) recorders[i % 2]?.record(violation('key_shared', `203.0.113.${i}`));
      await Promise.all(recorders.map((r) => r.drain()));
      assert.equal(alerts.length, 1);
    } finally {
      await Promise.all(states.map((s) => s.close()));
      await store.close();
    }
  });
});
