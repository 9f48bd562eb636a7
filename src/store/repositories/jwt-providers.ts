import type { Kysely, Selectable } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Database, JwtProviderRecord, JwtProviderRepository, JwtProvidersTable } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';
import { fromJson, mapUniqueViolation, toJson } from './rows.js';

/** Specs are stored as JSON; they were validated before being stored. */
function toRecord(row: Selectable<JwtProvidersTable>): JwtProviderRecord {
  return {
    id: row.id,
    spec: fromJson<Record<string, unknown>>(row.spec),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export class SqlJwtProviderRepository implements JwtProviderRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(): Promise<JwtProviderRecord[]> {
    const rows = await this.#db
      .selectFrom('jwt_providers')
      .selectAll()
      .orderBy(this.#ctx.adapter.binaryOrder('id'))
      .execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<JwtProviderRecord | undefined> {
    const row = await this.#db
      .selectFrom('jwt_providers')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  insert(id: string, spec: Record<string, unknown>): Promise<JwtProviderRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      const row = await mapUniqueViolation(
        this.#ctx,
        () =>
          db
            .insertInto('jwt_providers')
            .values({ id, spec: toJson(spec), created_at: now, updated_at: now })
            .onConflict((oc) => oc.column('id').doNothing())
            .returningAll()
            .executeTakeFirst(),
        () => new ConflictError('jwt provider', id),
      );
      if (!row) throw new ConflictError('jwt provider', id);
      return { changed: true, value: toRecord(row) };
    });
  }

  replace(id: string, spec: Record<string, unknown>): Promise<JwtProviderRecord> {
    return applyChange(this.#ctx, async (db) => {
      const row = await db
        .updateTable('jwt_providers')
        .set({ spec: toJson(spec), updated_at: this.#ctx.clock.now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new NotFoundError('jwt provider', id);
      return { changed: true, value: toRecord(row) };
    });
  }

  remove(id: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('jwt_providers').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
