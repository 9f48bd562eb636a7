/**
 * BatchWriter on its own, with a recording `write`: how queued records are grouped into
 * transactions, how `writeSoon` paces them, and that a failed group goes back in order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { RequestLogRecord } from '../../src/store/types.js';
import { BatchWriter, GROUP_FACTOR, GROUP_MAX } from '../../src/telemetry/batch-writer.js';
import { eventually } from '../helpers/wait.js';

function records(from: number, n: number): RequestLogRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    at: 0,
    requestId: `r${from + i}`,
    door: 'gateway',
    routeId: 'orders',
    method: 'GET',
    path: '/orders',
    status: 200,
    totalMs: 1,
    upstreamMs: 1,
    clientId: null,
    keyId: null,
    userId: null,
    ip: '192.0.2.1',
    decision: 'allowed',
    code: null,
    bytesIn: null,
    bytesOut: 0,
  }));
}

function writerWith(options: { batchSize: number; paceMs?: number; fail?: () => boolean }) {
  const clock = new ManualClock(1_000_000);
  const writes: string[][] = [];
  const writer = new BatchWriter({
    batchSize: options.batchSize,
    ...(options.paceMs === undefined ? {} : { paceMs: options.paceMs }),
    clock,
    async write(batch) {
      if (options.fail?.()) throw new Error('database down');
      writes.push(batch.map((r) => r.requestId));
    },
  });
  return { writer, writes, clock };
}

describe('BatchWriter', () => {
  it('writes what is waiting in one transaction, up to GROUP_FACTOR batches, in order', async () => {
    const { writer, writes } = writerWith({ batchSize: 10 });
    const total = 10 * GROUP_FACTOR * 2 + 5;
    writer.add(records(0, total));
    await writer.flush();
    assert.deepEqual(
      writes.map((w) => w.length),
      [10 * GROUP_FACTOR, 10 * GROUP_FACTOR, 5],
    );
    assert.deepEqual(
      writes.flat(),
      records(0, total).map((r) => r.requestId),
    );
    assert.equal(writer.depth, 0);
  });

  it('a group never exceeds GROUP_MAX records, unless the batch size does', async () => {
    const big = writerWith({ batchSize: 2_000 });
    big.writer.add(records(0, 25_000));
    await big.writer.flush();
    assert.deepEqual(
      big.writes.map((w) => w.length),
      [GROUP_MAX, GROUP_MAX, 5_000],
    );
    const huge = writerWith({ batchSize: 12_000 });
    huge.writer.add(records(0, 13_000));
    await huge.writer.flush();
    assert.deepEqual(
      huge.writes.map((w) => w.length),
      [12_000, 1_000],
    );
  });

  it('a failed group goes back to the head of the queue and is written whole on the retry', async () => {
    let down = true;
    const { writer, writes, clock } = writerWith({ batchSize: 10, fail: () => down });
    writer.add(records(0, 30));
    await writer.flush();
    assert.equal(writes.length, 0);
    assert.equal(writer.depth, 30);
    writer.add(records(30, 5));
    down = false;
    clock.advance(60_000);
    await writer.flush();
    assert.deepEqual(writes, [records(0, 35).map((r) => r.requestId)]);
  });

  it('writeSoon writes at once when the last write is older than paceMs', async () => {
    const { writer, writes, clock } = writerWith({ batchSize: 10, paceMs: 100 });
    // The recording `write` runs synchronously up to its first await: a write started by
    // writeSoon shows at once, with no flush() that could have written the records itself.
    writer.add(records(0, 3));
    writer.writeSoon();
    assert.equal(writes.length, 1);
    await writer.flush(); // settles the running write; the queue is empty, nothing more
    clock.advance(100);
    writer.add(records(3, 3));
    writer.writeSoon();
    assert.deepEqual(
      writes.map((w) => w.length),
      [3, 3],
    );
  });

  it('writeSoon within paceMs of the last write waits, and what arrives meanwhile shares the write', async () => {
    const { writer, writes, clock } = writerWith({ batchSize: 10, paceMs: 50 });
    writer.add(records(0, 3));
    writer.writeSoon();
    await eventually(async () => assert.equal(writes.length, 1));
    clock.advance(10);
    writer.add(records(3, 3));
    writer.writeSoon();
    writer.add(records(6, 3));
    writer.writeSoon();
    assert.equal(writes.length, 1, 'held: the last write started 10 ms ago');
    assert.equal(writer.depth, 6);
    await eventually(async () => assert.equal(writes.length, 2));
    assert.deepEqual(
      writes[1],
      records(3, 6).map((r) => r.requestId),
    );
  });

  it('stop writes what a paced write was holding', async () => {
    const { writer, writes } = writerWith({ batchSize: 10, paceMs: 60_000 });
    writer.add(records(0, 2));
    writer.writeSoon();
    await writer.flush();
    // Held for a minute by the pace: only stop() can write these within the test.
    writer.add(records(2, 2));
    writer.writeSoon();
    assert.equal(writes.length, 1);
    assert.equal(writer.depth, 2);
    assert.equal(await writer.stop(1000), 0);
    assert.deepEqual(writes, [records(0, 2).map((r) => r.requestId), records(2, 2).map((r) => r.requestId)]);
  });

  it('a whole group waiting is written at once, whatever the pace', async () => {
    const { writer, writes } = writerWith({ batchSize: 10, paceMs: 60_000 });
    writer.add(records(0, 1));
    writer.writeSoon();
    await writer.flush();
    writer.add(records(1, 10 * GROUP_FACTOR - 1));
    writer.writeSoon();
    assert.equal(writes.length, 1, 'held: one short of a group');
    writer.add(records(10 * GROUP_FACTOR, 1));
    writer.writeSoon();
    assert.equal(writes.length, 2);
    assert.equal(writes[1]?.length, 10 * GROUP_FACTOR);
    await writer.stop(1000);
  });
});
