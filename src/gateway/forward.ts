/**
 * Forward an allowed request to its upstream and stream the answer back. Nothing is
 * buffered: the request body is piped into undici, the response body is piped to the
 * client as chunks arrive (SSE and chunked responses flush per event/chunk).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../errors/catalog.js';
import { deny } from '../pipeline/decision.js';
import type { Allow, RequestFacts } from '../pipeline/types.js';
import { upstreamPath } from '../routing/compile.js';
import { IDEMPOTENT_METHODS } from '../routing/spec.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
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

const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function errorCodeOf(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function classify(error: unknown): ErrorCode {
  return TIMEOUTS.has(errorCodeOf(error) ?? '') ? 'upstream_timeout' : 'upstream_unavailable';
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
    const withBody = hasRequestBody(req);
    // A request whose body has been streamed cannot be replayed; only body-less idempotent
    // requests are retried, and only on connection failures before any response.
    let retriesLeft = !withBody && IDEMPOTENT_METHODS.has(facts.method) ? upstream.retries : 0;
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);

    const requestOptions: Dispatcher.RequestOptions = {
      method: facts.method as Dispatcher.HttpMethod,
      path: upstreamPath(route, facts.path) + facts.query,
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, facts, route),
      body: withBody ? req : null,
      headersTimeout: upstream.timeoutMs,
      bodyTimeout: bodyIdleTimeoutMs,
      signal: abort.signal,
    };

    const attempt = () => {
      pool.request(requestOptions).then(
        (response) => {
          const upstreamMs = performance.now() - facts.startedAt;
          if (res.destroyed) {
            response.body.destroy();
            return;
          }
          res.writeHead(response.statusCode, clientResponseHeaders(response.headers, facts.requestId));
          pipeline(response.body, res, (error) => {
            res.off('close', onClose);
            if (error && !res.destroyed) res.destroy();
            done({ status: response.statusCode, upstreamMs, error: undefined });
          });
        },
        (error: unknown) => {
          if (abort.signal.aborted || res.destroyed) {
            // The client went away: nothing to answer, the upstream request is cancelled.
            res.off('close', onClose);
            done({ status: 499, upstreamMs: undefined, error: undefined });
            return;
          }
          if (retriesLeft > 0 && RETRYABLE.has(errorCodeOf(error) ?? '')) {
            retriesLeft--;
            attempt();
            return;
          }
          res.off('close', onClose);
          const code = classify(error);
          options.onUpstreamError?.(facts, route.id, code, error as Error);
          if (res.headersSent) {
            res.destroy();
          } else {
            writeDeny(
              res,
              deny(code, code === 'upstream_timeout' ? 'the upstream did not answer in time' : 'the upstream could not be reached'),
              facts.requestId,
            );
          }
          done({ status: code === 'upstream_timeout' ? 504 : 502, upstreamMs: undefined, error: code });
        },
      );
    };
    attempt();
  };
}
