/**
 * 0001_core: installation facts (`meta`) and routes. Written against the shape of the tables
 * at this point in history, not against today's `Database` type, so later changes to the
 * types cannot silently change what this migration does.
 */
import type { Kysely, Migration } from 'kysely';

interface CoreV1 {
  meta: { key: string; value: string };
}

export const core0001: Migration = {
  async up(db: Kysely<CoreV1>): Promise<void> {
    await db.schema
      .createTable('meta')
      .addColumn('key', 'text', (col) => col.primaryKey())
      .addColumn('value', 'text', (col) => col.notNull())
      .execute();
    await db.insertInto('meta').values({ key: 'config_version', value: '0' }).execute();

    await db.schema
      .createTable('routes')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('host', 'text', (col) => col.notNull())
      .addColumn('path', 'text', (col) => col.notNull())
      .addColumn('spec', 'text', (col) => col.notNull())
      // Epoch milliseconds: bigint on PostgreSQL, INTEGER affinity on SQLite.
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('routes_host_path_idx').on('routes').columns(['host', 'path']).execute();
  },
};
