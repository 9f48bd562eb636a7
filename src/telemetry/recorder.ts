/**
 * The request recorder (PRODUCT.md §9): every decision becomes a record on a bounded in-memory
 * queue, written to the database in batches (by size or by time), each batch in one
 * transaction, off the request path.
 *
 * - A full queue drops the new record and counts it; a request never waits for the database.
 * - A failed write keeps the batch at the head of the queue and retries with backoff (250 ms
 *   doubling to 30 s); records that arrive meanwhile queue up to the bound. Nothing that fit in
 *   the queue is lost to an outage.
 * - `stop()` flushes everything queued (bounded by a timeout), so a SIGTERM under load records
 *   every accepted request.
 * - Retention: records older than `retentionDays` are deleted by an hourly prune.
 * - Optionally, a sampled pino access-log line per request.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Outcome } from '../gateway/proxy-server.js';
import type { RecordDecision, RequestLogRecord, Store } from '../store/types.js';
import { rollUp } from './rollups.js';

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
}

const MAX_BACKOFF_MS = 30_000;

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

export class RequestRecorder {
  readonly #options: RecorderOptions;
  #queue: RequestLogRecord[] = [];
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  /** Records of the batch being written (still counted against the queue bound). */
  #inFlight = 0;
  #retryAt = 0;
  #dropped = 0;
  #written = 0;

  constructor(options: RecorderOptions) {
    this.#options = options;
  }

  get depth(): number {
    return this.#queue.length + this.#inFlight;
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
    if (this.#queue.length + this.#inFlight >= options.queueSize) {
      this.#dropped++;
      options.onDropped?.(1);
      return;
    }
    this.#queue.push(record);
    if (this.#queue.length >= options.batchSize && !this.#flushing && this.#failures === 0) {
      setImmediate(() => void this.flush());
    }
  }

  start(): void {
    const { flushMs } = this.#options;
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
    const prune = () => void this.prune().catch(() => undefined);
    prune();
    this.#pruneTimer = setInterval(prune, 3_600_000);
    this.#pruneTimer.unref();
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
    const { store, batchSize, logger, clock } = this.#options;
    while (this.#queue.length > 0) {
      // The batch leaves the queue while it is written (and counts against the bound); a failed
      // write puts it back at the head, in order.
      const batch = this.#queue.length <= batchSize ? this.#queue : this.#queue.slice(0, batchSize);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(batchSize);
      this.#inFlight = batch.length;
      try {
        // Records and the roll-ups they add to commit together: a retried batch counts once.
        await store.write(async (repos) => {
          await repos.requestLogs.insertBatch(batch);
          await repos.usage.add(rollUp(batch));
        });
      } catch (error) {
        this.#queue = batch.concat(this.#queue);
        this.#inFlight = 0;
        this.#failures++;
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.#failures - 1));
        this.#retryAt = clock.monotonic() + delay;
        logger.warn(
          { err: error, queued: this.#queue.length, retryInMs: delay },
          'request records not written; retrying',
        );
        return;
      }
      this.#inFlight = 0;
      this.#written += batch.length;
      this.#options.onWritten?.(batch.length);
      if (this.#failures > 0) logger.info({ after: this.#failures }, 'request records written again');
      this.#failures = 0;
    }
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
    const deadline = this.#options.clock.monotonic() + timeoutMs;
    // A batch being written has left the queue: wait for it too, or it could be cut off by the
    // store closing right after.
    while ((this.#queue.length > 0 || this.#flushing) && this.#options.clock.monotonic() < deadline) {
      if (this.#flushing) {
        await this.#flushing;
        continue;
      }
      this.#retryAt = 0;
      await this.flush();
      if (this.#queue.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    const lost = this.#queue.length + this.#inFlight;
    if (lost > 0) this.#options.logger.error({ lost }, 'request records not written at shutdown');
    return lost;
  }
}
