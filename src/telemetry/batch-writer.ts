/**
 * Writes queued request records to the database in batches, each batch in one transaction with
 * the roll-ups it adds, retrying a failed batch with backoff. The same writer runs on the event
 * loop (an in-memory SQLite database, which no other connection can see) or in the recorder's
 * writer thread (every other database); the recorder in front of it bounds the queue.
 *
 * - A failed write keeps the batch at the head of the queue and retries with backoff (250 ms
 *   doubling to 30 s) when flushed again; nothing queued is lost to an outage.
 * - `stop()` writes everything queued, retrying through a short outage, within a timeout.
 */
import type { Clock } from '../core/clock.js';
import type { RequestLogRecord, Store } from '../store/types.js';
import { rollUp } from './rollups.js';

const MAX_BACKOFF_MS = 30_000;
/** Most records in one transaction, as a multiple of the batch size (see batchSize)… */
export const GROUP_FACTOR = 10;
/**
 * …and in records, unless the batch size itself is larger: a transaction holds SQLite's write
 * lock (admin writes wait) for its whole length, about 15 µs a record with many distinct keys.
 */
export const GROUP_MAX = 10_000;

export interface BatchWriterOptions {
  /** Writes one batch, whole or not at all. */
  write(batch: RequestLogRecord[]): Promise<void>;
  /**
   * The usual batch. When more records are waiting (the writer fell behind, or `paceMs` held
   * them), one transaction takes up to GROUP_FACTOR times as many (at most GROUP_MAX): its
   * commit, and every roll-up row and index page it touches, are then written once for more
   * records.
   */
  batchSize: number;
  clock: Clock;
  /**
   * `writeSoon()` starts a write at most this often (default 0: at once). Records arriving
   * meanwhile wait and share the next transaction.
   */
  paceMs?: number;
  onWritten?(count: number): void;
  onFailed?(error: unknown, queued: number, retryInMs: number): void;
  onRecovered?(failures: number): void;
}

/** Records and the roll-ups they add commit together: a retried batch counts once. */
export function writeBatch(store: Store, batch: readonly RequestLogRecord[]): Promise<void> {
  return store.write(async (repos) => {
    await repos.requestLogs.insertBatch(batch);
    await repos.usage.add(rollUp(batch));
  });
}

export class BatchWriter {
  readonly #options: BatchWriterOptions;
  #queue: RequestLogRecord[] = [];
  #flushing: Promise<void> | undefined;
  #failures = 0;
  /** Records of the batch being written. */
  #inFlight = 0;
  #retryAt = 0;
  /** When the last write started (clock.monotonic()). */
  #lastStart = Number.NEGATIVE_INFINITY;
  #paced: NodeJS.Timeout | undefined;

  constructor(options: BatchWriterOptions) {
    this.#options = options;
  }

  /** Records queued or being written. */
  get depth(): number {
    return this.#queue.length + this.#inFlight;
  }

  /** The last write failed: the next waits for its backoff. */
  get failing(): boolean {
    return this.#failures > 0;
  }

  add(records: readonly RequestLogRecord[]): void {
    for (const record of records) this.#queue.push(record);
  }

  /**
   * Write what is queued now, unless a write started less than `paceMs` ago: then once that
   * much time has passed, together with whatever else was queued meanwhile (at once when a
   * whole group is waiting). Under steady load this trades a wait of at most `paceMs` for
   * transactions several times larger. Does nothing while a failed write waits out its backoff
   * (the periodic flush retries it). Only this is paced: flush() and stop() write at once.
   */
  writeSoon(): void {
    if (this.failing) return;
    const wait = this.#lastStart + (this.#options.paceMs ?? 0) - this.#options.clock.monotonic();
    // A full group gains nothing by waiting, and holding more would only fill the queue bound.
    if (wait <= 0 || this.#queue.length >= this.#mostPerWrite()) {
      clearTimeout(this.#paced);
      this.#paced = undefined;
      void this.flush();
      return;
    }
    if (this.#paced) return;
    this.#paced = setTimeout(() => {
      this.#paced = undefined;
      void this.flush();
    }, wait);
    this.#paced.unref();
  }

  #mostPerWrite(): number {
    const { batchSize } = this.#options;
    return Math.max(batchSize, Math.min(batchSize * GROUP_FACTOR, GROUP_MAX));
  }

  /** Write queued records in batches until the queue is empty or a write fails. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#queue.length === 0) return Promise.resolve();
    if (this.#failures > 0 && this.#options.clock.monotonic() < this.#retryAt) return Promise.resolve();
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    const { clock } = this.#options;
    const most = this.#mostPerWrite();
    while (this.#queue.length > 0) {
      // Everything waiting, up to `most`, goes in one transaction. The batch leaves the queue
      // while it is written; a failed write puts it back at the head, in order.
      const batch = this.#queue.length <= most ? this.#queue : this.#queue.slice(0, most);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(most);
      this.#inFlight = batch.length;
      this.#lastStart = clock.monotonic();
      try {
        await this.#options.write(batch);
      } catch (error) {
        this.#queue = batch.concat(this.#queue);
        this.#inFlight = 0;
        this.#failures++;
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.#failures - 1));
        this.#retryAt = clock.monotonic() + delay;
        this.#options.onFailed?.(error, this.#queue.length, delay);
        return;
      }
      this.#inFlight = 0;
      this.#options.onWritten?.(batch.length);
      if (this.#failures > 0) this.#options.onRecovered?.(this.#failures);
      this.#failures = 0;
    }
  }

  /**
   * Write everything queued, retrying through a short outage, for at most `timeoutMs`.
   * Returns how many records could not be written.
   */
  async stop(timeoutMs: number): Promise<number> {
    const { clock } = this.#options;
    clearTimeout(this.#paced);
    this.#paced = undefined;
    const deadline = clock.monotonic() + timeoutMs;
    // A batch being written has left the queue: wait for it too, or it could be cut off by the
    // store closing right after.
    while ((this.#queue.length > 0 || this.#flushing) && clock.monotonic() < deadline) {
      if (this.#flushing) {
        await this.#flushing;
        continue;
      }
      this.#retryAt = 0;
      await this.flush();
      if (this.#queue.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    return this.depth;
  }
}
