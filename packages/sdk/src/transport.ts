/**
 * HTTP transport shared by every SDK client: bearer auth, JSON bodies, a timeout per attempt,
 * retries with exponential backoff and full jitter for idempotent calls only, and a circuit
 * breaker. Built on the global `fetch` (zero dependencies).
 *
 * Only idempotent calls are retried: a POST whose answer was lost may have been applied, and
 * sending it again could create a second client or consume a limit twice (RFC 9110 §9.2.2).
 */
import { type BreakerOptions, type BreakerState, CircuitBreaker } from './breaker.js';
import { PortcullisError, type Problem } from './errors.js';
import { SDK_VERSION } from './version.js';

export interface BackoffOptions {
  /** First retry waits up to this long (full jitter: a random delay in [0, cap)). Default 100. */
  baseMs?: number;
  /** Cap of the exponential delay. Default 2000; `Retry-After` is capped at 4 × this. */
  maxMs?: number;
}

export interface TransportOptions {
  /** Origin (and optional path prefix) every request path is appended to. */
  baseUrl: string | URL;
  /** Sent as `Authorization: Bearer <token>`; never included in errors. */
  token?: string;
  /** Per attempt, from sending to the end of the body. Default 10000. */
  timeoutMs?: number;
  /** Extra attempts for idempotent calls. Default 2. */
  retries?: number;
  backoff?: BackoffOptions;
  /** `false` turns the circuit breaker off. */
  breaker?: BreakerOptions | false;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  userAgent?: string;
  /** Randomness for the jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Waits between attempts. Default: a timer, cut short by the request's `signal`. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Clock of the breaker and of `Retry-After` dates, in ms. Default `Date.now`. */
  now?: () => number;
}

export type QueryValue =
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly (string | number | boolean)[];

export interface TransportRequest {
  method: string;
  /** Appended to the base URL; starts with `/`. */
  path: string;
  /** Appended as `?name=value`; `undefined` and `null` are left out, arrays repeat the name. */
  query?: object;
  /** Sent as JSON. */
  body?: unknown;
  /** Overrides the method's default (GET, HEAD, PUT, DELETE, OPTIONS are idempotent). */
  idempotent?: boolean;
  headers?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
  /** Overrides the transport's `timeoutMs` for this call. */
  timeoutMs?: number;
}

export interface Transport {
  /** The parsed JSON answer (or its text, or undefined when empty); PortcullisError otherwise. */
  request<T = unknown>(request: TransportRequest): Promise<T>;
  /**
   * The Response of a 2xx answer, body unread (streaming exports). Not retried; the timeout
   * covers the wait for the headers, the request's `signal` bounds the body.
   */
  requestRaw(request: TransportRequest): Promise<Response>;
  readonly baseUrl: string;
  readonly breakerState: BreakerState;
}

/** RFC 9110 §9.2.2. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Answers that say "not now" rather than "no": the same request may succeed later. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const METHOD_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
/** RFC 9110 §5.5 field value, and nothing a log line could be split on. */
const TOKEN_PATTERN = /^[\x21-\x7e]{1,4096}$/;
const REDACTED = '[redacted]';

function checkInteger(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${field} must be an integer >= ${min}`);
  }
  return value;
}

function parseBaseUrl(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError('baseUrl must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError('baseUrl must be an absolute http:// or https:// URL');
  // user:pass@ would become a second set of credentials, and end up in error messages.
  if (url.username !== '' || url.password !== '') throw new TypeError('baseUrl must not carry credentials');
  if (url.search !== '' || url.hash !== '') throw new TypeError('baseUrl must not have a query or fragment');
  return url;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Prepared {
  url: URL;
  method: string;
  /** Path without the query, for messages. */
  label: string;
  init: RequestInit;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

class HttpTransport implements Transport {
  readonly #base: URL;
  /** Origin and path prefix without its trailing slash: request paths are appended to it. */
  readonly #prefix: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #fetch: typeof fetch;
  readonly #userAgent: string;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;

  constructor(options: TransportOptions) {
    if (!isRecord(options)) throw new TypeError('options must be an object');
    this.#base = parseBaseUrl(options.baseUrl);
    this.#prefix = this.#base.origin + this.#base.pathname.replace(/\/+$/, '');
    if (
      options.token !== undefined &&
      (typeof options.token !== 'string' || !TOKEN_PATTERN.test(options.token))
    )
      throw new TypeError('token must be a non-empty string of visible ASCII characters');
    this.#token = options.token;
    this.#timeoutMs = checkInteger(options.timeoutMs ?? 10_000, 'timeoutMs', 1);
    this.#retries = checkInteger(options.retries ?? 2, 'retries', 0);
    this.#baseMs = checkInteger(options.backoff?.baseMs ?? 100, 'backoff.baseMs', 0);
    this.#maxMs = checkInteger(options.backoff?.maxMs ?? 2000, 'backoff.maxMs', 0);
    if (this.#maxMs < this.#baseMs) throw new TypeError('backoff.maxMs must be >= backoff.baseMs');
    this.#now = options.now ?? Date.now;
    this.#breaker = options.breaker === false ? undefined : new CircuitBreaker(options.breaker, this.#now);
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') throw new TypeError('fetch must be a function (Node >= 18 has one)');
    this.#fetch = fetchFn;
    this.#userAgent = options.userAgent ?? `portcullis-sdk/${SDK_VERSION}`;
    if (!/^[\x20-\x7e]{1,256}$/.test(this.#userAgent))
      throw new TypeError('userAgent must be 1-256 printable ASCII characters');
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  get baseUrl(): string {
    return this.#base.href;
  }

  get breakerState(): BreakerState {
    return this.#breaker?.state ?? 'closed';
  }

  async request<T = unknown>(request: TransportRequest): Promise<T> {
    const prepared = this.#prepare(request, 'application/json');
    const idempotent = request.idempotent ?? IDEMPOTENT_METHODS.has(prepared.method);
    const attempts = idempotent ? this.#retries + 1 : 1;
    for (let attempt = 1; ; attempt += 1) {
      let failure: PortcullisError;
      try {
        return await this.#attempt<T>(prepared);
      } catch (error) {
        if (!(error instanceof PortcullisError) || attempt >= attempts || !this.#retryable(error))
          throw error;
        failure = error;
      }
      try {
        await this.#sleep(this.#delay(attempt, failure.retryAfterMs), prepared.signal);
      } catch (error) {
        throw this.#aborted(prepared, error, false);
      }
    }
  }

  async requestRaw(request: TransportRequest): Promise<Response> {
    const prepared = this.#prepare(request, 'application/json');
    this.#admit(prepared);
    // A streaming export may outlast any sensible timeout: bound the wait for the headers only.
    const headersTimeout = new AbortController();
    const timer = setTimeout(
      () => headersTimeout.abort(new DOMException('headers timeout', 'TimeoutError')),
      prepared.timeoutMs,
    );
    const signal = prepared.signal
      ? AbortSignal.any([prepared.signal, headersTimeout.signal])
      : headersTimeout.signal;
    let response: Response;
    try {
      response = await this.#fetch(prepared.url, { ...prepared.init, signal });
    } catch (error) {
      clearTimeout(timer);
      throw this.#fault(prepared, error, headersTimeout.signal);
    }
    this.#account(response.status);
    if (response.ok) {
      clearTimeout(timer);
      return response;
    }
    // An error answer is small: its body is read under the same timer.
    let text = '';
    try {
      text = await response.text();
    } catch {
      // The status says enough; a body cut short only loses the problem's detail.
    } finally {
      clearTimeout(timer);
    }
    throw this.#httpError(prepared, response, text);
  }

  #prepare(request: TransportRequest, accept: string): Prepared {
    if (!isRecord(request)) throw new TypeError('request must be an object');
    const { method, path } = request;
    if (typeof method !== 'string' || !METHOD_PATTERN.test(method))
      throw new TypeError('request.method must be an HTTP method token');
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('#'))
      throw new TypeError('request.path must start with "/" and have no fragment');
    const url = new URL(this.#prefix + path);
    // Belt and braces: the token must only ever travel to the configured origin.
    if (url.origin !== this.#base.origin)
      throw new TypeError('request.path must stay on the base URL origin');
    if (request.query !== undefined) appendQuery(url, request.query);

    const headers = new Headers({ accept, 'user-agent': this.#userAgent });
    for (const [name, value] of Object.entries(request.headers ?? {})) headers.set(name, value);
    if (this.#token !== undefined) headers.set('authorization', `Bearer ${this.#token}`);
    const init: RequestInit = { method: method.toUpperCase(), headers, redirect: 'manual' };
    if (request.body !== undefined) {
      headers.set('content-type', 'application/json');
      init.body = JSON.stringify(request.body);
    }
    const timeoutMs =
      request.timeoutMs === undefined
        ? this.#timeoutMs
        : checkInteger(request.timeoutMs, 'request.timeoutMs', 1);
    return {
      url,
      method: method.toUpperCase(),
      label: url.pathname,
      init,
      timeoutMs,
      signal: request.signal,
    };
  }

  #admit(prepared: Prepared): void {
    if (prepared.signal?.aborted) throw this.#aborted(prepared, prepared.signal.reason, false);
    const admission = this.#breaker?.admit() ?? { ok: true };
    if (!admission.ok) {
      throw new PortcullisError(
        `${prepared.method} ${prepared.label}: circuit open after repeated failures of ${this.#base.origin}; not sent`,
        {
          code: 'circuit_open',
          method: prepared.method,
          path: prepared.label,
          retryAfterMs: admission.retryAfterMs,
        },
      );
    }
  }

  async #attempt<T>(prepared: Prepared): Promise<T> {
    this.#admit(prepared);
    const timeout = AbortSignal.timeout(prepared.timeoutMs);
    const signal = prepared.signal ? AbortSignal.any([prepared.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(prepared.url, { ...prepared.init, signal });
      text = await response.text();
    } catch (error) {
      throw this.#fault(prepared, error, timeout);
    }
    this.#account(response.status);
    if (!response.ok) throw this.#httpError(prepared, response, text);
    if (response.status === 204 || response.status === 205 || text === '') return undefined as T;
    if (!/[/+]json\b/i.test(response.headers.get('content-type') ?? '')) return text as T;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new PortcullisError(
        `${prepared.method} ${prepared.label}: answer ${response.status} is not valid JSON`,
        {
          code: 'invalid_response',
          status: response.status,
          method: prepared.method,
          path: prepared.label,
          cause: error,
        },
      );
    }
  }

  #account(status: number): void {
    if (status >= 500) this.#breaker?.failure();
    else this.#breaker?.success();
  }

  #retryable(error: PortcullisError): boolean {
    if (error.code === 'network_error' || error.code === 'timeout') return true;
    return error.status !== undefined && RETRYABLE_STATUS.has(error.status);
  }

  /** Full jitter (random in [0, min(max, base·2^(n-1))]), or the server's Retry-After. */
  #delay(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, this.#maxMs * 4);
    const cap = Math.min(this.#maxMs, this.#baseMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * cap);
  }

  /** A call that got no answer: the caller aborted it, it timed out, or the network failed. */
  #fault(prepared: Prepared, error: unknown, timeout: AbortSignal): PortcullisError {
    if (prepared.signal?.aborted) return this.#aborted(prepared, error);
    this.#breaker?.failure();
    const base = { method: prepared.method, path: prepared.label, cause: error };
    if (timeout.aborted) {
      return new PortcullisError(
        `${prepared.method} ${prepared.label}: no answer within ${prepared.timeoutMs} ms`,
        { code: 'timeout', ...base },
      );
    }
    return new PortcullisError(
      this.#redact(`${prepared.method} ${prepared.label}: ${describeNetworkError(error)}`),
      { code: 'network_error', ...base },
    );
  }

  #aborted(prepared: Prepared, cause: unknown, admitted = true): PortcullisError {
    if (admitted) this.#breaker?.release();
    return new PortcullisError(`${prepared.method} ${prepared.label}: aborted by the caller`, {
      code: 'aborted',
      method: prepared.method,
      path: prepared.label,
      cause,
    });
  }

  #httpError(prepared: Prepared, response: Response, text: string): PortcullisError {
    let problem: Problem | undefined;
    if (/[/+]json\b/i.test(response.headers.get('content-type') ?? '')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (isRecord(parsed)) problem = this.#redactDeep(parsed) as Problem;
      } catch {
        // Not a problem document: the status alone describes the failure.
      }
    }
    const status = response.status;
    const code = typeof problem?.code === 'string' ? problem.code : `http_${status}`;
    const detail = typeof problem?.detail === 'string' ? problem.detail : undefined;
    const title = typeof problem?.title === 'string' ? problem.title : response.statusText;
    const requestId =
      typeof problem?.requestId === 'string'
        ? problem.requestId
        : (response.headers.get('x-request-id') ?? undefined);
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.#now());
    const summary = detail ?? title;
    return new PortcullisError(
      `${prepared.method} ${prepared.label} → ${status} ${code}${summary ? `: ${summary}` : ''}`,
      {
        code,
        status,
        method: prepared.method,
        path: prepared.label,
        ...(detail !== undefined ? { detail } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        ...(problem !== undefined ? { problem } : {}),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      },
    );
  }

  /** A server (or proxy) that echoes request headers must not carry the token into logs. */
  #redact(text: string): string {
    return this.#token === undefined ? text : text.replaceAll(this.#token, REDACTED);
  }

  #redactDeep(value: unknown): unknown {
    if (typeof value === 'string') return this.#redact(value);
    if (Array.isArray(value)) return value.map((item) => this.#redactDeep(item));
    if (isRecord(value)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = this.#redactDeep(item);
      return out;
    }
    return value;
  }
}

function appendQuery(url: URL, query: object): void {
  for (const [name, value] of Object.entries(query) as [string, QueryValue][]) {
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean')
        throw new TypeError(`request.query.${name} must be a string, number, boolean or an array of them`);
      url.searchParams.append(name, String(item));
    }
  }
}

/** undici's `fetch failed` hides the reason in `cause` (ECONNREFUSED, ECONNRESET, …). */
function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return `network error (${cause.code})`;
  if (typeof cause?.message === 'string') return `network error (${cause.message})`;
  return `network error (${error instanceof Error ? error.message : String(error)})`;
}

export function createTransport(options: TransportOptions): Transport {
  return new HttpTransport(options);
}
