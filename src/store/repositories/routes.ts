import type { Kysely, Selectable } from 'kysely';
import type { RouteSpec } from '../../routing/spec.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Database, RouteRecord, RouteRepository, RoutesTable } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';

/** Specs are stored as JSON of the canonical form; they were validated before being stored. */
function toRecord(row: Pick<Selectable<RoutesTable>, 'spec' | 'created_at' | 'updated_at'>): RouteRecord {
  return {
    spec: JSON.parse(row.spec) as RouteSpec,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export class SqlRouteRepository implements RouteRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(): Promise<RouteRecord[]> {
    const rows = await this.#db
      .selectFrom('routes')
      .select(['spec', 'created_at', 'updated_at'])
      .orderBy(this.#ctx.adapter.binaryOrder('id'))
      .execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<RouteRecord | undefined> {
    const row = await this.#db
      .selectFrom('routes')
      .select(['spec', 'created_at', 'updated_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  insert(spec: RouteSpec): Promise<RouteRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      const json = JSON.stringify(spec);
      let inserted: { id: string } | undefined;
      try {
        // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL a raised
        // error aborts the surrounding transaction, so a `store.write()` that catches the
        // ConflictError could not go on; this way both dialects behave alike.
        inserted = await db
          .insertInto('routes')
          .values({
            id: spec.id,
            host: spec.host,
            path: spec.path,
            spec: json,
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id')
          .executeTakeFirst();
      } catch (error) {
        if (this.#ctx.adapter.isUniqueViolation(error)) throw new ConflictError('route', spec.id);
        throw error;
      }
      if (!inserted) throw new ConflictError('route', spec.id);
      return { changed: true, value: toRecord({ spec: json, created_at: now, updated_at: now }) };
    });
  }

  replace(spec: RouteSpec): Promise<RouteRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      const json = JSON.stringify(spec);
      const row = await db
        .updateTable('routes')
        .set({ host: spec.host, path: spec.path, spec: json, updated_at: now })
        .where('id', '=', spec.id)
        .returning('created_at')
        .executeTakeFirst();
      if (!row) throw new NotFoundError('route', spec.id);
      return { changed: true, value: toRecord({ spec: json, created_at: row.created_at, updated_at: now }) };
    });
  }

  remove(id: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('routes').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
