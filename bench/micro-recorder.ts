/**
 * Micro-benchmark (not run by CI; timed figures do not belong in unit tests): the CPU a request
 * record costs the recorder's writer (insert with its indexes, plus the usage roll-ups it adds,
 * in one transaction: writeBatch), by the number of distinct keys and clients the records carry
 * and by the records per transaction. CPU time of this process, so waiting on the disk is not
 * counted; each configuration writes into a fresh SQLite file in a temporary directory.
 *
 *   npm run build && node dist/bench/micro-recorder.js [--records 50000] [--database-url postgres://…]
 *
 * With --database-url, PostgreSQL is measured instead (in a schema of its own, dropped after):
 * then only this process's share is counted, not the server's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openStore } from '../src/store/open-store.js';
import type { RequestLogRecord, Store } from '../src/store/types.js';
import { writeBatch } from '../src/telemetry/batch-writer.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '50000' },
    'database-url': { type: 'string' },
  },
});
const RECORDS = Number(values.records);
const KEY_COUNTS = [0, 1, 1_000, 100_000];
const TRANSACTION_SIZES = [500, 5_000];

function makeRecords(count: number, keys: number, startAt: number): RequestLogRecord[] {
  return Array.from({ length: count }, (_, n) => ({
    // Two records a millisecond, in order: as a gateway at 2,000 req/s writes them.
    at: startAt + (n >> 1),
    requestId: `bench-${n}`,
    door: 'gateway',
    routeId: 'bench',
    method: 'GET',
    path: '/hello',
    status: 200,
    totalMs: 1 + (n % 7) / 10,
    upstreamMs: 0.8,
    // Spread like independent callers: key and client of a record are unrelated.
    clientId: keys === 0 ? null : `client-${(n * 7919) % keys}`,
    keyId: keys === 0 ? null : `key-${n % keys}`,
    userId: null,
    ip: '127.0.0.1',
    decision: 'allowed',
    code: null,
    bytesIn: null,
    bytesOut: 67,
  }));
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function measure(store: Store, keys: number, perTransaction: number, startAt: number): Promise<number> {
  // A first tenth unmeasured: statements prepared, pages of the young tables in cache.
  const warm = makeRecords(RECORDS / 10, keys, startAt);
  for (let i = 0; i < warm.length; i += perTransaction)
    await writeBatch(store, warm.slice(i, i + perTransaction));
  const records = makeRecords(RECORDS, keys, startAt + RECORDS);
  const started = cpuMs();
  for (let i = 0; i < records.length; i += perTransaction)
    await writeBatch(store, records.slice(i, i + perTransaction));
  return ((cpuMs() - started) * 1000) / records.length;
}

async function fresh(): Promise<{ store: Store; dispose(): Promise<void> }> {
  const url = values['database-url'];
  if (url) {
    const schema = `bench_recorder_${process.pid}_${Date.now().toString(36)}`;
    const store = await openStore({ url, schema });
    await store.migrate();
    return {
      store,
      async dispose() {
        await sql.raw(`drop schema ${schema} cascade`).execute(store.db);
        await store.close();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-micro-recorder-'));
  const store = await openStore({ url: `sqlite:${join(dir, 'bench.db')}` });
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

process.stdout.write(
  `writeBatch: CPU µs a record (${values['database-url'] ? 'PostgreSQL' : 'SQLite'}, ${RECORDS} records each)\n`,
);
process.stdout.write(
  `${'distinct keys'.padEnd(14)}${TRANSACTION_SIZES.map((s) => `${s}/tx`.padStart(10)).join('')}\n`,
);
for (const keys of KEY_COUNTS) {
  const cells: string[] = [];
  for (const size of TRANSACTION_SIZES) {
    const { store, dispose } = await fresh();
    try {
      cells.push((await measure(store, keys, size, Date.UTC(2026, 0, 1))).toFixed(1).padStart(10));
    } finally {
      await dispose();
    }
  }
  process.stdout.write(`${String(keys).padEnd(14)}${cells.join('')}\n`);
}
