/**
 * 0013_client_grant_pages: the indexes that serve the admin API's pages of clients
 * (`clients.page()`: by id) and grants (`grants.page()`: by client then route, or one route's
 * grants by client), ids compared byte-wise so both databases order alike. Before these pages
 * the admin API read every client (or grant) and sorted them in JavaScript for each page.
 *
 * - By id, and by client then route: on SQLite the primary keys already are these orders (its
 *   default collation is byte-wise); on PostgreSQL they are in the database's default
 *   collation, which cannot serve a `collate "C"` order, so an index in that order is added.
 * - By route, then client: replaces the plain index on route_id (which it also serves), so a
 *   grant write still updates as many indexes as before.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectAdapter } from '../dialect.js';

export const clientGrantPages0013 = (adapter: DialectAdapter): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const byteWise = adapter.binaryOrder.bind(adapter);
    if (!adapter.byteWiseByDefault) {
      await db.schema.createIndex('clients_page_idx').on('clients').expression(byteWise('id')).execute();
      await db.schema
        .createIndex('grants_page_idx')
        .on('grants')
        .expression(sql`${byteWise('client_id')}, ${byteWise('route_id')}`)
        .execute();
    }
    await db.schema
      .createIndex('grants_route_page_idx')
      .on('grants')
      .expression(sql`${sql.ref('route_id')}, ${byteWise('client_id')}`)
      .execute();
    await db.schema.dropIndex('grants_route_id_idx').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('grants_route_id_idx').on('grants').column('route_id').execute();
    await db.schema.dropIndex('grants_route_page_idx').execute();
    if (!adapter.byteWiseByDefault) {
      await db.schema.dropIndex('grants_page_idx').execute();
      await db.schema.dropIndex('clients_page_idx').execute();
    }
  },
});
