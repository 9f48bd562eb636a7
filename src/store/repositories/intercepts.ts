import type { Kysely, Selectable } from 'kysely';
import type { Database, InterceptRecord, InterceptRepository, InterceptsTable } from '../types.js';
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

  constructor(ctx: RepositoryContext) {
    this.#db = ctx.db;
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

  async *stream(
    filter: { keyId?: string; since?: number; until?: number } = {},
  ): AsyncIterable<InterceptRecord> {
    let query = this.#db.selectFrom('intercepts').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    for await (const row of query.orderBy('at').stream(1000)) yield toRecord(row);
  }

  async count(
    filter: { keyId?: string; routeId?: string; since?: number; until?: number } = {},
  ): Promise<number> {
    let query = this.#db.selectFrom('intercepts');
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.routeId !== undefined) query = query.where('route_id', '=', filter.routeId);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    const row = await query
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async prune(before: number): Promise<number> {
    const result = await this.#db.deleteFrom('intercepts').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async list(
    filter: { keyId?: string; since?: number; until?: number; limit?: number } = {},
  ): Promise<InterceptRecord[]> {
    let query = this.#db.selectFrom('intercepts').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    const rows = await query
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}
