/**
 * The dashboard's figures from the minute roll-ups (`usage.stats`), on SQLite (file and
 * :memory:) and PostgreSQL: requests written through the recorder's write path (`toRecord`,
 * then `writeBatch`: records and roll-ups in one transaction), read back and compared with
 * what a scan of the same records gives, computed here independently (per minute by the
 * recorder's decision, the latency histogram by bound, the ranked lists in byte order).
 * Equal histograms mean the same percentiles as the former scan of the records. Also: filters,
 * windows with empty minutes, and migration 0009 on a database that already holds roll-ups.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Migrator, sql } from 'kysely';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { deny } from '../../src/pipeline/decision.js';
import type { Allow, RequestFacts } from '../../src/pipeline/types.js';
import { postgresAdapter, sqliteAdapter } from '../../src/store/dialect.js';
import { migrationsFor } from '../../src/store/migrations/index.js';
import { openStore } from '../../src/store/open-store.js';
import { LATENCY_COLUMNS } from '../../src/store/repositories/usage.js';
import type {
  RequestLogRecord,
  RequestStats,
  RequestStatsBucket,
  RequestStatsFilter,
  Store,
} from '../../src/store/types.js';
import { writeBatch } from '../../src/telemetry/batch-writer.js';
import { DURATION_BUCKETS_MS } from '../../src/telemetry/latency-buckets.js';
import { toRecord } from '../../src/telemetry/recorder.js';
import { POSTGRES_URL, postgresGate, uniqueName } from '../helpers/services.js';

const MIN = 60_000;
/** Minute-aligned, far from any other suite's records. */
const T0 = Date.UTC(2031, 0, 1, 12, 0);
/** Minutes of the data set; 4 and 5 stay empty. */
const MINUTES = [0, 1, 2, 3, 6, 7, 8, 9];

/** What the gateway can report, one of each path through the recorder's `toRecord`. */
const KINDS = [
  'ok',
  'ok',
  'ok',
  'ok',
  'upstream_answered_503',
  'rate_limited',
  'forbidden_route',
  'invalid_credentials',
  'no_route',
  'failsafe_closed',
  'fault',
  'upstream_unavailable',
  'upstream_timeout',
  'cut_off_mid_body',
] as const;
type Kind = (typeof KINDS)[number];
/** '-' sorts before '_' byte-wise, not in a linguistic collation. */
const KEYS = ['key_a', 'key_b', 'key-x', null] as const;
const ROUTES = ['orders', 'users', 'orders-v2'] as const;
/** Latencies on and around the bounds (toRecord keeps three decimals), and beyond the last. */
const LATENCIES = [
  0.2, 0.5, 0.501, 1, 3, 7.5, 10, 40, 99.999, 100, 250.001, 999, 2400, 10_000, 10_000.5, 25_000,
];

function outcomeOf(kind: Kind, keyId: string | null, routeId: string, totalMs: number): Outcome {
  const facts = {
    requestId: 'r',
    door: 'gateway',
    method: 'GET',
    path: '/x',
    rawHeaders: [],
    clientIp: '192.0.2.1',
    startedAt: 0,
  } as unknown as RequestFacts;
  const principal =
    keyId === null
      ? undefined
      : ({ kind: 'api_key', clientId: 'acme', keyId, scopes: [] } as unknown as Allow['principal']);
  const allow = { kind: 'allow', match: { route: { id: routeId } }, principal } as unknown as Allow;
  const base = { facts, upstreamMs: undefined, totalMs, bytesOut: 10, upstreamError: undefined };
  switch (kind) {
    case 'ok':
      return { ...base, decision: allow, status: 200 };
    case 'upstream_answered_503':
      return { ...base, decision: allow, status: 503 };
    case 'fault':
      return { ...base, decision: undefined, status: 500 };
    case 'upstream_unavailable':
      return { ...base, decision: allow, status: 502, upstreamError: 'upstream_unavailable' };
    case 'upstream_timeout':
      return { ...base, decision: allow, status: 504, upstreamError: 'upstream_timeout' };
    case 'cut_off_mid_body':
      // The upstream failed after its headers were relayed: forward.ts reports 499.
      return { ...base, decision: allow, status: 499, upstreamError: 'upstream_unavailable' };
    default: {
      const refusal = deny(kind);
      return {
        ...base,
        decision: {
          ...refusal,
          ...(principal ? { principal } : {}),
          ...(kind === 'no_route' ? {} : { routeId }),
        },
        status: refusal.status,
      };
    }
  }
}

/** mulberry32: a reproducible data set. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, values: readonly T[]): T {
  return values[Math.floor(rnd() * values.length)] as T;
}

function dataSet(seed: number, count: number): RequestLogRecord[] {
  const rnd = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const kind = i < KINDS.length ? KINDS[i] : pick(rnd, KINDS);
    const at = T0 + pick(rnd, MINUTES) * MIN + Math.floor(rnd() * MIN);
    const totalMs = rnd() < 0.5 ? pick(rnd, LATENCIES) : Math.round(rnd() * rnd() * 3_000_000) / 1000;
    const record = toRecord(outcomeOf(kind as Kind, pick(rnd, KEYS), pick(rnd, ROUTES), totalMs), at);
    assert.ok(record);
    return record;
  });
}

/** The figures a scan of the records gives: the recorder's own decision, bound by bound. */
function scan(records: readonly RequestLogRecord[], filter: RequestStatsFilter, top: number): RequestStats {
  const chosen = records.filter((r) => {
    const minute = r.at - (r.at % MIN);
    return (
      minute >= filter.since &&
      minute < filter.until &&
      (filter.keyId === undefined || r.keyId === filter.keyId) &&
      (filter.routeId === undefined || r.routeId === filter.routeId)
    );
  });
  const minutes = new Map<number, RequestStatsBucket>();
  for (const r of chosen) {
    const at = r.at - (r.at % MIN);
    let bucket = minutes.get(at);
    if (!bucket) {
      bucket = { at, allowed: 0, denied: 0, errored: 0, latency: [...DURATION_BUCKETS_MS, 0].map(() => 0) };
      minutes.set(at, bucket);
    }
    if (r.decision === 'allowed') bucket.allowed++;
    else if (r.decision === 'denied') bucket.denied++;
    else bucket.errored++;
    const slot = DURATION_BUCKETS_MS.findIndex((bound) => r.totalMs <= bound);
    const i = slot === -1 ? DURATION_BUCKETS_MS.length : slot;
    bucket.latency[i] = (bucket.latency[i] ?? 0) + 1;
  }
  const rank = (values: Array<string | null>) => {
    const counts = new Map<string, number>();
    for (const v of values) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
    return [...counts]
      .sort(([a, x], [b, y]) => y - x || Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .slice(0, top);
  };
  return {
    buckets: [...minutes.values()].sort((a, b) => a.at - b.at),
    deniedByCode: rank(chosen.filter((r) => r.decision === 'denied').map((r) => r.code)).map(
      ([code, count]) => ({ code, count }),
    ),
    topKeys: rank(chosen.map((r) => r.keyId)).map(([keyId, count]) => ({ keyId, count })),
    topRoutes: rank(chosen.map((r) => r.routeId)).map(([routeId, count]) => ({ routeId, count })),
  };
}

/** Written in batches of assorted sizes, out of time order, as several flushes would. */
async function record(store: Store, records: readonly RequestLogRecord[], seed: number): Promise<void> {
  const rnd = random(seed);
  const shuffled = [...records];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as RequestLogRecord, shuffled[i] as RequestLogRecord];
  }
  for (let i = 0; i < shuffled.length; ) {
    const size = 1 + Math.floor(rnd() * 400);
    await writeBatch(store, shuffled.slice(i, i + size));
    i += size;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-usage-stats-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const pg = await postgresGate();
const schemas: string[] = [];
after(async () => {
  if (pg.skip || schemas.length === 0) return;
  const admin = await openStore({ url: POSTGRES_URL });
  try {
    for (const schema of schemas)
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
  } finally {
    await admin.close();
  }
});

function pgSchema(): string {
  const schema = uniqueName('pc_usage_stats');
  schemas.push(schema);
  return schema;
}

const DIALECTS: Array<{ label: string; open: () => Promise<Store>; skip: string | false }> = [
  {
    label: 'SQLite file',
    open: () => openStore({ url: `sqlite:${join(dir, `${uniqueName('u')}.db`)}` }),
    skip: false,
  },
  { label: 'SQLite :memory:', open: () => openStore({ url: 'sqlite::memory:' }), skip: false },
  { label: 'PostgreSQL', open: () => openStore({ url: POSTGRES_URL, schema: pgSchema() }), skip: pg.skip },
];

describe('latency histogram columns', () => {
  it('name the bounds of DURATION_BUCKETS_MS, in order, and one beyond the last', () => {
    const name = (ms: number) => String(ms).replace('.', '_');
    assert.deepEqual(LATENCY_COLUMNS, [
      ...DURATION_BUCKETS_MS.map((bound) => `ms_le_${name(bound)}`),
      `ms_gt_${name(DURATION_BUCKETS_MS.at(-1) as number)}`,
    ]);
  });
});

for (const { label, open, skip } of DIALECTS) {
  describe(`usage.stats from minute roll-ups: ${label}`, { skip }, () => {
    const records = dataSet(7, 3000);
    const window = { since: T0, until: T0 + 10 * MIN };
    let store: Store;

    const check = async (filter: RequestStatsFilter, top = 10) =>
      assert.deepEqual(await store.usage.stats(filter, { top }), scan(records, filter, top));

    it('counts each minute by the recorder’s decision, with the records’ latency histogram', async () => {
      store = await open();
      await store.migrate();
      await record(store, records, 11);
      const stats = await store.usage.stats(window, { top: 10 });
      assert.deepEqual(stats, scan(records, window, 10));
      // Every kind of outcome is in the data set, and the empty minutes are absent.
      assert.deepEqual(
        stats.buckets.map((b) => (b.at - T0) / MIN),
        MINUTES,
      );
      const sum = (f: (b: RequestStatsBucket) => number) => stats.buckets.reduce((n, b) => n + f(b), 0);
      assert.equal(
        sum((b) => b.allowed + b.denied + b.errored),
        records.length,
      );
      assert.equal(
        sum((b) => b.latency.reduce((n, c) => n + c, 0)),
        records.length,
      );
      assert.ok(sum((b) => b.errored) > 0 && sum((b) => b.denied) > 0);
    });

    it('narrows to a key, a route, or both', async () => {
      for (const keyId of ['key_a', 'key-x', 'key_nobody']) await check({ ...window, keyId });
      for (const routeId of ['orders', 'orders-v2']) await check({ ...window, routeId });
      await check({ ...window, keyId: 'key_b', routeId: 'users' });
      const none = await store.usage.stats({ ...window, keyId: 'key_nobody' }, { top: 10 });
      assert.deepEqual(none, { buckets: [], deniedByCode: [], topKeys: [], topRoutes: [] });
    });

    it('takes the minutes starting in [since, until), empty ones included', async () => {
      await check({ since: T0 + 3 * MIN, until: T0 + 7 * MIN });
      await check({ since: T0 + 4 * MIN, until: T0 + 6 * MIN });
      await check({ since: T0 - 60 * MIN, until: T0 + 60 * MIN }, 2);
    });

    it('maps each outcome as the recorder decided it (an upstream failure cut off mid-body is errored)', async () => {
      const kinds = new Map<Kind, string>();
      for (const [i, kind] of [...new Set(KINDS)].entries()) {
        // A minute of its own: some outcomes have neither key nor route to tell them apart.
        const at = T0 + (30 + i) * MIN;
        const r = toRecord(outcomeOf(kind, 'key_map', 'mapping', 1), at);
        assert.ok(r);
        await writeBatch(store, [r]);
        kinds.set(kind, r.decision);
        const { buckets } = await store.usage.stats({ since: at, until: at + MIN }, { top: 10 });
        const decided = buckets[0]?.allowed ? 'allowed' : buckets[0]?.denied ? 'denied' : 'error';
        assert.equal(decided, r.decision, kind);
        assert.equal((buckets[0]?.allowed ?? 0) + (buckets[0]?.denied ?? 0) + (buckets[0]?.errored ?? 0), 1);
      }
      assert.equal(kinds.get('cut_off_mid_body'), 'error');
      assert.equal(kinds.get('upstream_answered_503'), 'allowed');
      assert.equal(kinds.get('failsafe_closed'), 'error');
    });

    it('refuses a ranked-list length that is not a positive integer', async () => {
      for (const top of [0, -1, 1.5, Number.NaN])
        await assert.rejects(store.usage.stats(window, { top }), /options\.top must be a positive integer/);
      await store.close();
    });
  });
}

describe('migration 0009 on roll-ups written before it', () => {
  for (const { label, open, skip } of DIALECTS.filter((d) => d.label !== 'SQLite :memory:')) {
    it(`reads old rows with zero histograms, and new requests add to them: ${label}`, { skip }, async () => {
      const store = await open();
      try {
        const adapter = store.dialect === 'sqlite' ? sqliteAdapter : postgresAdapter;
        const migrator = new Migrator({
          db: store.db,
          provider: { getMigrations: async () => migrationsFor(adapter) },
          migrationTableSchema: await adapter.migrationTableSchema(store.db),
        });
        const before = await migrator.migrateTo('0008_anomalies');
        assert.equal(before.error, undefined);
        const hour = T0 - (T0 % 3_600_000);
        await sql`
          insert into usage_rollups
            (granularity, bucket, key_id, client_id, route_id, status_class, code, requests, bytes_in, bytes_out)
          values
            ('minute', ${T0}, 'key_a', 'acme', 'orders', '2xx', '', 7, 0, 70),
            ('minute', ${T0}, 'key_a', 'acme', 'orders', '4xx', 'rate_limited', 2, 0, 0),
            ('hour', ${hour}, 'key_a', 'acme', 'orders', '2xx', '', 7, 0, 70)`.execute(store.db);

        const applied = (await store.migrate()).applied;
        assert.equal(applied[0], '0009_usage_latency');
        const zeros = LATENCY_COLUMNS.map(() => 0);
        const old = await store.usage.rows({ granularity: 'minute', since: T0, until: T0 + MIN });
        assert.deepEqual(old.map((r) => [r.code, r.requests, r.latency]).sort(), [
          ['', 7, zeros],
          ['rate_limited', 2, zeros],
        ]);
        assert.deepEqual(await store.usage.stats({ since: T0, until: T0 + MIN }, { top: 10 }), {
          buckets: [{ at: T0, allowed: 7, denied: 2, errored: 0, latency: zeros }],
          deniedByCode: [{ code: 'rate_limited', count: 2 }],
          topKeys: [{ keyId: 'key_a', count: 9 }],
          topRoutes: [{ routeId: 'orders', count: 9 }],
        });

        // 3 ms: the slot of (2.5, 5].
        const slot = DURATION_BUCKETS_MS.indexOf(5);
        const later = toRecord(outcomeOf('ok', 'key_a', 'orders', 3), T0 + 1000);
        assert.ok(later);
        await writeBatch(store, [later]);
        const one = zeros.map((_, i) => (i === slot ? 1 : 0));
        const [stats] = (await store.usage.stats({ since: T0, until: T0 + MIN }, { top: 10 })).buckets;
        assert.deepEqual(stats, { at: T0, allowed: 8, denied: 2, errored: 0, latency: one });
        const hours = await store.usage.rows({ granularity: 'hour', since: hour, until: hour + 1 });
        assert.deepEqual(
          hours.map((r) => [r.requests, r.latency]),
          [[8, one]],
        );
      } finally {
        await store.close();
      }
    });
  }
});
