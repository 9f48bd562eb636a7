import { type Kysely, type Selectable, sql } from 'kysely';
import type { Database, GrantRecord, GrantRepository, GrantsTable } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';
import { checkPageLimit, fromJson, toJson, withClient } from './rows.js';

function toRecord(row: Selectable<GrantsTable>): GrantRecord {
  return {
    clientId: row.client_id,
    routeId: row.route_id,
    methods: fromJson<string[]>(row.methods),
    createdAt: Number(row.created_at),
  };
}

/**
 * Which client may call which route. A grant references its client (removed with it) but not
 * the route: routes are replaced wholesale by declarative apply, and a grant to an absent
 * route grants nothing.
 */
export class SqlGrantRepository implements GrantRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(filter: { clientId?: string; routeId?: string } = {}): Promise<GrantRecord[]> {
    let query = this.#db.selectFrom('grants').selectAll();
    if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
    if (filter.routeId !== undefined) query = query.where('route_id', '=', filter.routeId);
    const rows = await query
      .orderBy(this.#ctx.adapter.binaryOrder('client_id'))
      .orderBy(this.#ctx.adapter.binaryOrder('route_id'))
      .execute();
    return rows.map(toRecord);
  }

  async page(options: Parameters<GrantRepository['page']>[0]): Promise<GrantRecord[]> {
    const { clientId, routeId, after, limit } = options;
    checkPageLimit(limit);
    const byteWise = (column: string) => this.#ctx.adapter.binaryOrder(column);
    let query = this.#db.selectFrom('grants').selectAll();
    if (clientId !== undefined) query = query.where('client_id', '=', clientId);
    if (routeId !== undefined) query = query.where('route_id', '=', routeId);
    if (after !== undefined) {
      // A row-value comparison in the ORDER BY's own collations, so the index starts its range
      // scan at the cursor.
      query = query.where(
        sql<boolean>`(${byteWise('client_id')}, ${byteWise('route_id')}) > (${after.clientId}, ${after.routeId})`,
      );
    }
    const rows = await query
      .orderBy(byteWise('client_id'))
      .orderBy(byteWise('route_id'))
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  upsert(grant: { clientId: string; routeId: string; methods: string[] }): Promise<GrantRecord> {
    return applyChange(this.#ctx, (db) =>
      withClient(this.#ctx, db, grant.clientId, async () => {
        const methods = toJson(grant.methods);
        // Replacing keeps the original createdAt: only the methods change.
        const row = await db
          .insertInto('grants')
          .values({
            client_id: grant.clientId,
            route_id: grant.routeId,
            methods,
            created_at: this.#ctx.clock.now(),
          })
          .onConflict((oc) => oc.columns(['client_id', 'route_id']).doUpdateSet({ methods }))
          .returningAll()
          .executeTakeFirstOrThrow();
        return { changed: true, value: toRecord(row) };
      }),
    );
  }

  remove(clientId: string, routeId: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db
        .deleteFrom('grants')
        .where('client_id', '=', clientId)
        .where('route_id', '=', routeId)
        .executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
