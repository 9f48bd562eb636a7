/**
 * Exports: CSV/NDJSON formatting (escaping, formula injection), the CLI export with filters,
 * intercepts, and streaming with bounded memory — a 10× larger table must not need 10× the
 * memory (SQLite, and the PostgreSQL cursor when available).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.js';
import type { RequestLogRecord, Store } from '../../src/store/types.js';
import { csvCell } from '../../src/telemetry/export.js';
import { runCli } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresGate } from '../helpers/services.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function record(i: number, extra: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    at: 1_700_000_000_000 + i,
    requestId: `req-${i}-${'x'.repeat(40)}`,
    door: 'gateway',
    routeId: i % 2 ? 'orders' : 'users',
    method: 'GET',
    path: `/v1/orders/${i}/${'p'.repeat(60)}`,
    status: i % 10 === 0 ? 429 : 200,
    totalMs: 1.5,
    upstreamMs: 1,
    clientId: 'acme',
    keyId: `key_${i % 7}`,
    userId: null,
    ip: '192.0.2.1',
    decision: i % 10 === 0 ? 'denied' : 'allowed',
    code: i % 10 === 0 ? 'rate_limited' : null,
    bytesIn: null,
    bytesOut: 100,
    ...extra,
  };
}

async function fill(store: Store, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i += 5000) {
    await store.requestLogs.insertBatch(
      Array.from({ length: Math.min(5000, from + count - i) }, (_, k) => record(i + k)),
    );
  }
}

function exportInChild(
  target: { url: string; schema?: string },
  format: 'csv' | 'ndjson',
): Promise<{ maxRssKiB: number; rows: number }> {
  const args = [
    fileURLToPath(new URL('./export-child.js', import.meta.url)),
    target.url,
    join(dir, `out.${format}`),
    format,
  ];
  if (target.schema) args.push(target.schema);
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`export child exited ${code}`)),
    ),
  );
}

describe('export formats', () => {
  it('CSV cells are quoted when needed and never start a formula', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('line\nbreak'), '"line\nbreak"');
    assert.equal(csvCell('=HYPERLINK("http://evil")'), `"'=HYPERLINK(""http://evil"")"`);
    for (const start of ['+', '-', '@', '\t'])
      assert.equal(csvCell(`${start}cmd`).replaceAll('"', '').startsWith(`'${start}`), true);
    assert.equal(csvCell(-5), '-5', 'numbers are numbers');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(['a', 'b']), '"[""a"",""b""]"');
  });
});

describe('portcullis logs export', () => {
  it('exports every matching record as NDJSON or CSV, and intercepts too', async () => {
    const work = mkdtempSync(join(dir, 'cli-'));
    const store = await openStore({ url: `sqlite:${join(work, 'data', 'portcullis.db')}` });
    await store.migrate();
    await fill(store, 1234);
    await store.intercepts.insert({
      id: 'icp_1',
      at: 1,
      keyId: 'key_1',
      clientId: null,
      ip: '=cmd',
      bound: ['10.0.0.1/32'],
      routeId: null,
      method: 'GET',
      path: '/',
      requestId: 'r',
    });
    await store.close();
    const nd = await runCli(['logs', 'export', '--format', 'ndjson'], { cwd: work });
    assert.equal(nd.code, 0, nd.stderr);
    const lines = nd.stdout.trim().split('\n');
    assert.equal(lines.length, 1234);
    assert.equal((JSON.parse(lines[0] as string) as { requestId: string }).requestId, record(0).requestId);
    const csvFile = join(work, 'denied.csv');
    const csv = await runCli(['logs', 'export', '--format', 'csv', '--decision', 'denied', '-o', csvFile], {
      cwd: work,
    });
    assert.equal(csv.code, 0, csv.stderr);
    const rows = readFileSync(csvFile, 'utf8').trim().split('\r\n');
    assert.equal(rows[0]?.startsWith('at,requestId,door,routeId'), true);
    assert.equal(rows.length, 1 + 124);
    const icp = await runCli(['logs', 'export', '--intercepts', '--format', 'csv'], { cwd: work });
    assert.match(icp.stdout, /'=cmd/, 'formula injection defused');
    const query = await runCli(['logs', 'query', '--key', 'key_3', '--limit', '5', '--json'], { cwd: work });
    assert.deepEqual(
      (JSON.parse(query.stdout) as Array<{ keyId: string }>).map((r) => r.keyId),
      Array(5).fill('key_3'),
    );
    const bad = await runCli(['logs', 'export', '--format', 'xml'], { cwd: work });
    assert.equal(bad.code, 2);
  });
});

function memorySuite(
  label: string,
  target: { url: string; schema?: string },
  skip: string | false,
  small: number,
  large: number,
) {
  describe(`export memory: ${label}`, { skip }, () => {
    it(`streams: ${large} rows need about the memory of ${small}`, async () => {
      const store = await openStore(target);
      await store.migrate();
      await fill(store, small);
      const few = await exportInChild(target, 'csv');
      await fill(store, large - small, small);
      const many = await exportInChild(target, 'ndjson');
      if (target.schema) await sql.raw(`drop schema "${target.schema}" cascade`).execute(store.db);
      await store.close();
      process.stderr.write(
        `[export memory ${label}] ${small} rows: ${(few.maxRssKiB / 1024).toFixed(1)} MiB peak; ${large} rows: ${(many.maxRssKiB / 1024).toFixed(1)} MiB peak\n`,
      );
      assert.deepEqual([few.rows, many.rows], [small, large]);
      const growthMiB = (many.maxRssKiB - few.maxRssKiB) / 1024;
      // The table's rows are ~250 bytes each: loading them all would add (large-small)×~1 KiB of JS objects.
      assert.ok(
        growthMiB < 40,
        `peak memory grew by ${growthMiB.toFixed(1)} MiB for ${large - small} more rows`,
      );
    });
  });
}

memorySuite('SQLite', { url: `sqlite:${join(dir, 'big.db')}` }, false, 20_000, 300_000);
const pg = await postgresGate();
memorySuite(
  'PostgreSQL',
  // A schema of its own, so the row count is this test's alone.
  { url: POSTGRES_URL, schema: `export_${Date.now()}` },
  pg.skip,
  10_000,
  100_000,
);
