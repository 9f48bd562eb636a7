/**
 * 0009_usage_latency: a latency histogram in every usage roll-up, so the dashboard's
 * percentiles come from the roll-ups instead of a scan of the request records.
 *
 * One counter per bound of the latency buckets (telemetry/latency-buckets.ts, in ms: 0.5 … 10000)
 * plus one beyond the last: `ms_le_<bound>` counts requests whose total_ms is above the previous
 * bound (0 for the first) and at most this one; `ms_gt_10000` those above 10 s. The names are
 * written out here, not derived, because a migration never changes: new bounds would need new
 * columns. Rows written before this migration read as zero histograms.
 *
 * One ALTER TABLE per column: SQLite adds only one column per statement. A NOT NULL column
 * with a constant default is a metadata change on both databases (no table rewrite).
 */
import type { Kysely, Migration } from 'kysely';

// Written out here rather than imported from the repository's LATENCY_COLUMNS: a migration is
// history and must not change when the application's constants do.
const COLUMNS = [
  'ms_le_0_5',
  'ms_le_1',
  'ms_le_2_5',
  'ms_le_5',
  'ms_le_10',
  'ms_le_25',
  'ms_le_50',
  'ms_le_100',
  'ms_le_250',
  'ms_le_500',
  'ms_le_1000',
  'ms_le_2500',
  'ms_le_5000',
  'ms_le_10000',
  'ms_gt_10000',
];

export const usageLatency0009: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    for (const column of COLUMNS)
      await db.schema
        .alterTable('usage_rollups')
        .addColumn(column, 'bigint', (col) => col.notNull().defaultTo(0))
        .execute();
  },
};
