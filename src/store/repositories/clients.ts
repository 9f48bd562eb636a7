import { type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type { ClientRecord, ClientRepository, ClientsTable, Database } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';
import { checkPageLimit, fromJson, mapUniqueViolation, toJson } from './rows.js';

function toRecord(row: Selectable<ClientsTable>): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    statusReason: row.status_reason,
    metadata: fromJson<Record<string, string>>(row.metadata),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export class SqlClientRepository implements ClientRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.#db
      .selectFrom('clients')
      .selectAll()
      .orderBy(this.#ctx.adapter.binaryOrder('id'))
      .execute();
    return rows.map(toRecord);
  }

  async page(options: { after?: string; limit: number }): Promise<ClientRecord[]> {
    const { after, limit } = options;
    checkPageLimit(limit);
    const byteWise = this.#ctx.adapter.binaryOrder('id');
    let query = this.#db.selectFrom('clients').selectAll();
    if (after !== undefined) query = query.where(sql<boolean>`${byteWise} > ${after}`);
    const rows = await query.orderBy(byteWise).limit(limit).execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<ClientRecord | undefined> {
    const row = await this.#db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  insert(client: { id: string; name: string; metadata: Record<string, string> }): Promise<ClientRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      // ON CONFLICT DO NOTHING: a raised error would abort a surrounding PostgreSQL transaction.
      const row = await mapUniqueViolation(
        this.#ctx,
        () =>
          db
            .insertInto('clients')
            .values({
              id: client.id,
              name: client.name,
              status: 'active',
              status_reason: null,
              metadata: toJson(client.metadata),
              created_at: now,
              updated_at: now,
            })
            .onConflict((oc) => oc.column('id').doNothing())
            .returningAll()
            .executeTakeFirst(),
        () => new ConflictError('client', client.id),
      );
      if (!row) throw new ConflictError('client', client.id);
      return { changed: true, value: toRecord(row) };
    });
  }

  update(
    id: string,
    patch: Partial<Pick<ClientRecord, 'name' | 'metadata' | 'status' | 'statusReason'>>,
  ): Promise<ClientRecord> {
    return applyChange(this.#ctx, async (db) => {
      const values: Updateable<ClientsTable> = {};
      if (patch.name !== undefined) values.name = patch.name;
      if (patch.metadata !== undefined) values.metadata = toJson(patch.metadata);
      if (patch.status !== undefined) values.status = patch.status;
      if (patch.statusReason !== undefined) values.status_reason = patch.statusReason;
      if (Object.keys(values).length === 0) {
        // Nothing to change: not a configuration change, but the client must exist.
        const row = await db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new NotFoundError('client', id);
        return { changed: false, value: toRecord(row) };
      }
      const row = await db
        .updateTable('clients')
        .set({ ...values, updated_at: this.#ctx.clock.now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new NotFoundError('client', id);
      return { changed: true, value: toRecord(row) };
    });
  }

  remove(id: string): Promise<boolean> {
    // Keys (and their secrets), grants and HMAC secrets go with it: ON DELETE CASCADE, in the
    // same statement and so in the same transaction as the version bump.
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('clients').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
