/**
 * Admin API /usage on SQLite and PostgreSQL, grouped by expected status: counts of a key or a
 * client per minute, hour or day (status classes, refusals by code, routes, bytes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, createKey, issueHmacSecret } from '../../src/identity/operations.js';
import type { RequestLogRecord } from '../../src/store/types.js';
import { auditedStore } from '../../src/telemetry/audit.js';
import { rollUp } from '../../src/telemetry/rollups.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;

function record(at: number, extra: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    at,
    requestId: 'r',
    door: 'gateway',
    routeId: 'orders',
    method: 'GET',
    path: '/v1/orders',
    status: 200,
    totalMs: 1,
    upstreamMs: 1,
    clientId: 'cu1',
    keyId: 'key_u1',
    userId: null,
    ip: '192.0.2.1',
    decision: 'allowed',
    code: null,
    bytesIn: 5,
    bytesOut: 100,
    ...extra,
  };
}

forEachDialect('admin API /usage', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
    await h.store.usage.add(
      rollUp([
        record(NOW - 90 * MIN),
        record(NOW - 90 * MIN + 1000),
        record(NOW - 30 * MIN),
        record(NOW - 30 * MIN, { routeId: 'users', status: 429, decision: 'denied', code: 'rate_limited' }),
        record(NOW - 30 * MIN, { routeId: null, status: 404, decision: 'denied', code: 'no_route' }),
        record(NOW - 10 * MIN, { keyId: 'key_u2' }),
        record(NOW - 3 * 24 * 60 * MIN),
      ]),
    );
  });
  after(() => h.close());

  describe('200', () => {
    it('counts a key by hour over the last 24h by default', async () => {
      const answer = await h.call('GET', '/usage', { query: { key: 'key_u1' } });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body, {
        keyId: 'key_u1',
        clientId: null,
        by: 'hour',
        since: '2025-12-31T00:00:00.000Z',
        until: null,
        buckets: [
          {
            bucket: '2025-12-31T22:00:00.000Z',
            requests: 2,
            status: { '2xx': 2 },
            denied: {},
            routes: { orders: 2 },
            bytesIn: 10,
            bytesOut: 200,
          },
          {
            bucket: '2025-12-31T23:00:00.000Z',
            requests: 3,
            status: { '2xx': 1, '4xx': 2 },
            denied: { rate_limited: 1, no_route: 1 },
            routes: { orders: 1, users: 1, '(none)': 1 },
            bytesIn: 15,
            bytesOut: 300,
          },
        ],
      });
    });

    it('counts a client, by minute, hour or day, within since and until', async () => {
      const requests = async (query: Record<string, string>) => {
        const answer = await h.call('GET', '/usage', { query });
        assert.equal(answer.status, 200, answer.text);
        return answer.body.buckets.map((b: { bucket: string; requests: number }) => [
          b.bucket.slice(0, 16),
          b.requests,
        ]);
      };
      assert.deepEqual(await requests({ client: 'cu1' }), [
        ['2025-12-31T22:00', 2],
        ['2025-12-31T23:00', 4],
      ]);
      assert.deepEqual(await requests({ key: 'key_u1', by: 'minute' }), [
        ['2025-12-31T22:30', 2],
        ['2025-12-31T23:30', 3],
      ]);
      assert.deepEqual(await requests({ client: 'cu1', by: 'day', since: '7d' }), [
        ['2025-12-29T00:00', 1],
        ['2025-12-31T00:00', 6],
      ]);
      assert.deepEqual(await requests({ client: 'cu1', since: '2025-12-31T23:00:00Z', until: '15m' }), [
        ['2025-12-31T23:00', 4],
      ]);
      assert.deepEqual(await requests({ key: 'key_u1', by: 'minute', until: '1h' }), [
        ['2025-12-31T22:30', 2],
      ]);
      assert.deepEqual(await requests({ key: 'nobody' }), []);
    });

    it('lets a viewer read usage, and shows no secret', async () => {
      const identity = {
        store: auditedStore(h.store, { actor: 'seeder', source: 'test' }, h.clock),
        keys: h.deps.keys,
        clock: h.clock,
        keyPrefix: 'pcl',
      };
      await createClient(identity, { id: 'canary', name: 'Canary' });
      const issued = await createKey(identity, { clientId: 'canary', environment: 'live' });
      const hmac = await issueHmacSecret(identity, 'canary');
      await h.store.usage.add(rollUp([record(NOW - MIN, { clientId: 'canary', keyId: issued.record.id })]));
      const queries: Array<Record<string, string>> = [{ key: issued.record.id }, { client: 'canary' }];
      for (const query of queries) {
        const answer = await h.call('GET', '/usage', { token: h.tokens.viewer, query });
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.buckets[0].requests, 1);
        assert.ok(!answer.text.includes(issued.key));
        assert.ok(!answer.text.includes(hmac.secret));
      }
    });
  });

  describe('400', () => {
    it('refuses unknown query parameters', async () => {
      const answer = await h.call('GET', '/usage', { query: { key: 'key_u1', granularity: 'day' } });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.code, 'bad_request');
    });
  });

  describe('401/403', () => {
    it('needs a credential, and not a verifier token', async () => {
      assert.equal((await h.call('GET', '/usage', { token: null, query: { key: 'key_u1' } })).status, 401);
      assert.equal(
        (await h.call('GET', '/usage', { token: h.tokens.verifier, query: { key: 'key_u1' } })).status,
        403,
      );
    });
  });

  describe('422', () => {
    it('names the field of an unacceptable value', async () => {
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{}, /key/],
        [{ key: 'a', client: 'b' }, /key or client/],
        [{ key: 'a', by: 'week' }, /by/],
        [{ key: 'a', since: 'yesterday' }, /since/],
        [{ client: 'b', until: 'later' }, /until/],
      ];
      for (const [query, field] of cases) {
        const answer = await h.call('GET', '/usage', { query });
        assert.equal(answer.status, 422, `${JSON.stringify(query)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, field);
      }
    });
  });
});
