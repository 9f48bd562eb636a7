/**
 * 0013_client_grant_pages: the indexes that serve the admin API's pages of clients
 * (`clients.page()`: by id) and grants (`grants.page()`: by client then route, or one route's
 * grants by client), ids compared byte-wise so both databases order alike. The primary keys'
 * indexes are in the database's default collation on PostgreSQL, which cannot serve a
 * `collate "C"` order; and before these pages the admin API read every client (or grant) and
 * sorted them in JavaScript for each page. Built with the dialect's `binaryOrder`, the
 * expression the queries order by (on SQLite the first two repeat the primary keys' order:
 * SQLite's default collation is byte-wise already).
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectAdapter } from '../dialect.js';

export const clientGrantPages0013 = (adapter: DialectAdapter): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const byteWise = adapter.binaryOrder.bind(adapter);
    await db.schema.createIndex('clients_page_idx').on('clients').expression(byteWise('id')).execute();
    await db.schema
      .createIndex('grants_page_idx')
      .on('grants')
      .expression(sql`${byteWise('client_id')}, ${byteWise('route_id')}`)
      .execute();
    await db.schema
      .createIndex('grants_route_page_idx')
      .on('grants')
      .expression(sql`${sql.ref('route_id')}, ${byteWise('client_id')}`)
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const name of ['grants_route_page_idx', 'grants_page_idx', 'clients_page_idx'])
      await db.schema.dropIndex(name).execute();
  },
});
