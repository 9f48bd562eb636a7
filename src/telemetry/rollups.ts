/**
 * Usage roll-ups from request records: counts per key, client, route, status class and refusal
 * code, with a latency histogram, by minute, hour and day (UTC buckets). Computed from each batch
 * of records and added to the stored roll-ups in the batch's own transaction, so every record is
 * counted exactly once, on any number of instances, and a retried batch never counts twice.
 */
import type { RequestLogRecord, UsageGranularity, UsageIncrement } from '../store/types.js';
import { DURATION_BUCKETS_MS } from './latency-buckets.js';

const SPAN_MS: Record<UsageGranularity, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
export const GRANULARITIES: readonly UsageGranularity[] = ['minute', 'hour', 'day'];

export function bucketOf(at: number, granularity: UsageGranularity): number {
  const span = SPAN_MS[granularity];
  return Math.floor(at / span) * span;
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

// Plain arrays of small integers and doubles: reading a frozen array's elements and filling a
// `new Array(n)` (holey) measured a few ns a record slower.
const BOUNDS: number[] = [...DURATION_BUCKETS_MS];
const LATENCY_SLOTS = BOUNDS.length + 1;
const NO_LATENCY: number[] = Array.from({ length: LATENCY_SLOTS }, () => 0);

/**
 * The histogram slot of a latency: the first bound it does not exceed (the last slot above the
 * last bound), as PromQL's `le` buckets count. A binary search: four comparisons a record.
 */
export function latencySlot(ms: number): number {
  let lo = 0;
  let hi = BOUNDS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= (BOUNDS[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function rollUp(records: readonly RequestLogRecord[]): UsageIncrement[] {
  // Minutes first (one pass over the records), then hours and days from the minute groups.
  // The group id is built per record, so its parts are reused strings: records of a batch
  // mostly share their minute, and a number turned into text per record cost more than the
  // rest of the pass.
  const minutes = new Map<string, UsageIncrement>();
  let lastBucket = Number.NaN;
  let lastBucketText = '';
  for (const record of records) {
    const statusClass =
      STATUS_CLASSES[Math.floor(record.status / 100)] ?? `${Math.floor(record.status / 100)}xx`;
    const code = record.decision === 'allowed' ? '' : (record.code ?? '');
    const bucket = bucketOf(record.at, 'minute');
    if (bucket !== lastBucket) {
      lastBucket = bucket;
      lastBucketText = String(bucket);
    }
    const keyId = record.keyId ?? '';
    const clientId = record.clientId ?? '';
    const routeId = record.routeId ?? '';
    const id = `${lastBucketText}|${keyId}|${clientId}|${routeId}|${statusClass}|${code}`;
    const slot = latencySlot(record.totalMs);
    const group = minutes.get(id);
    if (group) {
      group.requests++;
      group.bytesIn += record.bytesIn ?? 0;
      group.bytesOut += record.bytesOut;
      group.latency[slot] = (group.latency[slot] as number) + 1;
    } else {
      const latency = NO_LATENCY.slice();
      latency[slot] = 1;
      minutes.set(id, {
        granularity: 'minute',
        bucket,
        keyId,
        clientId,
        routeId,
        statusClass,
        code,
        requests: 1,
        bytesIn: record.bytesIn ?? 0,
        bytesOut: record.bytesOut,
        latency,
      });
    }
  }
  const all = new Map<string, UsageIncrement>();
  for (const [id, minute] of minutes) {
    all.set(`minute|${id}`, minute);
    for (const granularity of ['hour', 'day'] as const) {
      const bucket = bucketOf(minute.bucket, granularity);
      const key = `${granularity}|${bucket}|${minute.keyId}|${minute.clientId}|${minute.routeId}|${minute.statusClass}|${minute.code}`;
      const group = all.get(key);
      if (group) {
        group.requests += minute.requests;
        group.bytesIn += minute.bytesIn;
        group.bytesOut += minute.bytesOut;
        for (let i = 0; i < LATENCY_SLOTS; i++)
          group.latency[i] = (group.latency[i] as number) + (minute.latency[i] as number);
      } else all.set(key, { ...minute, granularity, bucket, latency: [...minute.latency] });
    }
  }
  // One order for every writer: concurrent batches on PostgreSQL then lock the rows they share
  // in the same order and cannot deadlock each other.
  return [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}
