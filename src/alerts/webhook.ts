/**
 * Webhook delivery for alerts (intercept alerts, later anomaly alerts): one sender per target,
 * a bounded in-memory queue worked by a few concurrent deliveries, retries with capped
 * exponential backoff and full jitter, and a record of every finished delivery.
 *
 * Payloads are signed Stripe-style (`t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`) so
 * a receiver can check integrity and reject replays by the timestamp; the alert id travels in
 * its own header so a receiver can de-duplicate retries. `send` never throws and never waits;
 * `drain` lets shutdown (and tests) wait for what is still in flight.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { request } from 'undici';
import { type Clock, systemClock } from '../core/clock.js';
import { randomBase62 } from '../core/crypto.js';

export interface Alert {
  /** What raised it, e.g. `intercepts` or `anomaly`. */
  kind: string;
  /** Unique per alert; sent as X-Portcullis-Alert-Id so receivers can drop retried copies. */
  id: string;
  /** When the alert was raised, epoch milliseconds. */
  at: number;
  /** One plain-language line. */
  summary: string;
  details: Record<string, unknown>;
}

export interface WebhookTarget {
  url: string;
  secret?: string | undefined;
  format: 'json' | 'slack';
}

export interface DeliveryRecord {
  id: string;
  alertId: string;
  kind: string;
  /** The target URL without userinfo or fragment; never the signing secret. */
  url: string;
  status: 'delivered' | 'failed';
  /** HTTP attempts made; 0 when the alert never left (queue full, unserialisable). */
  attempts: number;
  /** HTTP status of the last attempt, null when it got no answer. */
  lastStatus: number | null;
  /** Why the last attempt failed; null when delivered. */
  lastError: string | null;
  /** When the sender was handed the alert (epoch ms). */
  createdAt: number;
  finishedAt: number;
}

export interface DeliveryLog {
  record(delivery: DeliveryRecord): Promise<void>;
}

export type AlertLogger = Pick<Logger, 'debug' | 'info' | 'warn'>;

export interface WebhookSenderOptions {
  target: WebhookTarget;
  log: DeliveryLog;
  logger: AlertLogger;
  clock?: Clock;
  /** Source of jitter in [0, 1); injectable so tests can pin the backoff. */
  random?: () => number;
  /** HTTP attempts per alert, first included. Default 5. */
  maxAttempts?: number;
  /** Backoff base: the wait before retry n is random() × min(maxDelayMs, baseDelayMs × 2^(n-1)). Default 500. */
  baseDelayMs?: number;
  /** Cap of one backoff wait. Default 30 000. */
  maxDelayMs?: number;
  /** Limit of one attempt, response body included. Default 5 000. */
  timeoutMs?: number;
  /** Alerts queued or in flight beyond which `send` drops (and records) the alert. Default 1 000. */
  maxPending?: number;
  /** Deliveries in flight at once; bounds the connections opened to the receiver. Default 4. */
  concurrency?: number;
}

export interface WebhookSender {
  /** Queue an alert for delivery. Never throws, never waits. */
  send(alert: Alert): void;
  /** Deliver now (with retries) and resolve with the record; never rejects. For tests and smoke commands. */
  deliverNow(alert: Alert): Promise<DeliveryRecord>;
  /**
   * Wait until nothing is queued or in flight (records written included), holding the process
   * open meanwhile. Resolves true when drained, false when `timeoutMs` ran out first.
   */
  drain(timeoutMs?: number): Promise<boolean>;
  /** Alerts queued or in flight. */
  readonly pending: number;
}

export const SIGNATURE_HEADER = 'x-portcullis-signature';
export const ALERT_ID_HEADER = 'x-portcullis-alert-id';
export const USER_AGENT = 'portcullis-alerts';

/** A Retry-After (delta-seconds only) longer than this is shortened to it. */
export const RETRY_AFTER_CAP_MS = 60_000;
const RESPONSE_BODY_LIMIT = 64 * 1024;
const ERROR_TEXT_LIMIT = 300;

// --- signatures -------------------------------------------------------------------------------

function hmacHex(secret: string, t: string, rawBody: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest('hex');
}

/** The X-Portcullis-Signature value for `rawBody` signed at `nowMs`. */
export function signWebhookBody(secret: string, rawBody: string | Uint8Array, nowMs: number): string {
  const t = String(Math.floor(nowMs / 1000));
  return `t=${t},v1=${hmacHex(secret, t, rawBody)}`;
}

// Exactly what signWebhookBody emits: anything else is refused rather than guessed at.
const SIGNATURE_PATTERN = /^t=(\d{1,15}),v1=([0-9a-f]{64})$/;

/**
 * Receiver-side check of X-Portcullis-Signature: the HMAC must match the raw body as received
 * (before any JSON parsing) and `t` must lie within `toleranceS` of `nowMs` either way, so a
 * captured request cannot be replayed later. Never throws; anything malformed is false.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | readonly string[] | null | undefined,
  rawBody: string | Uint8Array,
  nowMs: number,
  toleranceS = 300,
): boolean {
  try {
    if (typeof secret !== 'string' || secret.length === 0) return false;
    if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) return false;
    if (!Number.isFinite(nowMs) || !Number.isFinite(toleranceS) || toleranceS < 0) return false;
    // A repeated header is ambiguous (which one was signed?): refuse it.
    const value = Array.isArray(header) ? (header.length === 1 ? header[0] : undefined) : header;
    if (typeof value !== 'string') return false;
    const match = SIGNATURE_PATTERN.exec(value);
    if (!match) return false;
    const t = match[1]!;
    if (Math.abs(nowMs / 1000 - Number(t)) > toleranceS) return false;
    const expected = Buffer.from(hmacHex(secret, t, rawBody), 'hex');
    const given = Buffer.from(match[2]!, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  } catch {
    return false;
  }
}

// --- payloads ---------------------------------------------------------------------------------

/** The request body for `format` (throws when the alert cannot be serialised). */
export function formatAlertBody(alert: Alert, format: WebhookTarget['format']): string {
  const at = new Date(alert.at).toISOString();
  if (format === 'slack') return JSON.stringify(slackPayload(alert, at));
  return JSON.stringify({
    kind: alert.kind,
    id: alert.id,
    at,
    summary: alert.summary,
    details: alert.details,
  });
}

// Slack limits: section text 3000 chars, at most 10 fields of 2000 chars each.
const SLACK_TEXT_LIMIT = 3000;
const SLACK_FIELDS = 10;
const SLACK_FIELD_LIMIT = 500;

function truncate(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

// Alert text carries client-controlled data (paths, key names): escaping &, < and > keeps it
// from turning into Slack mentions (`<!channel>`) or links.
function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function detailText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

function slackPayload(alert: Alert, at: string): Record<string, unknown> {
  const summary = truncate(slackEscape(String(alert.summary)), SLACK_TEXT_LIMIT);
  const blocks: Record<string, unknown>[] = [{ type: 'section', text: { type: 'mrkdwn', text: summary } }];
  const entries = Object.entries(alert.details ?? {});
  const shown = entries.length > SLACK_FIELDS ? entries.slice(0, SLACK_FIELDS - 1) : entries;
  const fields = shown.map(([key, value]) => ({
    type: 'mrkdwn',
    text: truncate(`*${slackEscape(key)}*\n${slackEscape(detailText(value))}`, SLACK_FIELD_LIMIT),
  }));
  if (shown.length < entries.length) {
    fields.push({ type: 'mrkdwn', text: `_${entries.length - shown.length} more not shown_` });
  }
  if (fields.length > 0) blocks.push({ type: 'section', fields });
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: truncate(slackEscape(`${alert.kind} · ${alert.id} · ${at}`), SLACK_TEXT_LIMIT),
      },
    ],
  });
  return { text: summary, blocks };
}

// --- retry policy -----------------------------------------------------------------------------

/** Milliseconds from a delta-seconds Retry-After, capped; null for dates and anything malformed. */
export function parseRetryAfter(value: string | string[] | undefined): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string' || !/^\s*\d{1,10}\s*$/.test(text)) return null;
  return Math.min(Number(text.trim()) * 1000, RETRY_AFTER_CAP_MS);
}

type Outcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status: number | null; error: string; retryAfterMs: number | null }
  | { kind: 'fail'; status: number | null; error: string };

// --- options ----------------------------------------------------------------------------------

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`options.${name} must be an integer of at least ${min}`);
  }
  return value;
}

interface Target {
  /** What is requested: no userinfo, no fragment. */
  requestUrl: string;
  /** Basic credentials from the configured URL's userinfo, if any. */
  authorization: string | null;
  /** Origin only: what log lines name (paths can carry tokens, e.g. Slack webhook URLs). */
  origin: string;
  /** Strings that must never leave in a log line or record. */
  confidential: string[];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function resolveTarget(target: WebhookTarget): Target {
  if (target === null || typeof target !== 'object') throw new TypeError('options.target is required');
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new TypeError('options.target.url must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError('options.target.url must be an absolute http or https URL');
  }
  if (target.format !== 'json' && target.format !== 'slack') {
    throw new TypeError("options.target.format must be 'json' or 'slack'");
  }
  if (target.secret !== undefined && (typeof target.secret !== 'string' || target.secret.length === 0)) {
    throw new TypeError('options.target.secret must be a non-empty string when set');
  }
  const confidential: string[] = [];
  if (target.secret) confidential.push(target.secret);
  let authorization: string | null = null;
  if (url.username !== '' || url.password !== '') {
    const user = safeDecode(url.username);
    const password = safeDecode(url.password);
    // undici drops URL userinfo silently; send it the way a browser would, as Basic credentials.
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    confidential.push(
      ...[url.username, url.password, user, password, authorization.slice(6)].filter((s) => s.length >= 3),
    );
    url.username = '';
    url.password = '';
  }
  url.hash = '';
  return { requestUrl: url.href, authorization, origin: url.origin, confidential };
}

// --- the sender -------------------------------------------------------------------------------

interface Job {
  alert: Alert;
  /** The rendered body, or why it could not be rendered. */
  body: { ok: true; text: string } | { ok: false; error: string };
  createdAt: number;
}

class WebhookSenderImpl implements WebhookSender {
  readonly #target: Target;
  readonly #secret: string | undefined;
  readonly #format: WebhookTarget['format'];
  readonly #log: DeliveryLog;
  readonly #logger: AlertLogger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #concurrency: number;

  readonly #queue: Job[] = [];
  /** Deliveries under way: queue workers and deliverNow calls. */
  #delivering = 0;
  #workers = 0;
  /** Every promise drain must wait for (deliveries and records of dropped alerts). */
  readonly #tasks = new Set<Promise<unknown>>();
  #idleWaiters: (() => void)[] = [];

  constructor(options: WebhookSenderOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options are required');
    this.#target = resolveTarget(options.target);
    this.#secret = options.target.secret;
    this.#format = options.target.format;
    if (typeof options.log?.record !== 'function')
      throw new TypeError('options.log.record must be a function');
    if (typeof options.logger?.warn !== 'function') throw new TypeError('options.logger must be a logger');
    this.#log = options.log;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#maxAttempts = integerOption('maxAttempts', options.maxAttempts, 5, 1);
    this.#baseDelayMs = integerOption('baseDelayMs', options.baseDelayMs, 500, 0);
    this.#maxDelayMs = integerOption('maxDelayMs', options.maxDelayMs, 30_000, 0);
    this.#timeoutMs = integerOption('timeoutMs', options.timeoutMs, 5_000, 1);
    this.#maxPending = integerOption('maxPending', options.maxPending, 1_000, 1);
    this.#concurrency = integerOption('concurrency', options.concurrency, 4, 1);
  }

  get pending(): number {
    return this.#queue.length + this.#delivering;
  }

  send(alert: Alert): void {
    try {
      const job = this.#job(alert);
      if (this.pending >= this.#maxPending) {
        // Dropped, not queued: memory stays bounded when the receiver is down during a storm.
        // #finish logs the drop (warn) and records it.
        this.#track(this.#finish(job, 'failed', 0, null, 'queue full'));
        return;
      }
      this.#queue.push(job);
      this.#pump();
    } catch (error) {
      // Only a broken clock or logger gets here; the caller must still not see it.
      this.#safeWarn({ err: this.#describe(error) }, 'alert webhook send failed');
    }
  }

  deliverNow(alert: Alert): Promise<DeliveryRecord> {
    let job: Job;
    try {
      job = this.#job(alert);
    } catch (error) {
      return Promise.resolve(this.#failedRecord(alert, 0, this.#describe(error)));
    }
    this.#delivering++;
    const delivery = this.#deliver(job).finally(() => {
      this.#delivering--;
    });
    this.#track(delivery);
    return delivery;
  }

  drain(timeoutMs?: number): Promise<boolean> {
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return Promise.reject(new TypeError('drain timeoutMs must be a non-negative number'));
    }
    if (this.#idle()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      // Backoff timers are unref'd so an idle sender never holds the process open; while
      // someone waits here, this ref'd timer does, until the work is done or time is up.
      const hold = timeoutMs === undefined ? setInterval(() => {}, 1 << 30) : undefined;
      const deadline = timeoutMs === undefined ? undefined : setTimeout(() => finish(false), timeoutMs);
      const finish = (drained: boolean) => {
        clearInterval(hold);
        clearTimeout(deadline);
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== onIdle);
        if (!drained) {
          this.#safeWarn(
            { target: this.#target.origin, pending: this.pending },
            'alert webhook drain timed out with deliveries pending',
          );
        }
        resolve(drained);
      };
      const onIdle = () => finish(true);
      this.#idleWaiters.push(onIdle);
    });
  }

  #idle(): boolean {
    return this.#queue.length === 0 && this.#tasks.size === 0;
  }

  #track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    void task.finally(() => {
      this.#tasks.delete(task);
      if (this.#idle()) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }

  #pump(): void {
    while (this.#workers < this.#concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#workers++;
      this.#delivering++;
      this.#track(
        this.#deliver(job).finally(() => {
          this.#workers--;
          this.#delivering--;
          this.#pump();
        }),
      );
    }
  }

  #job(alert: Alert): Job {
    const createdAt = this.#clock.now();
    let body: Job['body'];
    try {
      body = { ok: true, text: formatAlertBody(alert, this.#format) };
    } catch (error) {
      body = { ok: false, error: `alert could not be serialised: ${this.#describe(error)}` };
    }
    return { alert, body, createdAt };
  }

  /** Attempts with retries, then the record. Never rejects. */
  async #deliver(job: Job): Promise<DeliveryRecord> {
    try {
      if (!job.body.ok) return await this.#finish(job, 'failed', 0, null, job.body.error);
      let attempts = 0;
      for (;;) {
        attempts++;
        const outcome = await this.#attempt(job.alert, job.body.text);
        if (outcome.kind === 'delivered') {
          return await this.#finish(job, 'delivered', attempts, outcome.status, null);
        }
        if (outcome.kind === 'fail' || attempts >= this.#maxAttempts) {
          return await this.#finish(job, 'failed', attempts, outcome.status, outcome.error);
        }
        const delayMs = outcome.retryAfterMs ?? this.#backoff(attempts);
        this.#logger.debug(
          {
            alertId: job.alert.id,
            target: this.#target.origin,
            attempt: attempts,
            status: outcome.status,
            error: outcome.error,
            delayMs,
          },
          'alert webhook attempt failed; retrying',
        );
        await sleep(delayMs);
      }
    } catch (error) {
      // Defensive: a throwing clock or logger must not leave a rejected promise behind.
      const record = this.#failedRecord(job.alert, 0, this.#describe(error));
      this.#safeWarn({ alertId: record.alertId, err: record.lastError }, 'alert webhook delivery failed');
      return record;
    }
  }

  #backoff(failedAttempts: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (failedAttempts - 1));
    const r = this.#random();
    return Math.floor(ceiling * (Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 1));
  }

  async #attempt(alert: Alert, body: string): Promise<Outcome> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    // The request's own socket keeps the process alive while it is in flight.
    timer.unref();
    try {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        [ALERT_ID_HEADER]: String(alert.id),
      };
      if (this.#secret !== undefined)
        headers[SIGNATURE_HEADER] = signWebhookBody(this.#secret, body, this.#clock.now());
      if (this.#target.authorization !== null) headers['authorization'] = this.#target.authorization;
      const response = await request(this.#target.requestUrl, {
        method: 'POST',
        headers,
        body,
        signal: controller.signal,
      });
      const status = response.statusCode;
      const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      try {
        // Read (and drop) the answer so the connection can be reused; the timeout still applies.
        await response.body.dump({ limit: RESPONSE_BODY_LIMIT });
      } catch {
        // The status is what counts; a broken body after it changes nothing.
      }
      if (status >= 200 && status < 300) return { kind: 'delivered', status };
      const error = `receiver answered ${status}`;
      if (status === 429 || status >= 500) return { kind: 'retry', status, error, retryAfterMs };
      return { kind: 'fail', status, error };
    } catch (error) {
      if (timedOut)
        return {
          kind: 'retry',
          status: null,
          error: `timed out after ${this.#timeoutMs} ms`,
          retryAfterMs: null,
        };
      const text = this.#describe(error);
      // A request undici refuses to build (e.g. an alert id not valid in a header) fails the same way every time.
      if ((error as { code?: unknown } | null)?.code === 'UND_ERR_INVALID_ARG') {
        return { kind: 'fail', status: null, error: text };
      }
      return { kind: 'retry', status: null, error: text, retryAfterMs: null };
    } finally {
      clearTimeout(timer);
    }
  }

  async #finish(
    job: Job,
    status: DeliveryRecord['status'],
    attempts: number,
    lastStatus: number | null,
    lastError: string | null,
    finishedAt = this.#clock.now(),
  ): Promise<DeliveryRecord> {
    const record: DeliveryRecord = {
      id: `dlv_${randomBase62(16)}`,
      alertId: String(job.alert.id),
      kind: String(job.alert.kind),
      url: this.#target.requestUrl,
      status,
      attempts,
      lastStatus,
      lastError: lastError === null ? null : this.#scrub(lastError),
      createdAt: job.createdAt,
      finishedAt,
    };
    const fields = {
      deliveryId: record.id,
      alertId: record.alertId,
      kind: record.kind,
      target: this.#target.origin,
      attempts,
      lastStatus,
      lastError: record.lastError,
    };
    if (status === 'delivered') this.#logger.debug(fields, 'alert webhook delivered');
    else this.#logger.warn(fields, 'alert webhook delivery failed');
    try {
      await this.#log.record(record);
    } catch (error) {
      this.#safeWarn(
        { deliveryId: record.id, alertId: record.alertId, err: this.#describe(error) },
        'alert webhook delivery could not be recorded',
      );
    }
    return record;
  }

  #failedRecord(alert: Alert, attempts: number, lastError: string): DeliveryRecord {
    let now: number;
    try {
      now = this.#clock.now();
    } catch {
      now = Date.now();
    }
    return {
      id: `dlv_${randomBase62(16)}`,
      alertId: String(alert?.id),
      kind: String(alert?.kind),
      url: this.#target.requestUrl,
      status: 'failed',
      attempts,
      lastStatus: null,
      lastError: this.#scrub(lastError),
      createdAt: now,
      finishedAt: now,
    };
  }

  #safeWarn(fields: Record<string, unknown>, message: string): void {
    try {
      this.#logger.warn(fields, message);
    } catch {
      // Nowhere left to report to.
    }
  }

  #describe(error: unknown): string {
    let text: string;
    if (error instanceof Error) {
      const code = (error as { code?: unknown }).code;
      const message = error.message || error.name;
      text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
    } else {
      text = String(error);
    }
    return this.#scrub(text);
  }

  /** Error texts can echo URLs or headers: cut out anything confidential and bound the length. */
  #scrub(text: string): string {
    let out = text;
    for (const secret of this.#target.confidential) out = out.replaceAll(secret, '[redacted]');
    return truncate(out, ERROR_TEXT_LIMIT);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    // Unref'd: a sender waiting to retry must not keep an otherwise finished process alive
    // (drain holds it open when someone actually wants to wait).
    setTimeout(resolve, ms).unref();
  });
}

/** Methods come bound, so `sender.send` can be handed around as a plain callback. */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const impl = new WebhookSenderImpl(options);
  return {
    send: (alert) => impl.send(alert),
    deliverNow: (alert) => impl.deliverNow(alert),
    drain: (timeoutMs) => impl.drain(timeoutMs),
    get pending() {
      return impl.pending;
    },
  };
}
