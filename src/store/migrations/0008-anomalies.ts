/**
 * 0008_anomalies: what the anomaly detector found (PRODUCT.md §10).
 *
 * One row per incident: a later finding of the same signal for the same identity within the
 * cooldown is folded into it (`occurrences`, `last_seen_at`), so one incident is one row and
 * one alert. `evidence` is JSON (observed vs expected and the recent series). The block and
 * the alert it caused are referred to by id (the block may be lifted or expire on its own;
 * the alert's deliveries are in `alert_deliveries` under `alert_id`). Indexed for the two
 * questions people ask: what is new (detected_at) and what is still open (status, detected_at).
 */
import type { Kysely, Migration } from 'kysely';

export const anomalies0008: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('anomalies')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('signal', 'text', (col) => col.notNull())
      .addColumn('identity_kind', 'text', (col) => col.notNull())
      .addColumn('identity', 'text', (col) => col.notNull())
      .addColumn('bucket_start', 'bigint', (col) => col.notNull())
      .addColumn('interval_ms', 'bigint', (col) => col.notNull())
      .addColumn('detected_at', 'bigint', (col) => col.notNull())
      .addColumn('last_seen_at', 'bigint', (col) => col.notNull())
      .addColumn('occurrences', 'integer', (col) => col.notNull())
      .addColumn('score', 'double precision', (col) => col.notNull())
      .addColumn('observed', 'double precision', (col) => col.notNull())
      .addColumn('expected', 'double precision', (col) => col.notNull())
      .addColumn('explanation', 'text', (col) => col.notNull())
      .addColumn('evidence', 'text', (col) => col.notNull())
      .addColumn('action', 'text', (col) => col.notNull())
      .addColumn('block_id', 'text')
      .addColumn('block_expires_at', 'bigint')
      .addColumn('alert_id', 'text')
      .addColumn('status', 'text', (col) => col.notNull())
      .addColumn('resolved_at', 'bigint')
      .addColumn('resolved_by', 'text')
      .addColumn('resolution_note', 'text')
      .execute();
    await db.schema
      .createIndex('anomalies_detected_at_idx')
      .on('anomalies')
      .columns(['detected_at', 'id'])
      .execute();
    await db.schema
      .createIndex('anomalies_status_idx')
      .on('anomalies')
      .columns(['status', 'detected_at'])
      .execute();
  },
};
