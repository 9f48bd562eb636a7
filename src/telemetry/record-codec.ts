/**
 * Request records cross to the writer thread as one flat array of primitives per chunk, 17
 * values a record in a fixed order. Structured-cloning a flat array costs well under half of
 * cloning the same records as objects (about 0.27 against 0.63 µs a record, measured with
 * 500-record chunks), and that clone is the only part of writing a record left on the event loop.
 */
import { pushRowParams } from '../store/repositories/request-logs.js';
import type { RequestLogRecord } from '../store/types.js';

export const VALUES_PER_RECORD = 17;

/** Append one record's values to a chunk: the INSERT's parameter order, so one function builds both. */
export const appendRecord: (chunk: unknown[], r: RequestLogRecord) => void = pushRowParams;

/** The records of a chunk built by appendRecord. */
export function decodeRecords(chunk: readonly unknown[]): RequestLogRecord[] {
  if (chunk.length % VALUES_PER_RECORD !== 0)
    throw new RangeError(
      `a record chunk holds a multiple of ${VALUES_PER_RECORD} values (got ${chunk.length})`,
    );
  const records: RequestLogRecord[] = new Array(chunk.length / VALUES_PER_RECORD);
  for (let i = 0, n = 0; i < chunk.length; i += VALUES_PER_RECORD, n++) {
    records[n] = {
      at: chunk[i] as number,
      requestId: chunk[i + 1] as string,
      door: chunk[i + 2] as RequestLogRecord['door'],
      routeId: chunk[i + 3] as string | null,
      method: chunk[i + 4] as string,
      path: chunk[i + 5] as string,
      status: chunk[i + 6] as number,
      totalMs: chunk[i + 7] as number,
      upstreamMs: chunk[i + 8] as number | null,
      clientId: chunk[i + 9] as string | null,
      keyId: chunk[i + 10] as string | null,
      userId: chunk[i + 11] as string | null,
      ip: chunk[i + 12] as string,
      decision: chunk[i + 13] as RequestLogRecord['decision'],
      code: chunk[i + 14] as string | null,
      bytesIn: chunk[i + 15] as number | null,
      bytesOut: chunk[i + 16] as number,
    };
  }
  return records;
}
