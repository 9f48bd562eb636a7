/**
 * The recorder's writer thread: opens its own connection to the store and writes the records
 * the event loop sends it (see recorder-thread.ts for the protocol). Writing is the expensive
 * part of recording — SQLite inserts run synchronously, PostgreSQL parameters are serialized in
 * JavaScript — so none of it runs on the gateway's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../core/clock.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/types.js';
import { BatchWriter, writeBatch } from './batch-writer.js';
import { decodeRecords } from './record-codec.js';
import type { FromWriter, ToWriter, WriterData } from './recorder-thread.js';

/**
 * A transaction starts at most this often. Under load the event loop hands over a chunk every
 * few milliseconds; written one by one, each chunk pays its own commit, and its own write of every
 * roll-up row and index page it touches. Waiting this long lets several chunks share them:
 * with records of 1,000 distinct keys on SQLite, 29.9 µs of CPU a record in transactions of 500
 * against 15.8 in transactions of 5,000 (bench/micro-recorder.ts; docs/telemetry.md).
 */
const WRITE_PACE_MS = 100;

const port = parentPort;
if (!port) throw new Error('recorder-worker.js runs as a worker thread');
const data = workerData as WriterData;
const send = (message: FromWriter) => port.postMessage(message);

let store: Store | undefined;
const writer = new BatchWriter({
  batchSize: data.batchSize,
  clock: systemClock,
  paceMs: WRITE_PACE_MS,
  async write(batch) {
    // Opened on first use, so an unreachable database at start is one more retried failure.
    store ??= await openStore(data.store);
    await writeBatch(store, batch);
  },
  onWritten: (count) => send({ t: 'written', count }),
  onFailed: (error, queued, retryInMs) =>
    send({
      t: 'failed',
      error: {
        message: (error as Error)?.message ?? String(error),
        code:
          (error as { code?: unknown })?.code === undefined
            ? undefined
            : String((error as { code?: unknown }).code),
      },
      queued,
      retryInMs,
    }),
  onRecovered: (after) => send({ t: 'recovered', after }),
});

const timer = setInterval(() => void writer.flush(), data.flushMs);
timer.unref();

port.on('message', (message: ToWriter) => {
  switch (message.t) {
    case 'add':
      writer.add(decodeRecords(message.values));
      writer.writeSoon();
      return;
    case 'flush':
      void writer.flush().then(() => send({ t: 'flushed', id: message.id }));
      return;
    case 'stop':
      clearInterval(timer);
      void (async () => {
        const lost = await writer.stop(message.timeoutMs);
        await store?.close().catch(() => undefined);
        send({ t: 'stopped', lost });
      })();
      return;
  }
});
