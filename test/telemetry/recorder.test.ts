/**
 * The request recorder against real databases (SQLite, and PostgreSQL when available):
 * record fields per decision type, batching, a full queue that drops and counts without
 * blocking, a database outage that loses nothing that fit in the queue, flush at stop, retention.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { deny } from '../../src/pipeline/decision.js';
import type { Allow, Decision, RequestFacts } from '../../src/pipeline/types.js';
import { openStore } from '../../src/store/open-store.js';
import type { RequestLogRecord, Store } from '../../src/store/types.js';
import { RequestRecorder, toRecord } from '../../src/telemetry/recorder.js';
import { POSTGRES_URL, postgresGate } from '../helpers/services.js';

const logger = pino({ level: 'silent' });

function facts(requestId: string, extra: Partial<RequestFacts> = {}): RequestFacts {
  return {
    requestId,
    door: 'gateway',
    method: 'POST',
    hostname: 'api.example.com',
    port: undefined,
    host: 'api.example.com',
    path: '/v1/orders',
    query: '?api_key=pcl_live_secret',
    rawHeaders: ['Host', 'api.example.com', 'Content-Length', '42'],
    rawTarget: '/v1/orders?api_key=pcl_live_secret',
    hasBody: true,
    connection: undefined,
    clientIp: '192.0.2.7',
    peerIp: '192.0.2.7',
    protocol: 'http',
    startedAt: 0,
    ...extra,
  };
}

const allow = {
  kind: 'allow',
  match: { route: { id: 'orders' } },
  principal: { kind: 'api_key', clientId: 'acme', keyId: 'key_1', scopes: [] },
} as unknown as Allow;

function outcome(
  requestId: string,
  decision: Decision | undefined,
  status: number,
  extra: Partial<Outcome> = {},
): Outcome {
  return {
    facts: facts(requestId),
    decision,
    status,
    upstreamMs: undefined,
    totalMs: 1.23456,
    bytesOut: 0,
    upstreamError: undefined,
    ...extra,
  };
}

describe('toRecord', () => {
  it('maps every decision type, never keeps the query string', () => {
    const ok = toRecord(
      outcome('a', allow, 201, { upstreamMs: 0.5, bytesOut: 99 }),
      1000,
    ) as RequestLogRecord;
    assert.deepEqual(ok, {
      at: 1000,
      requestId: 'a',
      door: 'gateway',
      routeId: 'orders',
      method: 'POST',
      path: '/v1/orders',
      status: 201,
      totalMs: 1.235,
      upstreamMs: 0.5,
      clientId: 'acme',
      keyId: 'key_1',
      userId: null,
      ip: '192.0.2.7',
      decision: 'allowed',
      code: null,
      bytesIn: 42,
      bytesOut: 99,
    });
    assert.doesNotMatch(JSON.stringify(ok), /secret/);
    const refused = toRecord(
      outcome('b', { ...deny('invalid_credentials'), routeId: 'orders' }, 401),
      1,
    ) as RequestLogRecord;
    assert.deepEqual(
      [refused.decision, refused.code, refused.routeId, refused.keyId],
      ['denied', 'invalid_credentials', 'orders', null],
    );
    const closed = toRecord(outcome('c', deny('failsafe_closed'), 503), 1) as RequestLogRecord;
    assert.deepEqual([closed.decision, closed.code], ['error', 'failsafe_closed']);
    const upstream = toRecord(
      outcome('d', allow, 502, { upstreamError: 'upstream_unavailable' }),
      1,
    ) as RequestLogRecord;
    assert.deepEqual([upstream.decision, upstream.code], ['error', 'upstream_unavailable']);
    const fault = toRecord(outcome('e', undefined, 500), 1) as RequestLogRecord;
    assert.deepEqual([fault.decision, fault.code], ['error', 'internal_error']);
    assert.equal(toRecord({ ...outcome('f', undefined, 400), facts: undefined }, 1), undefined);
  });
});

/** A store whose record writes (one `write` transaction per batch) fail while `down` is true. */
function flaky(store: Store): { store: Store; setDown(down: boolean): void; attempts(): number } {
  let down = false;
  let attempts = 0;
  const write: Store['write'] = async (fn) => {
    attempts++;
    if (down) throw new Error('database unavailable');
    return store.write(fn);
  };
  return {
    store: new Proxy(store, { get: (target, p) => (p === 'write' ? write : Reflect.get(target, p)) }),
    setDown: (d) => {
      down = d;
    },
    attempts: () => attempts,
  };
}

function suite(label: string, url: string, skip: string | false) {
  describe(`request recorder: ${label}`, { skip }, () => {
    const clock = new ManualClock(Date.now());
    let store: Store;
    before(async () => {
      store = await openStore({ url, clock });
      await store.migrate();
    });
    after(() => store?.close());

    const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    const recorder = (s: Store, extra: Partial<ConstructorParameters<typeof RequestRecorder>[0]> = {}) =>
      new RequestRecorder({
        store: s,
        clock,
        logger,
        enabled: true,
        queueSize: 10_000,
        batchSize: 100,
        flushMs: 60_000,
        retentionDays: 30,
        accessLogSample: 0,
        ...extra,
      });
    const countOf = async (prefix: string) =>
      (await store.requestLogs.list({ since: 0, limit: 100_000 })).filter((r) =>
        r.requestId.startsWith(prefix),
      ).length;

    it('writes records in batches with every field', async () => {
      const prefix = `w${randomBytes(4).toString('hex')}`;
      const rec = recorder(store);
      for (const id of ids(prefix, 250))
        rec.record(outcome(id, allow, 200, { upstreamMs: 0.25, bytesOut: 10 }));
      assert.equal(rec.depth, 250);
      await rec.flush();
      assert.equal(rec.depth, 0);
      assert.equal(rec.written, 250);
      assert.equal(await countOf(prefix), 250);
      const [one] = (await store.requestLogs.list({ keyId: 'key_1', limit: 1000 })).filter(
        (r) => r.requestId === `${prefix}-7`,
      );
      assert.deepEqual(
        [one?.routeId, one?.status, one?.upstreamMs, one?.bytesIn, one?.bytesOut, one?.decision, one?.ip],
        ['orders', 200, 0.25, 42, 10, 'allowed', '192.0.2.7'],
      );
    });

    it('a full queue drops and counts new records without blocking', async () => {
      const prefix = `q${randomBytes(4).toString('hex')}`;
      let dropped = 0;
      const rec = recorder(store, { queueSize: 50, onDropped: (n) => (dropped += n) });
      // record() is synchronous: the counts below are settled before anything could be awaited.
      for (const id of ids(prefix, 80)) rec.record(outcome(id, allow, 200));
      assert.equal(rec.depth, 50);
      assert.equal(rec.dropped, 30);
      assert.equal(dropped, 30);
      await rec.stop(5000);
      assert.equal(await countOf(prefix), 50);
    });

    it('a database outage loses nothing that fit in the queue, and writes resume', async () => {
      const prefix = `o${randomBytes(4).toString('hex')}`;
      const f = flaky(store);
      const rec = recorder(f.store);
      f.setDown(true);
      for (const id of ids(`${prefix}-a`, 150)) rec.record(outcome(id, allow, 200));
      await rec.flush();
      assert.equal(rec.depth, 150, 'the failed batch went back to the queue');
      for (const id of ids(`${prefix}-b`, 150)) rec.record(outcome(id, allow, 200));
      await rec.flush();
      assert.equal(f.attempts(), 1, 'no retry before the backoff');
      f.setDown(false);
      clock.advance(1000);
      await rec.flush();
      assert.equal(rec.depth, 0);
      assert.equal(await countOf(prefix), 300);
      const written = (await store.requestLogs.list({ since: 0, limit: 100_000 }))
        .filter((r) => r.requestId.startsWith(prefix))
        .map((r) => r.requestId);
      assert.equal(new Set(written).size, 300, 'no record written twice');
    });

    it('stop() writes everything queued, retrying through a short outage', async () => {
      const prefix = `s${randomBytes(4).toString('hex')}`;
      const f = flaky(store);
      const rec = recorder(f.store);
      for (const id of ids(prefix, 120)) rec.record(outcome(id, allow, 200));
      f.setDown(true);
      setTimeout(() => f.setDown(false), 300);
      const lost = await rec.stop(5000);
      assert.equal(lost, 0);
      assert.equal(await countOf(prefix), 120);
    });

    it('off: nothing is queued', async () => {
      const rec = recorder(store, { enabled: false });
      rec.record(outcome('off-1', allow, 200));
      assert.equal(rec.depth, 0);
    });

    it('retention deletes records older than the limit', async () => {
      const prefix = `r${randomBytes(4).toString('hex')}`;
      const rec = recorder(store, { retentionDays: 1 });
      rec.record(outcome(`${prefix}-old`, allow, 200));
      await rec.flush();
      clock.advance(2 * 86_400_000);
      rec.record(outcome(`${prefix}-new`, allow, 200));
      await rec.flush();
      assert.ok((await rec.prune()) >= 1);
      assert.equal(await countOf(`${prefix}-old`), 0);
      assert.equal(await countOf(`${prefix}-new`), 1);
    });
  });
}

suite('SQLite', 'sqlite::memory:', false);
const pg = await postgresGate();
suite('PostgreSQL', POSTGRES_URL, pg.skip);
