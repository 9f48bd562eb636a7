/**
 * The request recorder writing from its worker thread, against real databases (a SQLite file,
 * and PostgreSQL when available): every field arrives, roll-ups commit with their records, the
 * queue bound holds while the thread writes, stop() writes everything, and a thread that dies
 * is replaced by writing on the event loop, its records counted as dropped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { systemClock } from '../../src/core/clock.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { deny } from '../../src/pipeline/decision.js';
import type { Allow, Decision, RequestFacts } from '../../src/pipeline/types.js';
import { type OpenStoreOptions, openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { appendRecord, decodeRecords, VALUES_PER_RECORD } from '../../src/telemetry/record-codec.js';
import { RequestRecorder, toRecord } from '../../src/telemetry/recorder.js';
import { POSTGRES_URL, postgresGate } from '../helpers/services.js';

const logger = pino({ level: 'silent' });

const allow = {
  kind: 'allow',
  match: { route: { id: 'orders' } },
  principal: { kind: 'api_key', clientId: 'acme', keyId: 'key_1', userId: 'u-1', scopes: [] },
} as unknown as Allow;

function outcome(requestId: string, decision: Decision | undefined, status: number): Outcome {
  return {
    facts: {
      requestId,
      door: 'gateway',
      method: 'POST',
      path: '/v1/orders',
      query: '',
      rawHeaders: ['Host', 'api.example.com', 'Content-Length', '42'],
      clientIp: '192.0.2.7',
      startedAt: 0,
    } as unknown as RequestFacts,
    decision,
    status,
    upstreamMs: 0.25,
    totalMs: 1.5,
    bytesOut: 10,
    upstreamError: undefined,
  };
}

describe('record codec', () => {
  it('round-trips every field, nulls included', () => {
    const records = [
      toRecord(outcome('c-1', allow, 200), 1_700_000_000_000),
      toRecord(outcome('c-2', deny('rate_limited'), 429), 1_700_000_000_001),
      toRecord(outcome('c-3', undefined, 500), 1_700_000_000_002),
    ];
    const chunk: unknown[] = [];
    for (const record of records) if (record) appendRecord(chunk, record);
    assert.equal(chunk.length, 3 * VALUES_PER_RECORD);
    assert.deepEqual(decodeRecords(chunk), records);
  });

  it('refuses a chunk that is not whole records', () => {
    assert.throws(() => decodeRecords([1, 2, 3]), /multiple of 17/);
  });
});

function suite(
  label: string,
  target: () => Promise<OpenStoreOptions & { cleanup(): Promise<void> }>,
  skip: string | false,
) {
  describe(`request recorder thread: ${label}`, { skip }, () => {
    let options: OpenStoreOptions & { cleanup(): Promise<void> };
    let store: Store;
    before(async () => {
      options = await target();
      store = await openStore(options);
      await store.migrate();
    });
    after(async () => {
      await store?.close();
      await options?.cleanup();
    });

    const recorder = (extra: Partial<ConstructorParameters<typeof RequestRecorder>[0]> = {}) =>
      new RequestRecorder({
        store,
        clock: systemClock,
        logger,
        enabled: true,
        queueSize: 10_000,
        batchSize: 100,
        flushMs: 60_000,
        retentionDays: 30,
        accessLogSample: 0,
        thread: { url: options.url, poolSize: 1, ...(options.schema ? { schema: options.schema } : {}) },
        ...extra,
      });
    const rows = async (prefix: string) =>
      (await store.requestLogs.list({ since: 0, limit: 100_000 })).filter((r) =>
        r.requestId.startsWith(prefix),
      );

    it('writes every field from the thread, with the roll-ups of the same batch', async () => {
      const prefix = `t${randomBytes(4).toString('hex')}`;
      let written = 0;
      const rec = recorder({ onWritten: (n) => (written += n) });
      for (let i = 0; i < 250; i++) rec.record(outcome(`${prefix}-${i}`, allow, 200));
      rec.record(outcome(`${prefix}-denied`, deny('rate_limited'), 429));
      assert.equal(rec.depth, 251);
      await rec.flush();
      assert.equal(rec.depth, 0);
      assert.equal(rec.written, 251);
      assert.equal(written, 251);
      const got = await rows(prefix);
      assert.equal(got.length, 251);
      const one = got.find((r) => r.requestId === `${prefix}-7`);
      assert.deepEqual(
        [one?.door, one?.routeId, one?.method, one?.path, one?.status, one?.totalMs, one?.upstreamMs],
        ['gateway', 'orders', 'POST', '/v1/orders', 200, 1.5, 0.25],
      );
      assert.deepEqual(
        [
          one?.clientId,
          one?.keyId,
          one?.userId,
          one?.ip,
          one?.decision,
          one?.code,
          one?.bytesIn,
          one?.bytesOut,
        ],
        ['acme', 'key_1', 'u-1', '192.0.2.7', 'allowed', null, 42, 10],
      );
      const denied = got.find((r) => r.requestId === `${prefix}-denied`);
      assert.deepEqual([denied?.decision, denied?.code, denied?.keyId], ['denied', 'rate_limited', null]);
      // The first records of this database: the roll-ups count exactly them.
      const usage = await store.usage.rows({ keyId: 'key_1', granularity: 'day', since: 0 });
      assert.equal(
        usage.reduce((n, row) => n + row.requests, 0),
        250,
        'roll-ups written with the records',
      );
      assert.equal(await rec.stop(5000), 0);
    });

    it('holds the queue bound while records wait for the thread, and stop() writes the rest', async () => {
      const prefix = `b${randomBytes(4).toString('hex')}`;
      const rec = recorder({ queueSize: 300 });
      for (let i = 0; i < 500; i++) rec.record(outcome(`${prefix}-${i}`, allow, 200));
      assert.equal(rec.depth, 300);
      assert.equal(rec.dropped, 200);
      assert.equal(await rec.stop(10_000), 0);
      assert.equal((await rows(prefix)).length, 300);
    });

    it('a thread that dies: what it held counts as dropped, later records are written on the event loop', async () => {
      const prefix = `d${randomBytes(4).toString('hex')}`;
      let dropped = 0;
      const rec = recorder({
        threadScript: new URL('./crashing-writer.js', import.meta.url),
        onDropped: (n) => (dropped += n),
      });
      for (let i = 0; i < 50; i++) rec.record(outcome(`${prefix}-lost-${i}`, allow, 200));
      await rec.flush(); // hands the 50 over; the thread dies on them
      const deadline = Date.now() + 5000;
      while (rec.dropped === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(rec.dropped, 50);
      assert.equal(dropped, 50);
      assert.equal(rec.depth, 0);
      for (let i = 0; i < 20; i++) rec.record(outcome(`${prefix}-kept-${i}`, allow, 200));
      assert.equal(await rec.stop(5000), 0);
      const got = await rows(prefix);
      assert.equal(got.length, 20);
      assert.ok(got.every((r) => r.requestId.includes('-kept-')));
    });
  });
}

suite(
  'SQLite file',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-recorder-'));
    return {
      url: `sqlite:${join(dir, 'records.db')}`,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  false,
);

const pg = await postgresGate();
suite(
  'PostgreSQL',
  async () => {
    const schema = `recthread_${randomBytes(4).toString('hex')}`;
    return {
      url: POSTGRES_URL,
      schema,
      async cleanup() {
        const admin = await openStore({ url: POSTGRES_URL });
        const { sql } = await import('kysely');
        await sql.raw(`drop schema if exists "${schema}" cascade`).execute(admin.db);
        await admin.close();
      },
    };
  },
  pg.skip,
);
