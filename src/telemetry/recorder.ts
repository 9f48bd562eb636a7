/**
 * The request recorder (PRODUCT.md §9): every decision becomes a record on a bounded in-memory
 * queue, written to the database in batches (by size or by time), each batch in one
 * transaction, off the request path.
 *
 * - The event loop only encodes each record into a chunk (record-codec.ts) and hands chunks,
 *   by size or every `flushMs`, to the writer: a worker thread with its own database connection
 *   (recorder-thread.ts), or, for an in-memory SQLite database that no other connection can
 *   see, a writer on the event loop. Both are the same BatchWriter (batch-writer.ts).
 * - A full queue (records encoded or handed over, not yet written) drops the new record and
 *   counts it; a request never waits for the database.
 * - A failed write keeps its batch and retries with backoff (250 ms doubling to 30 s); records
 *   that arrive meanwhile queue up to the bound. Nothing that fit in the queue is lost to an
 *   outage.
 * - `stop()` writes everything queued (bounded by a timeout), so a SIGTERM under load records
 *   every accepted request.
 * - If the writer thread dies, what it held is counted as dropped (a batch it committed without
 *   saying so may be counted too) and writing continues on the event loop.
 * - Retention: records older than `retentionDays` are deleted by an hourly prune.
 * - Optionally, a sampled pino access-log line per request.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Outcome } from '../gateway/proxy-server.js';
import type { RecordDecision, RequestLogRecord, Store } from '../store/types.js';
import { BatchWriter, writeBatch } from './batch-writer.js';
import { appendRecord, decodeRecords } from './record-codec.js';
import { RecorderThread, type RecordSink, type SinkEvents, type WriterData } from './recorder-thread.js';

export interface RecorderOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Write records to the database (off: only metrics and the access log see requests). */
  enabled: boolean;
  queueSize: number;
  batchSize: number;
  flushMs: number;
  retentionDays: number;
  /** Fraction of requests (0–1) that also get an access-log line. */
  accessLogSample: number;
  /** Told how many records each successful batch wrote, and how many were dropped (metrics). */
  onWritten?: (count: number) => void;
  onDropped?: (count: number) => void;
  random?: () => number;
  /**
   * Write from a worker thread with its own connection opened with these options (the store's
   * own options; not for `sqlite::memory:`, which only `store`'s connection can see). Without
   * it, records are written through `store` on the event loop.
   */
  thread?: WriterData['store'];
  /** The writer thread's module (tests substitute one that fails). */
  threadScript?: URL;
}

function contentLength(rawHeaders: readonly string[]): number | null {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      const n = Number(rawHeaders[i + 1]);
      return Number.isSafeInteger(n) && n >= 0 ? n : null;
    }
  }
  return null;
}

/** Turn what the proxy saw into a record (no query string: it may carry an API key). */
export function toRecord(outcome: Outcome, at: number): RequestLogRecord | undefined {
  const { facts, decision } = outcome;
  if (!facts) return undefined;
  let kind: RecordDecision;
  let code: string | null = null;
  if (decision === undefined) {
    kind = 'error';
    code = 'internal_error';
  } else if (decision.kind === 'deny') {
    kind = decision.status >= 500 ? 'error' : 'denied';
    code = decision.code;
  } else if (outcome.upstreamError) {
    kind = 'error';
    code = outcome.upstreamError;
  } else {
    kind = 'allowed';
  }
  const principal = decision?.principal;
  const routeId =
    decision?.kind === 'allow' ? decision.match.route.id : (decision?.routeId ?? facts.routeId ?? null);
  return {
    at,
    requestId: facts.requestId,
    door: facts.door,
    routeId,
    method: facts.method,
    path: facts.path,
    status: outcome.status,
    totalMs: Math.round(outcome.totalMs * 1000) / 1000,
    upstreamMs: outcome.upstreamMs === undefined ? null : Math.round(outcome.upstreamMs * 1000) / 1000,
    clientId: principal?.clientId ?? null,
    keyId: principal?.keyId ?? null,
    userId: principal?.userId ?? null,
    ip: facts.clientIp,
    decision: kind,
    code,
    bytesIn: contentLength(facts.rawHeaders),
    bytesOut: outcome.bytesOut,
  };
}

/** The writer on the event loop: a BatchWriter on the recorder's own store. */
function inlineSink(store: Store, batchSize: number, clock: Clock, events: SinkEvents): RecordSink {
  const writer = new BatchWriter({ write: (batch) => writeBatch(store, batch), batchSize, clock, ...events });
  return {
    add(chunk) {
      writer.add(decodeRecords(chunk));
      writer.writeSoon();
    },
    flush: () => writer.flush(),
    stop: (timeoutMs) => writer.stop(timeoutMs),
  };
}

export class RequestRecorder {
  readonly #options: RecorderOptions;
  readonly #events: SinkEvents;
  #sink: RecordSink;
  /** Encoded records not yet handed to the writer. */
  #chunk: unknown[] = [];
  #chunkRecords = 0;
  #handOverScheduled = false;
  /** Records handed to the writer and not yet written (counted against the queue bound). */
  #handedOver = 0;
  #timer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #dropped = 0;
  #written = 0;

  constructor(options: RecorderOptions) {
    this.#options = options;
    const { logger } = options;
    this.#events = {
      onWritten: (count) => {
        this.#handedOver -= count;
        this.#written += count;
        options.onWritten?.(count);
      },
      onFailed: (error, queued, retryInMs) =>
        logger.warn({ err: error, queued, retryInMs }, 'request records not written; retrying'),
      onRecovered: (after) => logger.info({ after }, 'request records written again'),
    };
    this.#sink =
      options.enabled && options.thread
        ? new RecorderThread(
            { store: options.thread, batchSize: options.batchSize, flushMs: options.flushMs },
            this.#events,
            (error) => this.#threadDied(error),
            options.threadScript,
          )
        : this.#inline();
  }

  #inline(): RecordSink {
    const { store, batchSize, clock } = this.#options;
    return inlineSink(store, batchSize, clock, this.#events);
  }

  #threadDied(error: Error): void {
    const lost = this.#handedOver;
    this.#handedOver = 0;
    this.#count(lost);
    this.#options.logger.error(
      { err: error, dropped: lost },
      'request recorder thread failed; writing records on the event loop from now on',
    );
    this.#sink = this.#inline();
  }

  #count(dropped: number): void {
    if (dropped <= 0) return;
    this.#dropped += dropped;
    this.#options.onDropped?.(dropped);
  }

  get depth(): number {
    return this.#chunkRecords + this.#handedOver;
  }
  get dropped(): number {
    return this.#dropped;
  }
  get written(): number {
    return this.#written;
  }

  /** Called once per finished request; never throws, never waits. */
  record(outcome: Outcome): void {
    const options = this.#options;
    const sampled =
      options.accessLogSample > 0 && (options.random ?? Math.random)() < options.accessLogSample;
    if (!options.enabled && !sampled) return;
    const record = toRecord(outcome, options.clock.now());
    if (!record) return;
    if (sampled) options.logger.info({ request: record }, 'request');
    if (!options.enabled) return;
    if (this.#chunkRecords + this.#handedOver >= options.queueSize) {
      this.#count(1);
      return;
    }
    appendRecord(this.#chunk, record);
    this.#chunkRecords++;
    // Handed over outside the request's own call stack.
    if (this.#chunkRecords >= options.batchSize && !this.#handOverScheduled) {
      this.#handOverScheduled = true;
      setImmediate(this.#handOver);
    }
  }

  readonly #handOver = (): void => {
    this.#handOverScheduled = false;
    if (this.#chunkRecords === 0) return;
    const chunk = this.#chunk;
    this.#handedOver += this.#chunkRecords;
    this.#chunk = [];
    this.#chunkRecords = 0;
    this.#sink.add(chunk);
  };

  start(): void {
    const { flushMs } = this.#options;
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
    const prune = () => void this.prune().catch(() => undefined);
    prune();
    this.#pruneTimer = setInterval(prune, 3_600_000);
    this.#pruneTimer.unref();
  }

  /** Hand over what is queued and write it (unless a failed write is waiting out its backoff). */
  flush(): Promise<void> {
    this.#handOver();
    return this.#sink.flush();
  }

  async prune(): Promise<number> {
    const { store, clock, retentionDays, logger } = this.#options;
    const cutoff = clock.now() - retentionDays * 86_400_000;
    const removed = await store.requestLogs.prune(cutoff);
    // Roll-ups outlive the records they summarize: minutes as long as records, hours at least
    // 400 days, days for good.
    await store.usage.prune('minute', cutoff);
    await store.usage.prune('hour', Math.min(cutoff, clock.now() - 400 * 86_400_000));
    if (removed > 0) logger.info({ removed, retentionDays }, 'old request records pruned');
    return removed;
  }

  /**
   * Stop accepting and write everything queued, retrying through a short outage, for at most
   * `timeoutMs`. Returns how many records could not be written.
   */
  async stop(timeoutMs: number): Promise<number> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    this.#handOver();
    const said = await this.#sink.stop(timeoutMs);
    // -1: the thread did not answer; nothing it held is known to be written.
    const lost = said < 0 ? this.#handedOver : said;
    this.#handedOver = lost;
    if (lost > 0) this.#options.logger.error({ lost }, 'request records not written at shutdown');
    return lost;
  }
}
