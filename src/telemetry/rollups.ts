/**
 * Usage roll-ups from request records: counts per key, client, route, status class and refusal
 * code, by minute, hour and day (UTC buckets). Computed from each batch of records and added to
 * the stored roll-ups in the batch's own transaction, so every record is counted exactly once,
 * on any number of instances, and a retried batch never counts twice.
 */
import type { RequestLogRecord, UsageGranularity, UsageIncrement } from '../store/types.js';

const SPAN_MS: Record<UsageGranularity, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
export const GRANULARITIES: readonly UsageGranularity[] = ['minute', 'hour', 'day'];

export function bucketOf(at: number, granularity: UsageGranularity): number {
  const span = SPAN_MS[granularity];
  return Math.floor(at / span) * span;
}

export function rollUp(records: readonly RequestLogRecord[]): UsageIncrement[] {
  const groups = new Map<string, UsageIncrement>();
  for (const record of records) {
    const statusClass = `${Math.floor(record.status / 100)}xx`;
    const code = record.decision === 'allowed' ? '' : (record.code ?? '');
    for (const granularity of GRANULARITIES) {
      const bucket = bucketOf(record.at, granularity);
      const keyId = record.keyId ?? '';
      const clientId = record.clientId ?? '';
      const routeId = record.routeId ?? '';
      const id = `${granularity}|${bucket}|${keyId}|${clientId}|${routeId}|${statusClass}|${code}`;
      const group = groups.get(id);
      if (group) {
        group.requests++;
        group.bytesIn += record.bytesIn ?? 0;
        group.bytesOut += record.bytesOut;
      } else {
        groups.set(id, {
          granularity,
          bucket,
          keyId,
          clientId,
          routeId,
          statusClass,
          code,
          requests: 1,
          bytesIn: record.bytesIn ?? 0,
          bytesOut: record.bytesOut,
        });
      }
    }
  }
  // One order for every writer: concurrent batches on PostgreSQL then lock the rows they share
  // in the same order and cannot deadlock each other.
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}
