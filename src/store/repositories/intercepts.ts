import { type Kysely, type Selectable, sql } from 'kysely';
import type { DialectAdapter } from '../dialect.js';
import type {
  Database,
  InterceptPosition,
  InterceptRecord,
  InterceptRecordFilter,
  InterceptRepository,
  InterceptsTable,
} from '../types.js';
import type { RepositoryContext } from './context.js';
import { fromJson, toJson } from './rows.js';

function toRecord(row: Selectable<InterceptsTable>): InterceptRecord {
  return {
    id: row.id,
    at: Number(row.at),
    keyId: row.key_id,
    clientId: row.client_id,
    ip: row.ip,
    bound: fromJson<string[]>(row.bound),
    routeId: row.route_id,
    method: row.method,
    path: row.path,
    requestId: row.request_id,
  };
}

/** Binding violations (records, not configuration: writes do not bump the config version). */
export class SqlInterceptRepository implements InterceptRepository {
  readonly #db: Kysely<Database>;
  readonly #adapter: DialectAdapter;

  constructor(ctx: RepositoryContext) {
    this.#db = ctx.db;
    this.#adapter = ctx.adapter;
  }

  async insert(intercept: InterceptRecord): Promise<void> {
    await this.#db
      .insertInto('intercepts')
      .values({
        id: intercept.id,
        at: intercept.at,
        key_id: intercept.keyId,
        client_id: intercept.clientId,
        ip: intercept.ip,
        bound: toJson(intercept.bound),
        route_id: intercept.routeId,
        method: intercept.method,
        path: intercept.path,
        request_id: intercept.requestId,
      })
      .execute();
  }

  /** The filter's conditions, shared by list, stream and count. */
  #filtered(filter: InterceptRecordFilter) {
    let query = this.#db.selectFrom('intercepts');
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.routeId !== undefined) query = query.where('route_id', '=', filter.routeId);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    return query;
  }

  async *stream(filter: InterceptRecordFilter = {}): AsyncIterable<InterceptRecord> {
    const rows = this.#filtered(filter).selectAll().orderBy('at').stream(1000);
    for await (const row of rows) yield toRecord(row);
  }

  async count(filter: InterceptRecordFilter = {}): Promise<number> {
    const row = await this.#filtered(filter)
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async prune(before: number): Promise<number> {
    const result = await this.#db.deleteFrom('intercepts').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async list(
    filter: InterceptRecordFilter & { before?: InterceptPosition; limit?: number } = {},
  ): Promise<InterceptRecord[]> {
    const id = this.#adapter.binaryOrder('id');
    let query = this.#filtered(filter).selectAll();
    const { before } = filter;
    if (before !== undefined) {
      // `at <= …` alone lets the time index start at the cursor; the row value then drops the
      // cursor's millisecond up to and including the cursor row, in the ORDER BY's collation.
      query = query
        .where('at', '<=', before.at)
        .where(sql<boolean>`(${sql.ref('at')}, ${id}) < (${before.at}, ${before.id})`);
    }
    const rows = await query
      .orderBy('at', 'desc')
      .orderBy(id, 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}
