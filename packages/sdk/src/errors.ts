/**
 * One error type for everything the SDK's HTTP calls can fail with. Answers of the API are
 * RFC 9457 problem documents; failures that never got an answer carry a client-side code.
 */

/** RFC 9457 problem details as Portcullis writes them (extension members allowed). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  /** Stable snake_case code (docs/errors.md). */
  code?: string;
  requestId?: string;
  [extension: string]: unknown;
}

/** Codes raised by the SDK itself, when no HTTP answer carries one. */
export type ClientErrorCode = 'network_error' | 'timeout' | 'aborted' | 'circuit_open' | 'invalid_response';

export interface PortcullisErrorInit {
  code: string;
  status?: number;
  detail?: string;
  requestId?: string;
  problem?: Problem;
  method?: string;
  path?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

export class PortcullisError extends Error {
  override readonly name = 'PortcullisError';
  /** The problem's `code`, `http_<status>` for an answer without one, or a ClientErrorCode. */
  readonly code: string;
  /** HTTP status of the answer; undefined when there was none (network, timeout, breaker). */
  readonly status: number | undefined;
  readonly detail: string | undefined;
  readonly requestId: string | undefined;
  /** The problem document as received, when the answer carried one. */
  readonly problem: Problem | undefined;
  readonly method: string | undefined;
  /** The path called, without the query string. */
  readonly path: string | undefined;
  /** From `Retry-After`, or the time until the breaker lets a trial through. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, init: PortcullisErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.problem = init.problem;
    this.method = init.method;
    this.path = init.path;
    this.retryAfterMs = init.retryAfterMs;
  }
}

export function isPortcullisError(error: unknown): error is PortcullisError {
  return error instanceof PortcullisError;
}
