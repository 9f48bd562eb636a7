/**
 * Admin API /stats on SQLite and PostgreSQL, grouped by expected status: per-minute counts by
 * decision with empty minutes filled, percentiles from known latencies, ranked lists, filters,
 * the counts of blocks, anomalies and intercepts, and bad windows. Records go through the
 * recorder's write path (`writeBatch`: records and their roll-ups), since the figures come from
 * the minute roll-ups; the expected percentiles are those the former scan of the records gave.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { histogramQuantile } from '../../src/admin/api/resources/stats.js';
import type { AnomalyRecord, RequestLogRecord } from '../../src/store/types.js';
import { writeBatch } from '../../src/telemetry/batch-writer.js';
import { DURATION_BUCKETS_MS } from '../../src/telemetry/latency-buckets.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

/** The harness clock. */
const NOW = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;
/** The two busy minutes of the last hour. */
const A = NOW - 30 * MIN;
const B = NOW - 10 * MIN;

let seq = 0;
function record(extra: Partial<RequestLogRecord>): RequestLogRecord {
  seq++;
  return {
    at: A,
    requestId: `req-${seq}`,
    door: 'gateway',
    routeId: 'orders',
    method: 'GET',
    path: '/v1/orders',
    status: 200,
    totalMs: 1,
    upstreamMs: null,
    clientId: 'acme',
    keyId: 'key_a',
    userId: null,
    ip: '192.0.2.1',
    decision: 'allowed',
    code: null,
    bytesIn: null,
    bytesOut: 10,
    ...extra,
  };
}

const times = (n: number, make: (i: number) => RequestLogRecord) =>
  Array.from({ length: n }, (_, i) => make(i));

/**
 * Minute A: 100 allowed (50 at 0.3 ms, 49 at 3 ms, 1 at 40 ms) → p50 0.5, p99 5.
 * Minute B: 5 denied at 0.2 ms, 1 error at 2 s → p50 0.3, p99 2410.
 * Keys tie at 52 (key_a, key_b); routes orders 55, users 49. Two hours ago: one more.
 */
const RECORDS: RequestLogRecord[] = [
  ...times(50, (i) => record({ at: A + i * 100, totalMs: 0.3 })),
  ...times(49, (i) => record({ at: A + 10_000 + i * 100, totalMs: 3, keyId: 'key_b', routeId: 'users' })),
  record({ at: A + 59_999, totalMs: 40 }),
  ...times(3, (i) =>
    record({
      at: B + i,
      totalMs: 0.2,
      keyId: 'key_b',
      status: 429,
      decision: 'denied',
      code: 'rate_limited',
    }),
  ),
  ...times(2, (i) =>
    record({
      at: B + 10 + i,
      totalMs: 0.2,
      keyId: null,
      clientId: null,
      routeId: null,
      status: 403,
      decision: 'denied',
      code: 'ip_not_allowed',
    }),
  ),
  record({ at: B + 30_000, totalMs: 2000, status: 502, decision: 'error', code: 'upstream_unavailable' }),
  record({ at: NOW - 2 * 60 * MIN, totalMs: 0.3, keyId: 'key_old', routeId: 'legacy' }),
];

function anomaly(id: string, status: 'open' | 'resolved'): AnomalyRecord {
  return {
    id,
    signal: 'burst',
    identityKind: 'key',
    identity: 'key_a',
    bucketStart: NOW - 2 * MIN,
    intervalMs: MIN,
    detectedAt: NOW - MIN,
    lastSeenAt: NOW - MIN,
    occurrences: 1,
    score: 9,
    observed: 400,
    expected: 40,
    explanation: 'key key_a sent 400 requests in 60 s (expected about 40)',
    evidence: {},
    action: 'recorded',
    blockId: null,
    blockExpiresAt: null,
    alertId: null,
    status,
    resolvedAt: status === 'resolved' ? NOW : null,
    resolvedBy: status === 'resolved' ? 'admin' : null,
    resolutionNote: null,
  };
}

function intercept(id: string, at: number, keyId: string) {
  return {
    id,
    at,
    keyId,
    clientId: 'acme',
    ip: '198.51.100.9',
    bound: ['192.0.2.1/32'],
    routeId: 'orders',
    method: 'GET',
    path: '/v1/orders',
    requestId: `req-${id}`,
  };
}

describe('histogramQuantile', () => {
  it('interpolates inside the bucket, like PromQL histogram_quantile', () => {
    assert.equal(histogramQuantile(0.5, [1, 2], [2, 2, 0]), 1);
    assert.equal(histogramQuantile(0.75, [1, 2], [2, 2, 0]), 1.5);
    assert.equal(histogramQuantile(0.25, [1, 2], [2, 2, 0]), 0.5);
    // Empty buckets below are skipped: the rank lands in the first bucket holding records.
    assert.equal(histogramQuantile(0.5, [1, 2, 4], [0, 0, 2, 0]), 3);
  });
  it('answers the last bound beyond it, and null without requests', () => {
    const above = [...DURATION_BUCKETS_MS.map(() => 0), 3];
    assert.equal(histogramQuantile(0.99, DURATION_BUCKETS_MS, above), 10_000);
    assert.equal(histogramQuantile(0.5, [1, 2], [0, 0, 0]), null);
  });
});

forEachDialect('admin API /stats', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
    await writeBatch(h.store, RECORDS);
    await h.store.blocks.upsert({
      id: 'blk_forever',
      kind: 'ip',
      value: '203.0.113.7',
      reason: 'abuse',
      source: 'manual',
      expiresAt: null,
    });
    await h.store.blocks.upsert({
      id: 'blk_later',
      kind: 'key',
      value: 'key_z',
      reason: 'abuse',
      source: 'anomaly',
      expiresAt: NOW + 60 * MIN,
    });
    await h.store.blocks.upsert({
      id: 'blk_past',
      kind: 'user',
      value: 'u-1',
      reason: 'abuse',
      source: 'manual',
      expiresAt: NOW - 1,
    });
    await h.store.anomalies.insert(anomaly('anm_open', 'open'));
    await h.store.anomalies.insert(anomaly('anm_done', 'resolved'));
    await h.store.intercepts.insert(intercept('int_1', A, 'key_a'));
    await h.store.intercepts.insert(intercept('int_2', B, 'key_b'));
    await h.store.intercepts.insert(intercept('int_old', NOW - 3 * 60 * MIN, 'key_a'));
  });
  after(() => h.close());

  describe('200', () => {
    it('counts the last hour by minute, filling empty minutes with zeros', async () => {
      const answer = await h.call('GET', '/stats');
      assert.equal(answer.status, 200, answer.text);
      const { buckets } = answer.body;
      assert.equal(answer.body.bucketMs, MIN);
      assert.equal(answer.body.since, '2025-12-31T23:00:00.000Z');
      assert.equal(answer.body.until, '2026-01-01T00:00:00.000Z');
      // 23:00 … 00:00 inclusive: the current minute is the last bucket.
      assert.equal(buckets.length, 61);
      assert.equal(buckets[0].at, '2025-12-31T23:00:00.000Z');
      assert.equal(buckets[60].at, '2026-01-01T00:00:00.000Z');
      for (let i = 1; i < buckets.length; i++)
        assert.equal(Date.parse(buckets[i].at) - Date.parse(buckets[i - 1].at), MIN);
      const busy = buckets.filter(
        (b: { allowed: number; denied: number; errored: number }) => b.allowed + b.denied + b.errored > 0,
      );
      assert.deepEqual(busy, [
        { at: '2025-12-31T23:30:00.000Z', allowed: 100, denied: 0, errored: 0, p50Ms: 0.5, p99Ms: 5 },
        { at: '2025-12-31T23:50:00.000Z', allowed: 0, denied: 5, errored: 1, p50Ms: 0.3, p99Ms: 2410 },
      ]);
      assert.deepEqual(buckets[1], {
        at: '2025-12-31T23:01:00.000Z',
        allowed: 0,
        denied: 0,
        errored: 0,
        p50Ms: null,
        p99Ms: null,
      });
    });

    it('sums the window, with percentiles from the summed histogram', async () => {
      const { body } = await h.call('GET', '/stats');
      // 106 requests: 55 ≤ 0.5 ms, 49 in (2.5, 5], 1 in (25, 50], 1 in (1000, 2500].
      assert.deepEqual(body.totals, {
        requests: 106,
        allowed: 100,
        denied: 5,
        errored: 1,
        p50Ms: 0.482,
        p99Ms: 48.5,
      });
    });

    it('ranks denials by reason, keys and routes (ties in byte order, alike on both databases)', async () => {
      const { body } = await h.call('GET', '/stats');
      assert.deepEqual(body.deniedByReason, [
        { code: 'rate_limited', count: 3 },
        { code: 'ip_not_allowed', count: 2 },
      ]);
      assert.deepEqual(body.topKeys, [
        { keyId: 'key_a', count: 52 },
        { keyId: 'key_b', count: 52 },
      ]);
      assert.deepEqual(body.topRoutes, [
        { routeId: 'orders', count: 55 },
        { routeId: 'users', count: 49 },
      ]);
    });

    it('counts active blocks, open anomalies and the intercepts of the window', async () => {
      const { body } = await h.call('GET', '/stats');
      assert.deepEqual([body.activeBlocks, body.openAnomalies, body.intercepts], [2, 1, 2]);
    });

    it('narrows to a key or a route', async () => {
      const byKey = await h.call('GET', '/stats', { query: { key: 'key_b' } });
      assert.equal(byKey.status, 200, byKey.text);
      assert.deepEqual(
        [byKey.body.totals.requests, byKey.body.totals.allowed, byKey.body.totals.denied],
        [52, 49, 3],
      );
      assert.deepEqual(byKey.body.topKeys, [{ keyId: 'key_b', count: 52 }]);
      assert.equal(byKey.body.intercepts, 1);
      // Blocks and anomalies are the installation's, whatever the filter.
      assert.deepEqual([byKey.body.activeBlocks, byKey.body.openAnomalies], [2, 1]);

      const byRoute = await h.call('GET', '/stats', { query: { route: 'users' } });
      assert.equal(byRoute.body.totals.requests, 49);
      assert.deepEqual(byRoute.body.topRoutes, [{ routeId: 'users', count: 49 }]);
      assert.deepEqual(byRoute.body.deniedByReason, []);

      const both = await h.call('GET', '/stats', { query: { key: 'key_a', route: 'users' } });
      assert.equal(both.body.totals.requests, 0);
    });

    it('takes windows from 1m to 24h', async () => {
      const six = await h.call('GET', '/stats', { query: { since: '6h' } });
      assert.equal(six.status, 200, six.text);
      assert.equal(six.body.buckets.length, 6 * 60 + 1);
      assert.equal(six.body.totals.requests, 107);
      assert.equal(six.body.intercepts, 3);
      assert.ok(six.body.topKeys.some((k: { keyId: string }) => k.keyId === 'key_old'));

      const quarter = await h.call('GET', '/stats', { query: { since: '15m' } });
      assert.equal(quarter.body.buckets.length, 16);
      assert.equal(quarter.body.totals.requests, 6);

      assert.equal((await h.call('GET', '/stats', { query: { since: '1m' } })).body.buckets.length, 2);
      assert.equal((await h.call('GET', '/stats', { query: { since: '24h' } })).body.buckets.length, 1441);
    });

    it('answers zeros and empty lists when nothing was recorded', async () => {
      const { body } = await h.call('GET', '/stats', { query: { key: 'key_nobody' } });
      assert.equal(body.buckets.length, 61);
      assert.ok(
        body.buckets.every((b: { allowed: number; p99Ms: unknown }) => b.allowed === 0 && b.p99Ms === null),
      );
      assert.deepEqual(body.totals, {
        requests: 0,
        allowed: 0,
        denied: 0,
        errored: 0,
        p50Ms: null,
        p99Ms: null,
      });
      assert.deepEqual([body.deniedByReason, body.topKeys, body.topRoutes], [[], [], []]);
    });

    it('is readable by a viewer', async () => {
      const answer = await h.call('GET', '/stats', { token: h.tokens.viewer });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.totals.requests, 106);
    });
  });

  describe('400', () => {
    it('refuses unknown query parameters', async () => {
      const answer = await h.call('GET', '/stats', { query: { window: '1h' } });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.code, 'bad_request');
    });
  });

  describe('401/403', () => {
    it('needs a credential, and not a verifier token', async () => {
      assert.equal((await h.call('GET', '/stats', { token: null })).status, 401);
      assert.equal((await h.call('GET', '/stats', { token: h.tokens.verifier })).status, 403);
    });
  });

  describe('422', () => {
    it('names `since` when the window is not a duration from 1m to 24h', async () => {
      for (const since of ['0', '0m', '30s', '48h', '2d', 'yesterday', '2025-12-31T23:00:00Z', '']) {
        const answer = await h.call('GET', '/stats', { query: { since } });
        assert.equal(answer.status, 422, `${since}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, /since/);
      }
    });
  });
  describe('minutes rolled up before migration 0009', () => {
    it('count, without percentiles: they have no latency histogram', async () => {
      // What an older version left: counts, the histogram columns at their default of zero.
      await h.store.usage.add([
        {
          granularity: 'minute',
          bucket: NOW - 20 * MIN,
          keyId: 'key_legacy',
          clientId: 'acme',
          routeId: 'orders',
          statusClass: '2xx',
          code: '',
          requests: 7,
          bytesIn: 0,
          bytesOut: 0,
          latency: [...DURATION_BUCKETS_MS, 0].map(() => 0),
        },
      ]);
      await writeBatch(h.store, [record({ at: NOW - 5 * MIN, keyId: 'key_legacy', totalMs: 3 })]);
      const { body } = await h.call('GET', '/stats', { query: { key: 'key_legacy' } });
      const busy = body.buckets.filter((b: { allowed: number }) => b.allowed > 0);
      // One request at 3 ms, in (2.5, 5]: interpolated at ranks 0.5 and 0.99 of it.
      assert.deepEqual(busy, [
        { at: '2025-12-31T23:40:00.000Z', allowed: 7, denied: 0, errored: 0, p50Ms: null, p99Ms: null },
        { at: '2025-12-31T23:55:00.000Z', allowed: 1, denied: 0, errored: 0, p50Ms: 3.75, p99Ms: 4.975 },
      ]);
      // The window's percentiles come from the minutes that have a histogram.
      assert.deepEqual(body.totals, {
        requests: 8,
        allowed: 8,
        denied: 0,
        errored: 0,
        p50Ms: 3.75,
        p99Ms: 4.975,
      });
    });
  });

  describe('shared answers', () => {
    it('repeats an answer for 5 s (open dashboards share one query), then counts again', async () => {
      const first = await h.call('GET', '/stats', { query: { since: '15m', key: 'key_cache' } });
      assert.equal(first.body.totals.requests, 0);
      await writeBatch(h.store, [record({ at: NOW - MIN, keyId: 'key_cache' })]);
      const cached = await h.call('GET', '/stats', { query: { since: '15m', key: 'key_cache' } });
      assert.equal(cached.body.totals.requests, 0, 'within 5 s: the shared answer');
      h.clock.advance(5_000);
      const fresh = await h.call('GET', '/stats', { query: { since: '15m', key: 'key_cache' } });
      assert.equal(fresh.body.totals.requests, 1, 'after 5 s: counted again');
      h.clock.set(NOW);
    });
  });
});
