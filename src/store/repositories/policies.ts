import type { Kysely, Selectable } from 'kysely';
import type { PolicySpec } from '../../limits/policy.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Database, PoliciesTable, PolicyRecord, PolicyRepository } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';
import { fromJson, mapUniqueViolation, toJson } from './rows.js';

/** Specs are stored as JSON of the canonical form; they were validated before being stored. */
function toRecord(row: Selectable<PoliciesTable>): PolicyRecord {
  return {
    id: row.id,
    spec: fromJson<PolicySpec>(row.spec),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export class SqlPolicyRepository implements PolicyRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(): Promise<PolicyRecord[]> {
    const rows = await this.#db
      .selectFrom('policies')
      .selectAll()
      .orderBy(this.#ctx.adapter.binaryOrder('id'))
      .execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<PolicyRecord | undefined> {
    const row = await this.#db.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  insert(spec: PolicySpec): Promise<PolicyRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      const row = await mapUniqueViolation(
        this.#ctx,
        () =>
          db
            .insertInto('policies')
            .values({ id: spec.id, spec: toJson(spec), created_at: now, updated_at: now })
            .onConflict((oc) => oc.column('id').doNothing())
            .returningAll()
            .executeTakeFirst(),
        () => new ConflictError('policy', spec.id),
      );
      if (!row) throw new ConflictError('policy', spec.id);
      return { changed: true, value: toRecord(row) };
    });
  }

  replace(spec: PolicySpec): Promise<PolicyRecord> {
    return applyChange(this.#ctx, async (db) => {
      const row = await db
        .updateTable('policies')
        .set({ spec: toJson(spec), updated_at: this.#ctx.clock.now() })
        .where('id', '=', spec.id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new NotFoundError('policy', spec.id);
      return { changed: true, value: toRecord(row) };
    });
  }

  remove(id: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('policies').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
