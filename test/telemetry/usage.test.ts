/**
 * Usage roll-ups: exact under two instances writing at once (each record counted once), by
 * minute, hour and day; retried batches do not double count; and `portcullis usage`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { deny } from '../../src/pipeline/decision.js';
import type { Allow, Decision, RequestFacts } from '../../src/pipeline/types.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { DURATION_BUCKETS_MS } from '../../src/telemetry/latency-buckets.js';
import { RequestRecorder } from '../../src/telemetry/recorder.js';
import { bucketOf, latencySlot, rollUp } from '../../src/telemetry/rollups.js';
import { runCli } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresGate } from '../helpers/services.js';

const logger = pino({ level: 'silent' });

function outcome(keyId: string, status: number, route = 'orders'): Outcome {
  const facts = {
    requestId: 'r',
    door: 'gateway',
    method: 'GET',
    path: '/x',
    rawHeaders: [],
    clientIp: '192.0.2.1',
    startedAt: 0,
  } as unknown as RequestFacts;
  const principal = { kind: 'api_key', clientId: 'acme', keyId, scopes: [] };
  const decision: Decision =
    status < 400
      ? ({ kind: 'allow', match: { route: { id: route } }, principal } as unknown as Allow)
      : {
          ...deny(status === 429 ? 'rate_limited' : 'forbidden_route'),
          principal: principal as Allow['principal'],
          routeId: route,
        };
  return { facts, decision, status, upstreamMs: 1, totalMs: 2, bytesOut: 10, upstreamError: undefined };
}

function record(keyId: string) {
  return {
    at: 0,
    requestId: 'r',
    door: 'gateway' as const,
    routeId: 'orders',
    method: 'GET',
    path: '/',
    status: 200,
    totalMs: 1,
    upstreamMs: null,
    clientId: 'acme',
    keyId,
    userId: null,
    ip: '192.0.2.1',
    decision: 'allowed' as const,
    code: null,
    bytesIn: null,
    bytesOut: 1,
  };
}

describe('roll-up arithmetic', () => {
  it('groups by bucket and dimensions at each granularity', () => {
    const at = Date.UTC(2026, 10, 25, 10, 30, 15);
    const records = [200, 200, 429, 403].map((status, i) => ({
      at: at + i * 1000,
      requestId: 'r',
      door: 'gateway' as const,
      routeId: 'orders',
      method: 'GET',
      path: '/',
      status,
      totalMs: 1,
      upstreamMs: null,
      clientId: 'acme',
      keyId: 'key_1',
      userId: null,
      ip: '192.0.2.1',
      decision: status < 400 ? ('allowed' as const) : ('denied' as const),
      code: status === 429 ? 'rate_limited' : status === 403 ? 'forbidden_route' : null,
      bytesIn: 5,
      bytesOut: 7,
    }));
    const rows = rollUp(records);
    const minute = rows.filter((r) => r.granularity === 'minute');
    assert.deepEqual(minute.map((r) => [r.statusClass, r.code, r.requests, r.bytesIn, r.bytesOut]).sort(), [
      ['2xx', '', 2, 10, 14],
      ['4xx', 'forbidden_route', 1, 5, 7],
      ['4xx', 'rate_limited', 1, 5, 7],
    ]);
    assert.equal(minute[0]?.bucket, bucketOf(at, 'minute'));
    assert.equal(rows.filter((r) => r.granularity === 'day')[0]?.bucket, Date.UTC(2026, 10, 25));
  });

  it('counts each record’s total_ms in its latency bucket, at every granularity', () => {
    // Bounds are inclusive upper bounds, like Prometheus `le`.
    const bounds = DURATION_BUCKETS_MS;
    assert.deepEqual([0, 0.5, 0.501, 1, 2.4, 9_999.999, 10_000, 10_000.001, 1e9].map(latencySlot), [
      0,
      0,
      1,
      1,
      2,
      bounds.length - 1,
      bounds.length - 1,
      bounds.length,
      bounds.length,
    ]);
    // Two minutes of the same hour and day: the hour's histogram is the sum of the minutes'.
    const at = Date.UTC(2026, 10, 25, 10, 30, 15);
    const records = [0.3, 0.3, 3, 40_000].map((totalMs, i) => ({
      ...record('key_1'),
      at: at + i * 30_000,
      totalMs,
    }));
    const histogram = (...ms: number[]) => {
      const counts = [...bounds, 0].map(() => 0);
      for (const m of ms) counts[latencySlot(m)] = (counts[latencySlot(m)] ?? 0) + 1;
      return counts;
    };
    const rows = rollUp(records);
    const of = (granularity: string) =>
      rows.filter((r) => r.granularity === granularity).map((r) => r.latency);
    assert.deepEqual(of('minute'), [histogram(0.3, 0.3), histogram(3, 40_000)]);
    assert.deepEqual(of('hour'), [histogram(0.3, 0.3, 3, 40_000)]);
    assert.deepEqual(of('day'), [histogram(0.3, 0.3, 3, 40_000)]);
  });
});

function twoInstances(label: string, open: () => Promise<[Store, Store]>, skip: string | false) {
  describe(`usage roll-ups, two instances: ${label}`, { skip }, () => {
    it('each record is counted exactly once at every granularity', async () => {
      const [a, b] = await open();
      try {
        await a.migrate();
        await b.migrate();
        const clock = new ManualClock(Date.UTC(2026, 10, 25, 12, 0, 0));
        const keyId = `key_${Date.now()}_${label.length}`;
        const recorders = [a, b].map(
          (store) =>
            new RequestRecorder({
              store,
              clock,
              logger,
              enabled: true,
              queueSize: 100_000,
              batchSize: 97,
              flushMs: 60_000,
              retentionDays: 30,
              accessLogSample: 0,
            }),
        );
        let sent = 0;
        for (let round = 0; round < 5; round++) {
          for (let i = 0; i < 400; i++) {
            recorders[i % 2]?.record(outcome(keyId, i % 10 === 0 ? 429 : 200));
            sent++;
          }
          clock.advance(20_000); // crosses minute boundaries
          await Promise.all(recorders.map((r) => r.flush()));
        }
        for (const granularity of ['minute', 'hour', 'day'] as const) {
          const rows = await a.usage.rows({ granularity, keyId, since: 0 });
          assert.equal(
            rows.reduce((n, r) => n + r.requests, 0),
            sent,
            granularity,
          );
          assert.equal(
            rows.filter((r) => r.code === 'rate_limited').reduce((n, r) => n + r.requests, 0),
            sent / 10,
          );
        }
        assert.ok((await a.usage.rows({ granularity: 'minute', keyId, since: 0 })).length >= 2);
        // Many keys per batch, in different orders on each writer: shared rows must not deadlock.
        const keys = Array.from({ length: 30 }, (_, i) => `${keyId}-${i}`);
        const writes = Array.from({ length: 24 }, (_, w) => {
          const order = w % 2 ? [...keys].reverse() : keys;
          return (w % 2 ? b : a).write(async (repos) => {
            const batch = order.map((k) => ({ ...record(k), at: clock.now() }));
            await repos.requestLogs.insertBatch(batch);
            await repos.usage.add(rollUp(batch));
          });
        });
        const results = await Promise.allSettled(writes);
        assert.deepEqual(
          results
            .filter((r) => r.status === 'rejected')
            .map((r) => String((r as PromiseRejectedResult).reason)),
          [],
        );
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-usage-'));
after(() => rmSync(dir, { recursive: true, force: true }));
twoInstances(
  'SQLite file',
  async () => {
    const url = `sqlite:${join(dir, 'u.db')}`;
    return [await openStore({ url }), await openStore({ url })];
  },
  false,
);
const pg = await postgresGate();
twoInstances(
  'PostgreSQL',
  async () => [await openStore({ url: POSTGRES_URL }), await openStore({ url: POSTGRES_URL })],
  pg.skip,
);

describe('portcullis usage', () => {
  it('shows counts per bucket with status classes, refusals and routes', async () => {
    const work = mkdtempSync(join(tmpdir(), 'portcullis-usage-cli-'));
    try {
      const store = await openStore({ url: `sqlite:${join(work, 'data', 'portcullis.db')}` });
      await store.migrate();
      const rec = new RequestRecorder({
        store,
        clock: new ManualClock(Date.now()),
        logger,
        enabled: true,
        queueSize: 1000,
        batchSize: 100,
        flushMs: 60_000,
        retentionDays: 30,
        accessLogSample: 0,
      });
      for (let i = 0; i < 12; i++) rec.record(outcome('key_cli', i < 9 ? 200 : 429, i % 2 ? 'a' : 'b'));
      await rec.flush();
      await store.close();
      const out = await runCli(['usage', '--key', 'key_cli', '--by', 'day', '--json'], { cwd: work });
      assert.equal(out.code, 0, out.stderr);
      const [day] = JSON.parse(out.stdout) as Array<{
        requests: number;
        status: Record<string, number>;
        denied: Record<string, number>;
        routes: Record<string, number>;
      }>;
      assert.deepEqual(
        [day?.requests, day?.status, day?.denied, day?.routes],
        [12, { '2xx': 9, '4xx': 3 }, { rate_limited: 3 }, { a: 6, b: 6 }],
      );
      const both = await runCli(['usage', '--key', 'a', '--client', 'b'], { cwd: work });
      assert.equal(both.code, 2);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
