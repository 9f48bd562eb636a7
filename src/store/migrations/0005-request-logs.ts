/**
 * 0005_request_logs: one row per decision (PRODUCT.md §9), written in batches by the recorder.
 * No primary key: request ids may come from clients (X-Request-Id is propagated) and are not
 * unique; rows are read by time range (and key or client), which the indexes serve.
 */
import type { Kysely, Migration } from 'kysely';

export const requestLogs0005: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('request_logs')
      .addColumn('at', 'bigint', (col) => col.notNull())
      .addColumn('request_id', 'text', (col) => col.notNull())
      .addColumn('door', 'text', (col) => col.notNull())
      .addColumn('route_id', 'text')
      .addColumn('method', 'text', (col) => col.notNull())
      .addColumn('path', 'text', (col) => col.notNull())
      .addColumn('status', 'integer', (col) => col.notNull())
      .addColumn('total_ms', 'double precision', (col) => col.notNull())
      .addColumn('upstream_ms', 'double precision')
      .addColumn('client_id', 'text')
      .addColumn('key_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('ip', 'text', (col) => col.notNull())
      .addColumn('decision', 'text', (col) => col.notNull())
      .addColumn('code', 'text')
      .addColumn('bytes_in', 'bigint')
      .addColumn('bytes_out', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('request_logs_at_idx').on('request_logs').column('at').execute();
    await db.schema
      .createIndex('request_logs_key_at_idx')
      .on('request_logs')
      .columns(['key_id', 'at'])
      .execute();
    await db.schema
      .createIndex('request_logs_client_at_idx')
      .on('request_logs')
      .columns(['client_id', 'at'])
      .execute();
  },
};
