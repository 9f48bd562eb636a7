/**
 * Faults of the hot-state layer. Callers branch on `code`, never on message text: a state
 * fault on the request path becomes a failsafe decision (503 or fail-open, by policy), never
 * a 401/403, so it must be told apart from a denial (STYLE 4).
 */
export type StateErrorCode =
  /** The state was closed; the caller is using it after shutdown. */
  | 'ERR_STATE_CLOSED'
  /** The backend could not be reached at start-up. */
  | 'ERR_STATE_CONNECT'
  /** The backend is unreachable or too slow right now (disconnected, timed out). */
  | 'ERR_STATE_UNAVAILABLE'
  /** `incr` met a stored value that is not an integer, or the result would overflow. */
  | 'ERR_STATE_NOT_INTEGER'
  /** An argument broke the contract (bad ttl, bad increment, oversized key). A bug in the caller. */
  | 'ERR_STATE_INVALID_ARGUMENT'
  /** The backend answered with an unexpected error (e.g. Redis OOM, READONLY replica). */
  | 'ERR_STATE_BACKEND';

export class StateError extends Error {
  readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateError';
    this.code = code;
  }
}

export function isStateError(value: unknown, code?: StateErrorCode): value is StateError {
  return value instanceof StateError && (code === undefined || value.code === code);
}
