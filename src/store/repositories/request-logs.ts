import type { Kysely, Selectable } from 'kysely';
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
/** Rows fetched per round trip when streaming (a server-side cursor on PostgreSQL). */
const STREAM_CHUNK = 1000;

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
    const rows = records.map((r) => ({
      at: r.at,
      request_id: r.requestId,
      door: r.door,
      route_id: r.routeId,
      method: r.method,
      path: r.path,
      status: r.status,
      total_ms: r.totalMs,
      upstream_ms: r.upstreamMs,
      client_id: r.clientId,
      key_id: r.keyId,
      user_id: r.userId,
      ip: r.ip,
      decision: r.decision,
      code: r.code,
      bytes_in: r.bytesIn,
      bytes_out: r.bytesOut,
    }));
    // One transaction per batch (or the caller's): written whole or not at all (the recorder retries).
    await inTransaction(this.#ctx, async (trx) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        await trx
          .insertInto('request_logs')
          .values(rows.slice(i, i + ROWS_PER_STATEMENT))
          .execute();
      }
    });
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
