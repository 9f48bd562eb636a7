import { CompiledQuery, type Insertable, type Kysely, type RawBuilder, sql } from 'kysely';
import { errorCatalog } from '../../errors/catalog.js';
import type { DialectAdapter } from '../dialect.js';
import type {
  Database,
  RequestStats,
  RequestStatsFilter,
  RequestStatsOptions,
  UsageGranularity,
  UsageIncrement,
  UsageLatencyColumn,
  UsageRepository,
  UsageRollupsTable,
} from '../types.js';
import { inTransaction, type RepositoryContext } from './context.js';

type SqliteDatabase = import('better-sqlite3').Database;
type SqliteStatement = import('better-sqlite3').Statement;

/**
 * The latency histogram columns (migration 0009) in bound order: `UsageIncrement.latency[i]` is
 * column i. Their bounds are DURATION_BUCKETS_MS; a test keeps the names and the bounds in step.
 */
export const LATENCY_COLUMNS: readonly UsageLatencyColumn[] = Object.freeze([
  'ms_le_0_5',
  'ms_le_1',
  'ms_le_2_5',
  'ms_le_5',
  'ms_le_10',
  'ms_le_25',
  'ms_le_50',
  'ms_le_100',
  'ms_le_250',
  'ms_le_500',
  'ms_le_1000',
  'ms_le_2500',
  'ms_le_5000',
  'ms_le_10000',
  'ms_gt_10000',
] as const);

/** Rows per reused SQLite upsert (as for the request records: 50 rows cost no more than 100). */
const SQLITE_ROWS_PER_STATEMENT = 50;

/** Column order of the compiled upsert (and of its parameters, see pushRowParams). */
const COLUMNS = [
  'granularity',
  'bucket',
  'key_id',
  'client_id',
  'route_id',
  'status_class',
  'code',
  'requests',
  'bytes_in',
  'bytes_out',
  ...LATENCY_COLUMNS,
] as const;

function pushRowParams(params: unknown[], u: UsageIncrement): void {
  params.push(u.granularity, u.bucket, u.keyId, u.clientId, u.routeId, u.statusClass, u.code);
  params.push(u.requests, u.bytesIn, u.bytesOut);
  for (let i = 0; i < LATENCY_COLUMNS.length; i++) params.push(u.latency[i] ?? 0);
}

/**
 * SQLite: the upserts prepared once per connection and reused by every batch (repositories are
 * built anew for each `store.write`, so they cannot hold them). With the histogram a roll-up row
 * is 25 values, and building and parsing a fresh 500-row statement per batch cost more than
 * running it (measured, roll-ups of 200k records over 50 keys: 3.2 µs a record built per batch,
 * 1.4 reused; 1.8 built per batch before the histogram).
 */
const sqliteUpserts = new WeakMap<SqliteDatabase, { one: SqliteStatement; many: SqliteStatement }>();

/** The additive upsert of every counter: what a conflicting row already holds plus this batch's. */
const ADD_COUNTERS = Object.fromEntries(
  (['requests', 'bytes_in', 'bytes_out', ...LATENCY_COLUMNS] as const).map((column) => [
    column,
    sql<number>`${sql.ref(`usage_rollups.${column}`)} + ${sql.ref(`excluded.${column}`)}`,
  ]),
);

/** Every column's PostgreSQL type, for the arrays of the unnest() upsert. */
const POSTGRES_TYPES: Record<(typeof COLUMNS)[number], 'text' | 'bigint'> = Object.fromEntries(
  COLUMNS.map((c) => [
    c,
    c === 'granularity' ||
    c === 'key_id' ||
    c === 'client_id' ||
    c === 'route_id' ||
    c === 'status_class' ||
    c === 'code'
      ? 'text'
      : 'bigint',
  ]),
) as Record<(typeof COLUMNS)[number], 'text' | 'bigint'>;

/** The PostgreSQL upsert: rows from one array per column; the additive update of every counter. */
const POSTGRES_UNNEST_UPSERT = [
  `insert into usage_rollups (${COLUMNS.join(', ')})`,
  `select * from unnest(${COLUMNS.map((c, i) => `$${i + 1}::${POSTGRES_TYPES[c]}[]`).join(', ')})`,
  'on conflict (granularity, bucket, key_id, client_id, route_id, status_class, code) do update set',
  COLUMNS.filter((c) => POSTGRES_TYPES[c] === 'bigint' && c !== 'bucket')
    .map((c) => `${c} = usage_rollups.${c} + excluded.${c}`)
    .join(', '),
].join('\n');

/**
 * The decision of the requests of a roll-up row, as the recorder decided it (telemetry/recorder.ts
 * `toRecord`, checked case by case):
 * - allowed ⇔ code '': `rollUp` stores '' for allowed records, and toRecord gives every other
 *   record a code;
 * - errored ⇔ the code's catalog status is a 5xx. toRecord marks as errors a pipeline fault
 *   (internal_error, 500), a deny whose status is ≥ 500 (`deny()` takes the status from the
 *   catalog, so the code is a 5xx one) and an upstream failure (upstream_unavailable 502,
 *   upstream_timeout 504). The status class alone is not enough: an upstream failure after the
 *   answer started is recorded with status 499 (client closed, gateway/forward.ts), class 4xx.
 *   A 5xx class with another code also counts, for codes a later catalog might not list.
 * - denied: the rest (a deny below 500, whose status class is never 5xx).
 */
const ERROR_CODES: readonly string[] = Object.freeze(
  Object.entries(errorCatalog)
    .filter(([, entry]) => entry.status >= 500)
    .map(([code]) => code),
);
const isAllowed = sql<boolean>`${sql.ref('code')} = ''`;
const isErrored = sql<boolean>`${sql.ref('code')} <> '' and (${sql.ref('status_class')} = '5xx' or ${sql.ref('code')} in (${sql.join(ERROR_CODES)}))`;

type Count = number | string | bigint | null;
const sumIf = (condition: RawBuilder<boolean>) =>
  sql<Count>`sum(case when ${condition} then ${sql.ref('requests')} else 0 end)`;

/**
 * Usage roll-ups: additive upserts, so several instances (and retried batches, which run in the
 * same transaction as their request records) add each record exactly once.
 */
export class SqlUsageRepository implements UsageRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;
  readonly #adapter: DialectAdapter;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
    this.#adapter = ctx.adapter;
  }

  async add(increments: readonly UsageIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    const sqlite = this.#ctx.sqlite;
    if (sqlite) {
      let statements = sqliteUpserts.get(sqlite);
      if (!statements) {
        statements = {
          one: sqlite.prepare(this.#upsert(1).compile().sql),
          many: sqlite.prepare(this.#upsert(SQLITE_ROWS_PER_STATEMENT).compile().sql),
        };
        sqliteUpserts.set(sqlite, statements);
      }
      const { one, many } = statements;
      // Same connection as `db`, so the caller's transaction (or one of its own).
      await inTransaction(this.#ctx, async () => {
        let i = 0;
        for (; i + SQLITE_ROWS_PER_STATEMENT <= increments.length; i += SQLITE_ROWS_PER_STATEMENT) {
          const params: unknown[] = [];
          for (let j = i; j < i + SQLITE_ROWS_PER_STATEMENT; j++)
            pushRowParams(params, increments[j] as UsageIncrement);
          many.run(params);
        }
        for (; i < increments.length; i++) {
          const params: unknown[] = [];
          pushRowParams(params, increments[i] as UsageIncrement);
          one.run(params);
        }
      });
      return;
    }
    // PostgreSQL (in the recorder's writer thread): one statement of fixed text whatever the
    // number of rows, each column sent as one array and turned back into rows by unnest().
    // A multi-row VALUES statement had to be built and compiled per batch (25 values a row);
    // measured on roll-ups of 200k records: 9.0 µs a record that way, 5.3 with unnest.
    const columns: unknown[][] = COLUMNS.map(() => new Array(increments.length));
    increments.forEach((u, row) => {
      const values: unknown[] = [];
      pushRowParams(values, u);
      for (let c = 0; c < values.length; c++) (columns[c] as unknown[])[row] = values[c];
    });
    await this.#db.executeQuery(CompiledQuery.raw(POSTGRES_UNNEST_UPSERT, columns));
  }

  /** The additive upsert of `rows` rows, its parameters in COLUMNS order. */
  #upsert(rows: number) {
    const row = Object.fromEntries(COLUMNS.map((c) => [c, null])) as unknown as Insertable<UsageRollupsTable>;
    return this.#db
      .insertInto('usage_rollups')
      .values(Array.from({ length: rows }, () => row))
      .onConflict((oc) =>
        oc
          .columns(['granularity', 'bucket', 'key_id', 'client_id', 'route_id', 'status_class', 'code'])
          .doUpdateSet(ADD_COUNTERS),
      );
  }

  async rows(filter: {
    granularity: UsageGranularity;
    keyId?: string;
    clientId?: string;
    since: number;
    until?: number;
  }): Promise<UsageIncrement[]> {
    let query = this.#db
      .selectFrom('usage_rollups')
      .selectAll()
      .where('granularity', '=', filter.granularity)
      .where('bucket', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('bucket', '<', filter.until);
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
    const rows = await query.orderBy('bucket').execute();
    return rows.map((r) => ({
      granularity: r.granularity,
      bucket: Number(r.bucket),
      keyId: r.key_id,
      clientId: r.client_id,
      routeId: r.route_id,
      statusClass: r.status_class,
      code: r.code,
      requests: Number(r.requests),
      bytesIn: Number(r.bytes_in),
      bytesOut: Number(r.bytes_out),
      latency: LATENCY_COLUMNS.map((column) => Number(r[column])),
    }));
  }

  /**
   * Four GROUP BY queries over the minute rows of the window (never the request records): per
   * minute, the requests by decision and the summed histogram columns; and three ranked lists.
   * The rows read are bounded by minutes × combinations of key, client, route, status class
   * and code seen in them, whatever the traffic.
   */
  async stats(filter: RequestStatsFilter, options: RequestStatsOptions): Promise<RequestStats> {
    const { top } = options;
    if (!Number.isSafeInteger(top) || top <= 0)
      throw new RangeError(`options.top must be a positive integer (got ${top})`);
    const minutes = () => {
      let query = this.#db
        .selectFrom('usage_rollups')
        .where('granularity', '=', 'minute')
        .where('bucket', '>=', filter.since)
        .where('bucket', '<', filter.until);
      if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
      if (filter.routeId !== undefined) query = query.where('route_id', '=', filter.routeId);
      return query;
    };

    const grouped = minutes()
      .select((eb) => [
        'bucket',
        eb.fn.sum<Count>('requests').as('requests'),
        sumIf(isAllowed).as('allowed'),
        sumIf(isErrored).as('errored'),
        ...LATENCY_COLUMNS.map((column) => eb.fn.sum<Count>(column).as(column)),
      ])
      .groupBy('bucket')
      .orderBy('bucket')
      .execute();

    const ranked = (column: 'code' | 'key_id' | 'route_id', deniedOnly = false) => {
      let query = minutes().where(column, '<>', '');
      if (deniedOnly) query = query.where('status_class', '<>', '5xx').where('code', 'not in', ERROR_CODES);
      return query
        .select((eb) => [sql.ref<string>(column).as('id'), eb.fn.sum<Count>('requests').as('n')])
        .groupBy(column)
        .orderBy((eb) => eb.fn.sum('requests'), 'desc')
        .orderBy(this.#adapter.binaryOrder(column))
        .limit(top)
        .execute();
    };

    const [rows, codes, keys, routes] = await Promise.all([
      grouped,
      ranked('code', true),
      ranked('key_id'),
      ranked('route_id'),
    ]);
    const n = (value: Count | undefined) => Number(value ?? 0);
    return {
      buckets: rows.map((row) => {
        const allowed = n(row.allowed);
        const errored = n(row.errored);
        const cells = row as unknown as Record<UsageLatencyColumn, Count>;
        return {
          at: n(row.bucket),
          allowed,
          denied: n(row.requests) - allowed - errored,
          errored,
          latency: LATENCY_COLUMNS.map((column) => n(cells[column])),
        };
      }),
      deniedByCode: codes.map((r) => ({ code: r.id, count: n(r.n) })),
      topKeys: keys.map((r) => ({ keyId: r.id, count: n(r.n) })),
      topRoutes: routes.map((r) => ({ routeId: r.id, count: n(r.n) })),
    };
  }

  async prune(granularity: UsageGranularity, before: number): Promise<number> {
    const result = await this.#db
      .deleteFrom('usage_rollups')
      .where('granularity', '=', granularity)
      .where('bucket', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
