/**
 * The one fault a limiter reports. The caller maps it to the route's degraded mode (`local`:
 * enforce a share of the limit in memory, `open`, or `closed`: 503 `failsafe_closed`), never
 * to a 429 or a 401/403: the client did nothing wrong, the limiter could not answer.
 */
export type LimiterUnavailableReason =
  /** The backend could not be reached at start-up (`RedisLimiter.connect`). */
  | 'connect'
  /** Disconnected right now: the command failed at once (no offline queue). */
  | 'unreachable'
  /** Connected but no answer within the command timeout (partition, stalled server). */
  | 'timeout'
  /** The backend answered with an error (OOM, READONLY replica, script error). */
  | 'backend'
  /** The limiter was closed (shutdown); a late request gets this instead of a hang. */
  | 'closed';

export class LimiterUnavailableError extends Error {
  readonly code = 'ERR_LIMITER_UNAVAILABLE' as const;
  readonly reason: LimiterUnavailableReason;
  constructor(reason: LimiterUnavailableReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LimiterUnavailableError';
    this.reason = reason;
  }
}

export function isLimiterUnavailable(value: unknown): value is LimiterUnavailableError {
  return value instanceof LimiterUnavailableError;
}
