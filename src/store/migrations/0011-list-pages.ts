/**
 * 0011_list_pages: the indexes that serve the admin API's pages of keys and blocklist entries
 * (`apiKeys.page()`, `blocks.page()`: keyset order created_at, then id compared byte-wise so
 * both databases order alike). No earlier index held created_at, so every page read and sorted
 * the whole table (or all of a client's keys, all entries of a kind). The keys pages filtered
 * by client and the blocks pages filtered by kind get an index led by that column: its
 * equality and the order are then one range scan. As in 0010, the id column is built with the
 * dialect's `binaryOrder`, the expression the queries order by (`collate "C"` on PostgreSQL).
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectAdapter } from '../dialect.js';

export const listPages0011 = (adapter: DialectAdapter): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const byCreation = sql`${sql.ref('created_at')}, ${adapter.binaryOrder('id')}`;
    await db.schema.createIndex('api_keys_page_idx').on('api_keys').expression(byCreation).execute();
    await db.schema
      .createIndex('api_keys_client_page_idx')
      .on('api_keys')
      .expression(sql`${sql.ref('client_id')}, ${byCreation}`)
      .execute();
    await db.schema.createIndex('blocks_page_idx').on('blocks').expression(byCreation).execute();
    await db.schema
      .createIndex('blocks_kind_page_idx')
      .on('blocks')
      .expression(sql`${sql.ref('kind')}, ${byCreation}`)
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const name of [
      'blocks_kind_page_idx',
      'blocks_page_idx',
      'api_keys_client_page_idx',
      'api_keys_page_idx',
    ])
      await db.schema.dropIndex(name).execute();
  },
});
