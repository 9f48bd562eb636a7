/**
 * The anomaly service end to end in one process, on both state backends: counts from the
 * request path, the interval judged by the lease holder, rules carried out (alert, block that
 * expires, shadow), one incident one alert, resolve lifting the block. Time is a ManualClock;
 * nothing here waits on real time except Redis itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Alert } from '../../src/alerts/webhook.js';
import { AnomalyAggregator } from '../../src/anomaly/aggregator.js';
import { resolveAnomaly } from '../../src/anomaly/operations.js';
import { parseRules } from '../../src/anomaly/rules.js';
import { type AnomalyMode, AnomalyService, protectedNetworks } from '../../src/anomaly/service.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { Blocklist } from '../../src/ip-controls/blocklist.js';
import { openState } from '../../src/state/open-state.js';
import type { HotState } from '../../src/state/types.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_URL, ROOMY_COMMAND_TIMEOUT_MS, redisGate } from '../helpers/services.js';

const logger = pino({ level: 'silent' });
const INTERVAL = 60_000;
const redis = await redisGate();

/** What the proxy reports for one answered request (only the fields the aggregator reads). */
function outcome(o: { ip: string; keyId?: string; status?: number; code?: string }): Outcome {
  const principal = o.keyId ? { kind: 'api_key', keyId: o.keyId, clientId: 'acme', scopes: [] } : undefined;
  const status = o.status ?? 200;
  const decision =
    status < 400
      ? { kind: 'allow', principal }
      : { kind: 'deny', status, code: o.code ?? 'invalid_credentials', principal };
  return {
    facts: { clientIp: o.ip },
    decision,
    status,
    upstreamMs: 1,
    totalMs: 1,
    bytesOut: 0,
    upstreamError: undefined,
  } as unknown as Outcome;
}

for (const backend of ['memory', 'redis'] as const) {
  describe(`anomaly service (${backend} state)`, { skip: backend === 'redis' && redis.skip }, () => {
    // Two minutes into an interval boundary-aligned day, so bucket arithmetic is easy to follow.
    const clock = new ManualClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    let store: Store;
    let state: HotState;
    let alerts: Alert[];
    let aggregator: AnomalyAggregator;
    let service: AnomalyService | undefined;
    let mode: AnomalyMode;

    before(async () => {
      store = await openStore({ url: 'sqlite::memory:', clock });
      await store.migrate();
    });
    after(() => store.close());
    beforeEach(async () => {
      clock.advance(INTERVAL); // nothing an earlier test recorded counts as "since now"
      state = await openState({
        clock,
        ...(backend === 'redis'
          ? {
              redisUrl: REDIS_URL,
              keyPrefix: `pcl_anomaly_${randomBytes(6).toString('hex')}:`,
              redis: { commandTimeoutMs: ROOMY_COMMAND_TIMEOUT_MS },
            }
          : {}),
      });
      alerts = [];
      mode = 'on';
      aggregator = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL });
    });
    afterEach(async () => {
      await service?.stop();
      service = undefined;
      await state.close();
    });

    const start = (rules = '') => {
      service = new AnomalyService({
        store,
        state,
        clock,
        logger,
        instanceId: 'test-instance',
        aggregator,
        mode: () => mode,
        rules: parseRules(rules),
        cooldownMs: 15 * 60_000,
        send: (alert) => alerts.push(alert),
        protectedAddress: protectedNetworks(['2001:db8:ffff::5']),
      });
      return service;
    };

    /** Send `n` requests in the current interval, then close it and let the service judge it. */
    const interval = async (
      requests: Array<{ n: number; ip: string; keyId?: string; status?: number; code?: string }>,
    ) => {
      for (const r of requests) for (let i = 0; i < r.n; i++) aggregator.observe(outcome(r));
      await aggregator.flush();
      // Move past the end of the interval and the flush grace, then judge.
      clock.set((Math.floor(clock.now() / INTERVAL) + 1) * INTERVAL + aggregator.flushMs + 1_500);
      await (service as AnomalyService).tick();
    };
    const baseline = async (keyId: string, ip: string, intervals = 8) => {
      for (let i = 0; i < intervals; i++) await interval([{ n: 40 + (i % 3) * 5, ip, keyId }]);
    };
    const newAnomalies = async (since: number) =>
      (await store.anomalies.list({ since })).filter((a) => a.identityKind === 'key');

    it("finds a burst against the key's own baseline, records it with evidence and alerts once per incident", async () => {
      const keyId = `key_${randomBytes(4).toString('hex')}`;
      await start().tick();
      assert.equal(service?.leader, true, 'the only instance takes the lease');
      await baseline(keyId, '198.51.100.10');
      const since = clock.now();
      assert.equal((await newAnomalies(since)).length, 0, 'normal traffic: nothing found');
      await interval([{ n: 900, ip: '198.51.100.10', keyId }]);
      const [found, ...rest] = await newAnomalies(since);
      assert.equal(rest.length, 0);
      assert.equal(found?.signal, 'burst');
      assert.equal(found?.identity, keyId);
      assert.equal(found?.observed, 900);
      assert.ok(
        (found?.expected ?? 0) > 30 && (found?.expected ?? 0) < 60,
        `expected ≈ 45, got ${found?.expected}`,
      );
      assert.equal(found?.action, 'alerted');
      assert.match(
        found?.explanation ?? '',
        new RegExp(`key ${keyId} made 900 requests in 60 s, \\d+(\\.\\d)?× its usual`),
      );
      assert.equal((found?.evidence as { history?: string } | undefined)?.history, 'own');
      const keyAlerts = alerts.filter(
        (a) => (a.details as { identity?: string }).identity === `key:${keyId}`,
      );
      assert.equal(keyAlerts.length, 1);
      assert.equal(keyAlerts[0]?.kind, 'anomaly');
      assert.equal(keyAlerts[0]?.id, found?.alertId);

      // The burst goes on: the same incident, no second alert.
      await interval([{ n: 950, ip: '198.51.100.10', keyId }]);
      const again = await newAnomalies(since);
      assert.equal(again.length, 1);
      assert.equal(again[0]?.occurrences, 2);
      assert.equal(
        alerts.filter((a) => (a.details as { identity?: string }).identity === `key:${keyId}`).length,
        1,
      );
    });

    it('a block rule blocks with source anomaly, and the block expires by itself', async () => {
      const keyId = `key_${randomBytes(4).toString('hex')}`;
      await start('burst=block:2m').tick();
      await baseline(keyId, '198.51.100.11');
      const since = clock.now();
      await interval([{ n: 1200, ip: '198.51.100.11', keyId }]);
      const [found] = await newAnomalies(since);
      assert.equal(found?.action, 'blocked');
      const block = await store.blocks.get(found?.blockId ?? '');
      assert.equal(block?.kind, 'key');
      assert.equal(block?.value, keyId);
      assert.equal(block?.source, 'anomaly');
      assert.equal(block?.expiresAt, found?.blockExpiresAt);
      assert.equal((block?.expiresAt ?? 0) - (found?.detectedAt ?? 0), 120_000);
      const blocklist = new Blocklist({ store, clock, logger });
      await blocklist.refresh();
      assert.ok(blocklist.match('key', keyId), 'blocked now');
      clock.advance(120_001);
      assert.equal(blocklist.match('key', keyId), undefined, 'lifted by itself once expired');
      // The audit log says who blocked.
      const audit = await store.auditLog.list({ limit: 20 });
      assert.ok(
        audit.some(
          (e) => e.actor === 'anomaly-detector' && e.action === 'blocks.upsert' && e.targetId === block?.id,
        ),
      );
    });

    it("resolving lifts the anomaly's own block but never one an admin put there", async () => {
      const keyId = `key_${randomBytes(4).toString('hex')}`;
      await start('burst=block').tick();
      await baseline(keyId, '198.51.100.12');
      const since = clock.now();
      await interval([{ n: 1200, ip: '198.51.100.12', keyId }]);
      const [found] = await newAnomalies(since);
      assert.equal(found?.action, 'blocked');
      assert.equal(found?.blockExpiresAt, null, 'block until lifted');
      const resolved = await resolveAnomaly(
        store,
        found?.id ?? '',
        { actor: 'alice', note: 'load test' },
        clock.now(),
      );
      assert.equal(resolved.anomaly.status, 'resolved');
      assert.equal(resolved.anomaly.resolvedBy, 'alice');
      assert.equal(resolved.liftedBlock, found?.blockId);
      assert.equal(await store.blocks.get(found?.blockId ?? ''), undefined);

      // An admin's block that was already there stays when the anomaly is resolved.
      const other = `key_${randomBytes(4).toString('hex')}`;
      await store.blocks.upsert({
        id: 'blk_manual',
        kind: 'key',
        value: other,
        reason: 'abuse',
        source: 'manual',
        expiresAt: null,
      });
      await baseline(other, '198.51.100.13');
      const since2 = clock.now();
      clock.advance(16 * 60_000); // past the first incident's cooldown
      await interval([{ n: 1500, ip: '198.51.100.13', keyId: other }]);
      const [second] = (await newAnomalies(since2)).filter((a) => a.identity === other);
      assert.equal(second?.blockId, 'blk_manual');
      assert.match(second?.explanation ?? '', /already blocked/);
      const kept = await resolveAnomaly(store, second?.id ?? '', { actor: 'alice' }, clock.now());
      assert.equal(kept.liftedBlock, null);
      assert.ok(await store.blocks.get('blk_manual'));
    });

    it('shadow mode records what it would have done and does nothing else', async () => {
      const keyId = `key_${randomBytes(4).toString('hex')}`;
      mode = 'shadow';
      await start('burst=block:10m').tick();
      await baseline(keyId, '198.51.100.14');
      const since = clock.now();
      await interval([{ n: 1200, ip: '198.51.100.14', keyId }]);
      const [found] = await newAnomalies(since);
      assert.equal(found?.action, 'shadow');
      assert.equal(found?.blockId, null);
      assert.equal(found?.alertId, null);
      assert.equal(alerts.length, 0);
      assert.equal((await store.blocks.list({ kind: 'key' })).filter((b) => b.value === keyId).length, 0);
    });

    it('blocks an address failing authentication in bulk, but never a protected one', async () => {
      await start().tick();
      const since = clock.now();
      await interval([
        { n: 300, ip: '203.0.113.66', status: 401, code: 'invalid_credentials' },
        { n: 300, ip: '127.0.0.1', status: 401, code: 'invalid_credentials' },
        // Requests without any credential are not failures (a browser, a health check).
        { n: 300, ip: '203.0.113.67', status: 401, code: 'missing_credentials' },
      ]);
      const found = (await store.anomalies.list({ since, signal: 'auth_failures' })).sort((a, b) =>
        a.identity.localeCompare(b.identity),
      );
      assert.deepEqual(
        found.map((a) => [a.identity, a.action]),
        [
          ['127.0.0.1', 'alerted'],
          ['203.0.113.66', 'blocked'],
        ],
      );
      assert.match(found[0]?.explanation ?? '', /not blocked: loopback or trusted-proxy address/);
      const block = await store.blocks.get(found[1]?.blockId ?? '');
      assert.equal(block?.kind, 'ip');
      assert.equal(block?.value, '203.0.113.66/32');
      assert.equal(
        (block?.expiresAt ?? 0) - (found[1]?.detectedAt ?? 0),
        15 * 60_000,
        'default rule: 15 minutes',
      );
    });

    it('never blocks loopback or a trusted proxy, in IPv6 as in IPv4', async () => {
      await start().tick();
      const since = clock.now();
      await interval([
        { n: 300, ip: '::1', status: 401, code: 'invalid_credentials' },
        { n: 300, ip: '2001:db8:ffff::5', status: 401, code: 'invalid_credentials' },
      ]);
      const found = await store.anomalies.list({ since, signal: 'auth_failures' });
      assert.deepEqual(found.map((a) => [a.identity, a.action]).sort(), [
        ['2001:db8:ffff::/64', 'alerted'],
        ['::/64', 'alerted'],
      ]);
      assert.ok(found.every((a) => a.blockId === null));
    });

    it("leaves an admin's block exactly as it is", async () => {
      await store.blocks.upsert({
        id: 'blk_admin_ip',
        kind: 'ip',
        value: '203.0.113.80/32',
        reason: 'seen abusing',
        source: 'manual',
        expiresAt: null,
      });
      await start().tick();
      const since = clock.now();
      await interval([{ n: 300, ip: '203.0.113.80', status: 401, code: 'invalid_credentials' }]);
      const [found] = await store.anomalies.list({ since, signal: 'auth_failures' });
      assert.equal(found?.blockId, 'blk_admin_ip');
      const block = await store.blocks.get('blk_admin_ip');
      assert.deepEqual([block?.source, block?.reason, block?.expiresAt], ['manual', 'seen abusing', null]);
      await resolveAnomaly(store, found?.id ?? '', { actor: 'alice' }, clock.now());
      assert.ok(await store.blocks.get('blk_admin_ip'), 'resolving does not lift it');
    });

    it('a database fault loses nothing: the next interval records and blocks', async () => {
      await start().tick();
      const since = clock.now();
      const list = store.blocks.list.bind(store.blocks);
      let failures = 1;
      store.blocks.list = async (filter) => {
        if (failures-- > 0) throw new Error('database unavailable');
        return list(filter);
      };
      try {
        await interval([{ n: 300, ip: '203.0.113.81', status: 401, code: 'invalid_credentials' }]);
        assert.equal((await store.anomalies.list({ since, signal: 'auth_failures' })).length, 0);
        await interval([{ n: 300, ip: '203.0.113.81', status: 401, code: 'invalid_credentials' }]);
      } finally {
        store.blocks.list = list;
      }
      const [found] = await store.anomalies.list({ since, signal: 'auth_failures' });
      assert.equal(found?.action, 'blocked');
    });

    it('an incident lasts as long as it goes on; after resolve, or a lifted block, it acts again', async () => {
      await start('burst=block:2m').tick();
      const ip = '203.0.113.82';
      const since = clock.now();
      const stuffing = { n: 300, ip, status: 401, code: 'invalid_credentials' };
      await interval([stuffing]);
      const [first] = await store.anomalies.list({ since, signal: 'auth_failures' });
      assert.equal(first?.action, 'blocked');
      // An admin lifts the block while the attack goes on: blocked again, same incident.
      await store.blocks.remove(first?.blockId ?? '');
      await interval([stuffing]);
      const [same] = await store.anomalies.list({ since, signal: 'auth_failures' });
      assert.equal(same?.id, first?.id);
      assert.equal(same?.occurrences, 2);
      assert.notEqual(same?.blockId, first?.blockId);
      assert.ok(await store.blocks.get(same?.blockId ?? ''), 'blocked again');
      // Resolved: the next finding is a new incident with its own alert.
      await resolveAnomaly(store, same?.id ?? '', { actor: 'alice' }, clock.now());
      await interval([stuffing]);
      const all = await store.anomalies.list({ since, signal: 'auth_failures' });
      assert.equal(all.length, 2);
      assert.equal(all[0]?.status, 'open');
      assert.equal(
        alerts.filter((a) => (a.details as { identity?: string }).identity === `ip:${ip}`).length,
        2,
      );
    });

    it('warms up after starting with nothing learned: floor-judged bursts are recorded, not acted on', async () => {
      await start('burst=block:10m').tick();
      const keyId = `key_${randomBytes(4).toString('hex')}`;
      const since = clock.now();
      await interval([{ n: 2000, ip: '198.51.100.30', keyId }]);
      const [found] = await newAnomalies(since);
      assert.equal(found?.action, 'recorded');
      assert.match(found?.explanation ?? '', /detector warming up/);
      assert.equal(found?.blockId, null);
    });

    it('run-now judges the interval in progress without learning from it', async () => {
      const keyId = `key_${randomBytes(4).toString('hex')}`;
      await start().tick();
      await baseline(keyId, '198.51.100.15');
      for (let i = 0; i < 700; i++) aggregator.observe(outcome({ ip: '198.51.100.15', keyId }));
      const result = await (service as AnomalyService).runNow();
      assert.ok(result.findings.some((f) => f.identity === `k:${keyId}` && f.signal === 'burst'));
      assert.ok(result.anomalies.some((a) => a.identity === keyId));
      assert.equal(result.bucketStart, Math.floor(clock.now() / INTERVAL) * INTERVAL);
    });

    it('off mode judges nothing', async () => {
      mode = 'off';
      await start().tick();
      const since = clock.now();
      await interval([{ n: 5000, ip: '198.51.100.16', status: 401 }]);
      assert.equal((await store.anomalies.list({ since })).length, 0);
    });
  });
}
