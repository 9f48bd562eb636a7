import { type Kysely, type Selectable, sql } from 'kysely';
import type {
  ArchivedBindingRecord,
  BindingPosition,
  BindingRecord,
  BindingRepository,
  Database,
  KeyBindingsArchiveTable,
  KeyBindingsTable,
} from '../types.js';
import { applyChange, inTransaction, type RepositoryContext } from './context.js';
import { checkPageLimit, numberOrNull } from './rows.js';

function toRecord(row: Selectable<KeyBindingsTable>): BindingRecord {
  return {
    id: row.id,
    keyId: row.key_id,
    slot: numberOrNull(row.slot),
    cidr: row.cidr,
    source: row.source,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
  };
}

function toArchived(row: Selectable<KeyBindingsArchiveTable>): ArchivedBindingRecord {
  return {
    id: row.id,
    keyId: row.key_id,
    cidr: row.cidr,
    source: row.source,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    archivedAt: Number(row.archived_at),
  };
}

/** Bindings moved to the archive per statement. */
const ARCHIVE_CHUNK = 500;

/**
 * Key-to-IP bindings. First-use claims are request-path bookkeeping (no config-version bump:
 * other instances find out through the unique indexes when they claim themselves); admin
 * changes and archiving are configuration changes (every instance drops its binding cache).
 */
export class SqlBindingRepository implements BindingRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(filter: { keyId?: string } = {}): Promise<BindingRecord[]> {
    let query = this.#db.selectFrom('key_bindings').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    const rows = await query
      .orderBy(this.#ctx.adapter.binaryOrder('key_id'))
      .orderBy('created_at')
      .orderBy(this.#ctx.adapter.binaryOrder('id'))
      .execute();
    return rows.map(toRecord);
  }

  async page(options: { keyId?: string; after?: BindingPosition; limit: number }): Promise<BindingRecord[]> {
    const { keyId, after, limit } = options;
    checkPageLimit(limit);
    const byteWise = (column: string) => this.#ctx.adapter.binaryOrder(column);
    let query = this.#db.selectFrom('key_bindings').selectAll();
    if (keyId !== undefined) query = query.where('key_id', '=', keyId);
    if (after !== undefined) {
      // One row-value comparison in the ORDER BY's own collations: with an index on
      // (key_id, created_at, id) in those collations, both databases start the range scan
      // exactly at the cursor instead of reading and dropping the rows before it.
      query = query.where(
        sql<boolean>`(${byteWise('key_id')}, ${sql.ref('created_at')}, ${byteWise('id')}) > (${after.keyId}, ${after.createdAt}, ${after.id})`,
      );
    }
    const rows = await query
      .orderBy(byteWise('key_id'))
      .orderBy('created_at')
      .orderBy(byteWise('id'))
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  async claim(binding: BindingRecord): Promise<boolean> {
    const row = await this.#db
      .insertInto('key_bindings')
      .values({
        id: binding.id,
        key_id: binding.keyId,
        slot: binding.slot,
        cidr: binding.cidr,
        source: binding.source,
        created_at: binding.createdAt,
        last_seen_at: binding.lastSeenAt,
      })
      // Either unique index may refuse: the slot was taken by another first request, or this
      // CIDR is already bound (a concurrent request from the same address).
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  replace(
    keyId: string,
    cidrs: readonly string[],
    at: number,
    ids: readonly string[],
  ): Promise<BindingRecord[]> {
    return applyChange(this.#ctx, async (db) => {
      await db.deleteFrom('key_bindings').where('key_id', '=', keyId).execute();
      const records: BindingRecord[] = cidrs.map((cidr, slot) => ({
        id: ids[slot] as string,
        keyId,
        slot,
        cidr,
        source: 'admin',
        createdAt: at,
        lastSeenAt: at,
      }));
      if (records.length > 0) {
        await db
          .insertInto('key_bindings')
          .values(
            records.map((r) => ({
              id: r.id,
              key_id: r.keyId,
              slot: r.slot,
              cidr: r.cidr,
              source: r.source,
              created_at: r.createdAt,
              last_seen_at: r.lastSeenAt,
            })),
          )
          .execute();
      }
      return { changed: true, value: records };
    });
  }

  removeAll(keyId: string): Promise<number> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('key_bindings').where('key_id', '=', keyId).executeTakeFirst();
      const removed = Number(result.numDeletedRows);
      return { changed: removed > 0, value: removed };
    });
  }

  async touch(entries: ReadonlyArray<{ id: string; lastSeenAt: number }>): Promise<void> {
    if (entries.length === 0) return;
    await inTransaction(this.#ctx, async (db) => {
      for (const entry of entries) {
        await db
          .updateTable('key_bindings')
          .set({ last_seen_at: entry.lastSeenAt })
          .where('id', '=', entry.id)
          .where('last_seen_at', '<', entry.lastSeenAt)
          .execute();
      }
    });
  }

  async archiveUnusedSince(before: number, at: number): Promise<number> {
    // In chunks: one statement per 500 rows stays under both databases' parameter limits, and
    // each chunk is its own change (caches drop the bindings as they go).
    let moved = 0;
    for (;;) {
      const chunk = await this.#archiveChunk(before, at);
      moved += chunk;
      if (chunk < ARCHIVE_CHUNK) return moved;
    }
  }

  #archiveChunk(before: number, at: number): Promise<number> {
    return applyChange(this.#ctx, async (db) => {
      const stale = await db
        .selectFrom('key_bindings')
        .selectAll()
        .where('last_seen_at', '<', before)
        .orderBy('id')
        .limit(ARCHIVE_CHUNK)
        .execute();
      if (stale.length === 0) return { changed: false, value: 0 };
      await db
        .insertInto('key_bindings_archive')
        .values(
          stale.map((row) => ({
            id: row.id,
            key_id: row.key_id,
            cidr: row.cidr,
            source: row.source,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            archived_at: at,
          })),
        )
        // Two instances archiving at once: the second finds the rows already moved.
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      await db
        .deleteFrom('key_bindings')
        .where(
          'id',
          'in',
          stale.map((row) => row.id),
        )
        // Used again since it was read (a concurrent touch): it stays bound.
        .where('last_seen_at', '<', before)
        .execute();
      // The number selected (not deleted): a concurrent archiver may have taken some, and
      // counting what we saw keeps the loop going until nothing stale is left.
      return { changed: true, value: stale.length };
    });
  }

  async pruneArchive(before: number): Promise<number> {
    const result = await this.#db
      .deleteFrom('key_bindings_archive')
      .where('archived_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async archived(filter: { keyId?: string } = {}): Promise<ArchivedBindingRecord[]> {
    let query = this.#db.selectFrom('key_bindings_archive').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    const rows = await query.orderBy('archived_at').orderBy(this.#ctx.adapter.binaryOrder('id')).execute();
    return rows.map(toArchived);
  }
}
