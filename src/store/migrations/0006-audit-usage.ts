/**
 * 0006_audit_usage: the audit log of administrative changes and the usage roll-ups.
 *
 * - `audit_log`: one row per change (actor, where from, action, target, redacted before/after).
 * - `usage_rollups`: request counts per key, client, route, status class and refusal code, by
 *   minute, hour and day. Instances add to the same rows (`requests = requests + n`) in the
 *   transaction that writes their request records, so each record is counted exactly once
 *   however many instances contribute. Absent dimensions are '' (NULLs would defeat the
 *   unique index the additive upsert relies on).
 */
import type { Kysely, Migration } from 'kysely';

export const auditUsage0006: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('audit_log')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('at', 'bigint', (col) => col.notNull())
      .addColumn('actor', 'text', (col) => col.notNull())
      .addColumn('source', 'text', (col) => col.notNull())
      .addColumn('action', 'text', (col) => col.notNull())
      .addColumn('target_type', 'text', (col) => col.notNull())
      .addColumn('target_id', 'text', (col) => col.notNull())
      .addColumn('before', 'text')
      .addColumn('after', 'text')
      .execute();
    await db.schema.createIndex('audit_log_at_idx').on('audit_log').column('at').execute();
    await db.schema
      .createIndex('audit_log_target_idx')
      .on('audit_log')
      .columns(['target_type', 'target_id'])
      .execute();

    await db.schema
      .createTable('usage_rollups')
      .addColumn('granularity', 'text', (col) => col.notNull())
      .addColumn('bucket', 'bigint', (col) => col.notNull())
      .addColumn('key_id', 'text', (col) => col.notNull())
      .addColumn('client_id', 'text', (col) => col.notNull())
      .addColumn('route_id', 'text', (col) => col.notNull())
      .addColumn('status_class', 'text', (col) => col.notNull())
      .addColumn('code', 'text', (col) => col.notNull())
      .addColumn('requests', 'bigint', (col) => col.notNull())
      .addColumn('bytes_in', 'bigint', (col) => col.notNull())
      .addColumn('bytes_out', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createIndex('usage_rollups_uq')
      .on('usage_rollups')
      .columns(['granularity', 'bucket', 'key_id', 'client_id', 'route_id', 'status_class', 'code'])
      .unique()
      .execute();
    await db.schema
      .createIndex('usage_rollups_key_idx')
      .on('usage_rollups')
      .columns(['key_id', 'granularity', 'bucket'])
      .execute();
    await db.schema
      .createIndex('usage_rollups_client_idx')
      .on('usage_rollups')
      .columns(['client_id', 'granularity', 'bucket'])
      .execute();
  },
};
