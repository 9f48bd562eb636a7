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
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { withoutQueryParam } from './identity-headers.js';
import { writeDeny } from './problem-response.js';
import type { UpstreamPools } from './upstreams.js';

export interface ForwardOptions {
  pools: UpstreamPools;
  bodyIdleTimeoutMs: number;
  onUpstreamError?: (facts: RequestFacts, routeId: string, code: ErrorCode, error: Error) => void;
}

/** Outcome of the upstream exchange, for telemetry. */
export interface ForwardResult {
  status: number;
  /** Milliseconds until the upstream's response headers, when it answered. */
  upstreamMs: number | undefined;
  error: ErrorCode | undefined;
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

function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
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
    const withBody = decision.body !== undefined ? decision.body.length > 0 : hasRequestBody(req);
    // A request whose body has been streamed cannot be replayed; only body-less idempotent
    // requests are retried, and only on connection failures before any response.
    let retriesLeft = !withBody && IDEMPOTENT_METHODS.has(facts.method) ? upstream.retries : 0;
    const abort = new AbortController();
    let status = 0;
    let upstreamMs: number | undefined;
    let error: ErrorCode | undefined;
    // One place reports the outcome: when the client response closes, whatever happened.
    res.once('close', () => {
      // The client went away before the answer was complete: cancel the upstream request.
      if (!res.writableFinished) abort.abort();
      done({ status: res.writableFinished || status >= 500 ? status : CLIENT_CLOSED, upstreamMs, error });
    });

    const requestOptions: Dispatcher.RequestOptions = {
      method: facts.method as Dispatcher.HttpMethod,
      path: upstreamPath(route, facts.path) + upstreamQuery(facts, decision),
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, facts, decision),
      // A body a stage has read (HMAC verification) is forwarded from memory, byte for byte.
      body: decision.body ?? (withBody ? req : null),
      headersTimeout: upstream.timeoutMs,
      bodyTimeout: bodyIdleTimeoutMs,
      signal: abort.signal,
    };

    const attempt = () => {
      pool.request(requestOptions).then(
        (response) => {
          upstreamMs = performance.now() - facts.startedAt;
          status = response.statusCode;
          const body = response.body;
          if (res.destroyed) {
            body.destroy();
            return;
          }
          res.writeHead(status, clientResponseHeaders(response.headers, facts.requestId));
          // pipe() rather than stream.pipeline(): pipeline allocates an AbortController and
          // listeners per call, measurably slower on this path (bench/README.md). Errors are
          // handled explicitly: a body that fails mid-way truncates the client response.
          body.on('error', () => {
            if (!res.destroyed) res.destroy();
          });
          body.pipe(res);
        },
        (failure: unknown) => {
          if (abort.signal.aborted || res.destroyed) return;
          if (retriesLeft > 0 && RETRYABLE.has(errorCodeOf(failure) ?? '')) {
            retriesLeft--;
            attempt();
            return;
          }
          error = classify(failure);
          options.onUpstreamError?.(facts, route.id, error, failure as Error);
          if (res.headersSent) {
            res.destroy();
            return;
          }
          status = statusOf(error);
          writeDeny(
            res,
            deny(
              error,
              error === 'upstream_timeout'
                ? 'the upstream did not answer in time'
                : 'the upstream could not be reached',
            ),
            facts.requestId,
          );
        },
      );
    };
    attempt();
  };
}
