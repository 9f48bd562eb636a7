/**
 * Forward an allowed request to its upstream and stream the answer back. Nothing is
 * buffered: the request body is piped into undici, the response body is piped to the
 * client as chunks arrive (SSE and chunked responses flush per event/chunk).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { type ErrorCode, statusOf } from '../errors/catalog.js';
import { deny } from '../pipeline/decision.js';
import type { Allow, RequestFacts } from '../pipeline/types.js';
import { upstreamPath } from '../routing/compile.js';
import { IDEMPOTENT_METHODS } from '../routing/spec.js';
import { clientResponseHeadersFromRaw, type HeaderPolicy, upstreamRequestHeaders } from './headers.js';
import { withoutQueryParam } from './identity-headers.js';
import { writeDeny } from './problem-response.js';
import type { UpstreamPools } from './upstreams.js';

export interface ForwardOptions {
  pools: UpstreamPools;
  bodyIdleTimeoutMs: number;
  headerPolicy: HeaderPolicy;
  onUpstreamError?: (facts: RequestFacts, routeId: string, code: ErrorCode, error: Error) => void;
}

/** Outcome of the upstream exchange, for telemetry. */
export interface ForwardResult {
  status: number;
  /** Milliseconds until the upstream's response headers, when it answered. */
  upstreamMs: number | undefined;
  error: ErrorCode | undefined;
  /** Response body bytes relayed from the upstream to the client. */
  bytesOut: number;
}

/** Recorded when the client disconnected before the answer was complete (nginx's convention). */
export const CLIENT_CLOSED = 499;

const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function errorCodeOf(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function classify(error: unknown): ErrorCode {
  return TIMEOUTS.has(errorCodeOf(error) ?? '') ? 'upstream_timeout' : 'upstream_unavailable';
}

/** The query forwarded upstream: unchanged, unless it carried the API key that was checked. */
export function upstreamQuery(facts: RequestFacts, decision: Allow): string {
  const credential = decision.credential;
  if (
    credential?.kind === 'api_key' &&
    credential.from === 'query' &&
    decision.match.route.spec.keep_credential !== true
  ) {
    return withoutQueryParam(facts.query, credential.param);
  }
  return facts.query;
}

/**
 * The upstream exchange of one request, as an undici dispatch handler. The handler API (rather
 * than `pool.request` + a Readable + `pipe`) is used because it is the hot path: no Promise,
 * no body stream, no AbortController per request — measured in docs/benchmarks.md. It uses
 * undici's callback interface (onConnect/onHeaders/onData/onComplete/onError), which
 * `pool.request` itself is built on.
 */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #facts: RequestFacts;
  readonly #routeId: string;
  readonly #options: ForwardOptions;
  readonly #done: (result: ForwardResult) => void;
  #abort: ((error?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #clientGone = false;
  #status = 0;
  #upstreamMs: number | undefined;
  #error: ErrorCode | undefined;
  #bytesOut = 0;
  #extraHeaders: ReadonlyArray<[string, string]> | undefined;
  /** Set while a retry is possible: the dispatch to repeat. */
  retry: (() => void) | undefined;
  retriesLeft: number;

  constructor(
    res: ServerResponse,
    facts: RequestFacts,
    routeId: string,
    options: ForwardOptions,
    retries: number,
    extraHeaders: ReadonlyArray<[string, string]> | undefined,
    done: (result: ForwardResult) => void,
  ) {
    this.#res = res;
    this.#extraHeaders = extraHeaders;
    this.#facts = facts;
    this.#routeId = routeId;
    this.#options = options;
    this.#done = done;
    this.retriesLeft = retries;
    res.on('close', this.#onClientClose);
  }

  // One place reports the outcome: when the client response closes, whatever happened.
  readonly #onClientClose = () => {
    const res = this.#res;
    if (!res.writableFinished) {
      // The client went away before the answer was complete: cancel the upstream request.
      this.#clientGone = true;
      this.#abort?.(new ClientClosedError());
    }
    this.#done({
      status: res.writableFinished || this.#status >= 500 ? this.#status : CLIENT_CLOSED,
      upstreamMs: this.#upstreamMs,
      error: this.#error,
      bytesOut: this.#bytesOut,
    });
  };

  readonly #onDrain = () => this.#resume?.();

  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    if (this.#clientGone) abort(new ClientClosedError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[], resume: () => void): boolean {
    // 1xx informational answers are undici's business; only the final answer is relayed.
    if (statusCode < 200) return true;
    const res = this.#res;
    this.retry = undefined;
    this.#upstreamMs = performance.now() - this.#facts.startedAt;
    this.#status = statusCode;
    this.#resume = resume;
    if (res.destroyed) return false;
    const headers = clientResponseHeadersFromRaw(rawHeaders, this.#facts.requestId);
    if (this.#extraHeaders) for (const [name, value] of this.#extraHeaders) headers.push(name, value);
    res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#bytesOut += chunk.length;
    // Backpressure: returning false pauses the upstream socket until the client drains.
    const ok = this.#res.write(chunk);
    if (!ok) this.#res.once('drain', this.#onDrain);
    return ok;
  }

  onComplete(): void {
    this.#res.end();
  }

  onError(error: Error): void {
    const res = this.#res;
    if (this.#clientGone || res.destroyed) return;
    if (this.retry && this.retriesLeft > 0 && RETRYABLE.has(errorCodeOf(error) ?? '')) {
      this.retriesLeft--;
      this.#abort = undefined;
      this.retry();
      return;
    }
    const code = classify(error);
    this.#error = code;
    this.#options.onUpstreamError?.(this.#facts, this.#routeId, code, error);
    if (res.headersSent) {
      // Mid-body failure: truncate rather than splice an error into a started answer.
      res.destroy();
      return;
    }
    this.#status = statusOf(code);
    writeDeny(
      res,
      deny(
        code,
        code === 'upstream_timeout'
          ? 'the upstream did not answer in time'
          : 'the upstream could not be reached',
      ),
      this.#facts.requestId,
    );
  }
}

class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
  readonly code = 'CLIENT_CLOSED';
  constructor() {
    super('client closed the connection');
  }
}

export function createForwarder(options: ForwardOptions) {
  const { pools, bodyIdleTimeoutMs } = options;

  return function forward(
    req: IncomingMessage,
    res: ServerResponse,
    facts: RequestFacts,
    decision: Allow,
    done: (result: ForwardResult) => void,
  ): void {
    const route = decision.match.route;
    const upstream = route.upstream;
    const pool = pools.get(upstream.origin);
    const withBody = decision.body !== undefined ? decision.body.length > 0 : facts.hasBody;
    // A request whose body has been streamed cannot be replayed; only body-less idempotent
    // requests are retried, and only on connection failures before any response.
    const retries = !withBody && IDEMPOTENT_METHODS.has(facts.method) ? upstream.retries : 0;
    const exchange = new UpstreamExchange(
      res,
      facts,
      route.id,
      options,
      retries,
      decision.responseHeaders,
      done,
    );
    const dispatchOptions: Dispatcher.DispatchOptions = {
      method: facts.method as Dispatcher.HttpMethod,
      path: upstreamPath(route, facts.path) + upstreamQuery(facts, decision),
      headers: upstreamRequestHeaders(
        req.rawHeaders,
        facts.connection,
        facts,
        decision,
        options.headerPolicy,
      ),
      // A body a stage has read (HMAC verification) is forwarded from memory, byte for byte.
      body: decision.body ?? (withBody ? req : null),
      headersTimeout: upstream.timeoutMs,
      bodyTimeout: bodyIdleTimeoutMs,
    };
    if (retries > 0) exchange.retry = () => pool.dispatch(dispatchOptions, exchange);
    pool.dispatch(dispatchOptions, exchange);
  };
}
