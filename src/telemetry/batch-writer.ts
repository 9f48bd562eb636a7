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

export interface BatchWriterOptions {
  /** Writes one batch, whole or not at all. */
  write(batch: RequestLogRecord[]): Promise<void>;
  batchSize: number;
  clock: Clock;
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
    const { batchSize, clock } = this.#options;
    while (this.#queue.length > 0) {
      // The batch leaves the queue while it is written; a failed write puts it back at the
      // head, in order.
      const batch = this.#queue.length <= batchSize ? this.#queue : this.#queue.slice(0, batchSize);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(batchSize);
      this.#inFlight = batch.length;
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
