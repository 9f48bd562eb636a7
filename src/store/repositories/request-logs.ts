import { CompiledQuery, type Insertable, type Kysely, type Selectable } from 'kysely';
import type {
  Database,
  RequestLogFilter,
  RequestLogRecord,
  RequestLogRepository,
  RequestLogsTable,
} from '../types.js';
import { inTransaction, type RepositoryContext } from './context.js';
import { numberOrNull } from './rows.js';

/** Rows per INSERT statement: 17 columns × 500 stays under SQLite's and PostgreSQL's parameter limits. */
const ROWS_PER_STATEMENT = 500;
/** Rows per reused SQLite INSERT (measured: 50 and 100 rows cost the same per record). */
const SQLITE_ROWS_PER_STATEMENT = 50;

type SqliteStatement = import('better-sqlite3').Statement;

/** The INSERT text per dialect adapter and row count (see #insertSql). */
const insertSqlCache = new WeakMap<object, Map<number, string>>();
/**
 * The reused inserts, per SQLite connection: repositories are built anew for each
 * `store.write`, so they cannot hold them (a batch would prepare both again).
 */
const sqliteInserts = new WeakMap<
  import('better-sqlite3').Database,
  { one: SqliteStatement; many: SqliteStatement }
>();

/** Column order of the compiled INSERT (and of its parameters). */
const COLUMNS = [
  'at',
  'request_id',
  'door',
  'route_id',
  'method',
  'path',
  'status',
  'total_ms',
  'upstream_ms',
  'client_id',
  'key_id',
  'user_id',
  'ip',
  'decision',
  'code',
  'bytes_in',
  'bytes_out',
] as const;
/** Rows fetched per round trip when streaming (a server-side cursor on PostgreSQL). */
const STREAM_CHUNK = 1000;

/**
 * Append a record's values in COLUMNS order (the compiled INSERT's parameter order). Also the
 * form records travel in to the recorder's writer thread (telemetry/record-codec.ts).
 */
export function pushRowParams(params: unknown[], r: RequestLogRecord): void {
  params.push(
    r.at,
    r.requestId,
    r.door,
    r.routeId,
    r.method,
    r.path,
    r.status,
    r.totalMs,
    r.upstreamMs,
    r.clientId,
    r.keyId,
    r.userId,
    r.ip,
    r.decision,
    r.code,
    r.bytesIn,
    r.bytesOut,
  );
}

function toRecord(row: Selectable<RequestLogsTable>): RequestLogRecord {
  return {
    at: Number(row.at),
    requestId: row.request_id,
    door: row.door,
    routeId: row.route_id,
    method: row.method,
    path: row.path,
    status: Number(row.status),
    totalMs: Number(row.total_ms),
    upstreamMs: row.upstream_ms === null ? null : Number(row.upstream_ms),
    clientId: row.client_id,
    keyId: row.key_id,
    userId: row.user_id,
    ip: row.ip,
    decision: row.decision,
    code: row.code,
    bytesIn: numberOrNull(row.bytes_in),
    bytesOut: Number(row.bytes_out),
  };
}

/** Request records (not configuration: writes never bump the config version). */
export class SqlRequestLogRepository implements RequestLogRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async insertBatch(records: readonly RequestLogRecord[]): Promise<void> {
    if (records.length === 0) return;
    // One transaction per batch (or the caller's): written whole or not at all (the recorder retries).
    const sqlite = this.#ctx.sqlite;
    if (sqlite) {
      // SQLite: two prepared statements, reused: one of SQLITE_ROWS_PER_STATEMENT rows for the
      // bulk of a batch, one of one row for the rest. Parsing a fresh multi-row statement per
      // batch cost about 9 µs a record; a reused one-row statement 3.1; a reused 50-row one 2.1
      // (measured, with the three indexes). Same connection, so the same transaction.
      let inserts = sqliteInserts.get(sqlite);
      if (inserts === undefined) {
        inserts = {
          one: sqlite.prepare(this.#insertSql(1)),
          many: sqlite.prepare(this.#insertSql(SQLITE_ROWS_PER_STATEMENT)),
        };
        sqliteInserts.set(sqlite, inserts);
      }
      const { one, many } = inserts;
      await inTransaction(this.#ctx, async () => {
        let i = 0;
        for (; i + SQLITE_ROWS_PER_STATEMENT <= records.length; i += SQLITE_ROWS_PER_STATEMENT) {
          const params: unknown[] = [];
          for (let j = i; j < i + SQLITE_ROWS_PER_STATEMENT; j++)
            pushRowParams(params, records[j] as RequestLogRecord);
          many.run(params);
        }
        for (; i < records.length; i++) {
          const params: unknown[] = [];
          pushRowParams(params, records[i] as RequestLogRecord);
          one.run(params);
        }
      });
      return;
    }
    await inTransaction(this.#ctx, async (trx) => {
      for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
        const chunk = records.slice(i, i + ROWS_PER_STATEMENT);
        const params: unknown[] = [];
        for (const r of chunk) pushRowParams(params, r);
        await trx.executeQuery(CompiledQuery.raw(this.#insertSql(chunk.length), params));
      }
    });
  }

  /**
   * The INSERT for `rows` records, compiled by Kysely once per row count and reused: building
   * the query tree for hundreds of rows on every batch cost more CPU than writing them.
   * The parameters above follow COLUMNS, the order the statement is compiled with.
   */
  #insertSql(rows: number): string {
    // Kept per dialect (placeholders differ), not per repository: repositories are built anew
    // for every `store.write`.
    let texts = insertSqlCache.get(this.#ctx.adapter);
    if (texts === undefined) {
      texts = new Map();
      insertSqlCache.set(this.#ctx.adapter, texts);
    }
    let text = texts.get(rows);
    if (text === undefined) {
      const row = Object.fromEntries(
        COLUMNS.map((c) => [c, null]),
      ) as unknown as Insertable<RequestLogsTable>;
      text = this.#db
        .insertInto('request_logs')
        .values(Array.from({ length: rows }, () => row))
        .compile().sql;
      texts.set(rows, text);
    }
    return text;
  }

  #filtered(filter: RequestLogFilter) {
    let query = this.#db.selectFrom('request_logs');
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
    if (filter.routeId !== undefined) query = query.where('route_id', '=', filter.routeId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.decision !== undefined) query = query.where('decision', '=', filter.decision);
    if (filter.door !== undefined) query = query.where('door', '=', filter.door);
    if (filter.code !== undefined) query = query.where('code', '=', filter.code);
    if (filter.ip !== undefined) query = query.where('ip', '=', filter.ip);
    return query;
  }

  async list(filter: RequestLogFilter = {}): Promise<RequestLogRecord[]> {
    const rows = await this.#filtered(filter)
      .selectAll()
      .orderBy('at', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }

  async *stream(filter: RequestLogFilter = {}): AsyncIterable<RequestLogRecord> {
    const rows = this.#filtered(filter).selectAll().orderBy('at').stream(STREAM_CHUNK);
    for await (const row of rows) yield toRecord(row);
  }

  async count(filter: RequestLogFilter = {}): Promise<number> {
    const row = await this.#filtered(filter)
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async prune(before: number): Promise<number> {
    const result = await this.#db.deleteFrom('request_logs').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
