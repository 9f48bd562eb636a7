/**
 * The event loop's side of the recorder's writer thread (recorder-worker.ts).
 *
 * Protocol, all messages in order on one port:
 * - to the writer: `add` (a chunk of encoded records), `flush` (write now, answer `flushed`),
 *   `stop` (write everything within a timeout, close the connection, answer `stopped` with the
 *   number of records not written);
 * - from the writer: `written` after each committed batch, `failed` / `recovered` for the log.
 *
 * If the thread dies (it should not: every write error is caught and retried), `onCrash` is
 * told once; the recorder then counts what the thread held as dropped and writes on the event
 * loop from then on.
 */
import { Worker } from 'node:worker_threads';
import type { OpenStoreOptions } from '../store/open-store.js';

/** What the writer thread is started with (structured-cloned: plain data only). */
export interface WriterData {
  store: Omit<OpenStoreOptions, 'clock' | 'logger'>;
  batchSize: number;
  flushMs: number;
}

export type ToWriter =
  | { t: 'add'; values: unknown[] }
  | { t: 'flush'; id: number }
  | { t: 'stop'; timeoutMs: number };

export type FromWriter =
  | { t: 'written'; count: number }
  | { t: 'failed'; error: { message: string; code: string | undefined }; queued: number; retryInMs: number }
  | { t: 'recovered'; after: number }
  | { t: 'flushed'; id: number }
  | { t: 'stopped'; lost: number };

export interface RecordSink {
  /** Hand over a chunk of encoded records (record-codec.ts). */
  add(chunk: unknown[]): void;
  /** Write what was handed over (unless a failed write is waiting out its backoff). */
  flush(): Promise<void>;
  /** Write everything handed over within `timeoutMs`; resolves with the number not written. */
  stop(timeoutMs: number): Promise<number>;
}

export interface SinkEvents {
  onWritten(count: number): void;
  onFailed(error: unknown, queued: number, retryInMs: number): void;
  onRecovered(after: number): void;
}

/** Extra time for the thread to answer `stop` beyond its own timeout, before it is terminated. */
const STOP_GRACE_MS = 2000;

export class RecorderThread implements RecordSink {
  readonly #worker: Worker;
  readonly #events: SinkEvents;
  readonly #flushes = new Map<number, () => void>();
  #nextId = 0;
  #onStopped: ((lost: number) => void) | undefined;
  #dead = false;

  constructor(
    data: WriterData,
    events: SinkEvents,
    onCrash: (error: Error) => void,
    script: URL = new URL('./recorder-worker.js', import.meta.url),
  ) {
    this.#events = events;
    this.#worker = new Worker(script, {
      workerData: data,
      // The thread must not keep the process alive: stop() is what ends it.
      stdout: false,
      stderr: false,
    });
    this.#worker.unref();
    this.#worker.on('message', (message: FromWriter) => this.#receive(message));
    const died = (error: Error) => {
      if (this.#dead) return;
      this.#dead = true;
      for (const done of this.#flushes.values()) done();
      this.#flushes.clear();
      if (this.#onStopped) this.#onStopped(-1);
      else onCrash(error);
    };
    this.#worker.on('error', died);
    this.#worker.on('exit', (code) => died(new Error(`recorder writer thread exited (code ${code})`)));
  }

  #receive(message: FromWriter): void {
    switch (message.t) {
      case 'written':
        this.#events.onWritten(message.count);
        return;
      case 'failed':
        this.#events.onFailed(message.error, message.queued, message.retryInMs);
        return;
      case 'recovered':
        this.#events.onRecovered(message.after);
        return;
      case 'flushed':
        this.#flushes.get(message.id)?.();
        this.#flushes.delete(message.id);
        return;
      case 'stopped':
        this.#onStopped?.(message.lost);
        return;
    }
  }

  #post(message: ToWriter): boolean {
    if (this.#dead) return false;
    this.#worker.postMessage(message);
    return true;
  }

  add(chunk: unknown[]): void {
    this.#post({ t: 'add', values: chunk });
  }

  flush(): Promise<void> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (!this.#post({ t: 'flush', id })) return resolve();
      this.#flushes.set(id, resolve);
    });
  }

  /** Resolves with the records not written, or -1 when the thread did not say (it died or hung). */
  async stop(timeoutMs: number): Promise<number> {
    if (this.#dead) return -1;
    const lost = await new Promise<number>((resolve) => {
      this.#onStopped = resolve;
      const timer = setTimeout(() => resolve(-1), timeoutMs + STOP_GRACE_MS);
      timer.unref();
      this.#post({ t: 'stop', timeoutMs });
    });
    this.#dead = true;
    await this.#worker.terminate();
    return lost;
  }
}
