import { type Kysely, type Selectable, sql } from 'kysely';
import type { BlockKind, BlockRecord, BlockRepository, BlocksTable, Database } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';
import { checkPageLimit, numberOrNull } from './rows.js';

function toRecord(row: Selectable<BlocksTable>): BlockRecord {
  return {
    id: row.id,
    kind: row.kind,
    value: row.value,
    reason: row.reason,
    source: row.source,
    createdAt: Number(row.created_at),
    expiresAt: numberOrNull(row.expires_at),
  };
}

/** Blocklist entries. Every change bumps the config version, which is how instances reload. */
export class SqlBlockRepository implements BlockRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(filter: { kind?: BlockKind; activeAt?: number } = {}): Promise<BlockRecord[]> {
    let query = this.#db.selectFrom('blocks').selectAll();
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.activeAt !== undefined) {
      const at = filter.activeAt;
      query = query.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]));
    }
    const rows = await query.orderBy('created_at').orderBy(this.#ctx.adapter.binaryOrder('id')).execute();
    return rows.map(toRecord);
  }

  async page(options: Parameters<BlockRepository['page']>[0]): Promise<BlockRecord[]> {
    const { kind, source, activeAt, expiredAt, after, limit } = options;
    checkPageLimit(limit);
    const byteWise = (column: string) => this.#ctx.adapter.binaryOrder(column);
    let query = this.#db.selectFrom('blocks').selectAll();
    if (kind !== undefined) query = query.where('kind', '=', kind);
    if (source !== undefined) query = query.where('source', '=', source);
    if (activeAt !== undefined)
      query = query.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', activeAt)]));
    if (expiredAt !== undefined)
      query = query.where('expires_at', 'is not', null).where('expires_at', '<=', expiredAt);
    if (after !== undefined) {
      // A row-value comparison in the ORDER BY's own collations, so the index on
      // ([kind,] created_at, id) starts its range scan at the cursor (migration 0011).
      query = query.where(
        sql<boolean>`(${sql.ref('created_at')}, ${byteWise('id')}) > (${after.createdAt}, ${after.id})`,
      );
    }
    const rows = await query.orderBy('created_at').orderBy(byteWise('id')).limit(limit).execute();
    return rows.map(toRecord);
  }

  async countActive(at: number): Promise<number> {
    const row = await this.#db
      .selectFrom('blocks')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async get(id: string): Promise<BlockRecord | undefined> {
    const row = await this.#db.selectFrom('blocks').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async find(kind: BlockKind, value: string): Promise<BlockRecord | undefined> {
    // One row at most: (kind, value) is unique (blocks_kind_value_uq serves the lookup).
    const row = await this.#db
      .selectFrom('blocks')
      .selectAll()
      .where('kind', '=', kind)
      .where('value', '=', value)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  upsert(block: Omit<BlockRecord, 'createdAt'>): Promise<BlockRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      const row = await db
        .insertInto('blocks')
        .values({
          id: block.id,
          kind: block.kind,
          value: block.value,
          reason: block.reason,
          source: block.source,
          created_at: now,
          expires_at: block.expiresAt,
        })
        .onConflict((oc) =>
          oc.columns(['kind', 'value']).doUpdateSet({
            reason: block.reason,
            source: block.source,
            expires_at: block.expiresAt,
          }),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      return { changed: true, value: toRecord(row) };
    });
  }

  remove(id: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('blocks').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }

  removeFor(kind: BlockKind, value: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db
        .deleteFrom('blocks')
        .where('kind', '=', kind)
        .where('value', '=', value)
        .executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }

  async pruneExpired(before: number): Promise<number> {
    // Expired entries already stopped applying (instances check expiry themselves), so
    // removing them changes no decision and does not bump the config version.
    const result = await this.#db
      .deleteFrom('blocks')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
