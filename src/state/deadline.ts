/**
 * The deadline of a Redis command on the request path (RedisState, RedisLimiter), measured so
 * that a stall of the gateway's own event loop is not mistaken for a slow Redis.
 */

/**
 * A command got no reply within its deadline. The message says "timed out", as ioredis's own
 * does: src/state/redis.ts and src/limits/redis.ts classify faults by it.
 */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`Command timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Settle as `promise` does, or reject with DeadlineExceededError when it is still pending
 * `ms` after the call.
 *
 * Why not a plain timer (as ioredis's `commandTimeout`): when the event loop stalls (GC, a
 * long synchronous task, CPU starvation) past the deadline, the loop's next turn runs due
 * timers before the poll phase reads the sockets, so a reply that arrived in time is still
 * unread and the command would be declared timed out although Redis answered. Here the
 * expired timer defers its verdict by one `setImmediate`: the check phase comes after the
 * poll phase, by which time any reply already in the socket has been parsed and its promise
 * settled (the resolution's microtasks run right after each I/O callback).
 */
export function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let pending = true;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!pending) return;
        pending = false;
        reject(new DeadlineExceededError(ms));
      });
    }, ms);
    promise.then(
      (value) => {
        pending = false;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        pending = false;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
