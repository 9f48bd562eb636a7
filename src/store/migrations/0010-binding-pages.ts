/**
 * 0010_binding_pages: the index that serves the admin API's pages of bindings
 * (`bindings.page()`: keyset order key_id, created_at, id, compared byte-wise so both databases
 * order alike). On PostgreSQL no earlier index could serve it: they are in the database's
 * default collation, so every page was a full scan and a sort (44 ms at 200k bindings, 0.4 ms
 * with this index); SQLite's BINARY default already matches. The columns are built with the
 * dialect's `binaryOrder`, the same expression the query orders by.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectAdapter } from '../dialect.js';

export const bindingPages0010 = (adapter: DialectAdapter): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex('key_bindings_page_idx')
      .on('key_bindings')
      .expression(
        sql`${adapter.binaryOrder('key_id')}, ${sql.ref('created_at')}, ${adapter.binaryOrder('id')}`,
      )
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('key_bindings_page_idx').execute();
  },
});
