/**
 * Fail-fast ioredis connections, shared by the hot state (src/state/redis.ts) and the Redis
 * rate limiter (src/limits/redis.ts): a dead or slow Redis costs a request at most the command
 * timeout, commands never queue while disconnected, a command in flight when the link drops is
 * failed rather than replayed (a replayed INCR or limit script would count twice), and the
 * connection recovers in the background.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { StateLogger } from './logger.js';

/** Redis could not be reached at start-up; `cause` is the last underlying error. */
export class RedisConnectError extends Error {
  override readonly name = 'RedisConnectError';
}

/** Start-up retries absorb a Redis that starts alongside the gateway without hiding a wrong URL for long. */
export const INITIAL_ATTEMPTS = 3;
export const INITIAL_RETRY_DELAY_MS = 100;
/** Background reconnect backoff, capped so recovery is noticed within ~2 s of Redis coming back. */
export const RECONNECT_BASE_MS = 50;
export const RECONNECT_MAX_MS = 2_000;

/**
 * Decides whether ioredis reconnects. During start-up it does not (connectWithin drives a
 * few bounded attempts and then reports the failure); once a connection has been ready,
 * it always does, with capped exponential backoff.
 */
export class ReconnectPolicy {
  established = false;
  readonly retryStrategy = (attempt: number): number | null => {
    if (!this.established) return null;
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 16));
    // Jitter spreads the reconnects of many gateway instances after a Redis restart.
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  };
}

/**
 * The options that make a dead Redis cost little:
 * - enableOfflineQueue false: while disconnected a command is rejected at once instead of
 *   queued; a queue would hold every request of the outage and then flood Redis on recovery.
 * - commandTimeout: bounds a command on a connection that is open but unresponsive
 *   (partition, stopped server), which no queue setting can detect.
 * - socketTimeout: when replies stop while commands are pending, the socket is declared dead
 *   and destroyed, so the reconnect starts instead of every request timing out in turn.
 * - maxRetriesPerRequest 0 and autoResendUnfulfilledCommands false: a command in flight when
 *   the connection drops is failed, not replayed: its reply was lost, not necessarily the
 *   command, and replaying INCR or SET NX could count twice or reject a legitimate nonce.
 */
export function failFastOptions(
  commandTimeoutMs: number,
  connectTimeoutMs: number,
  policy: ReconnectPolicy,
): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    socketTimeout: Math.max(1_000, commandTimeoutMs * 5),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    keepAlive: 10_000,
    // ioredis arms this timer (ref'd) on every disconnect, also for a socket that is already
    // gone, where nothing clears it: the 2 s default would hold up process exit on shutdown.
    disconnectTimeout: 500,
    retryStrategy: policy.retryStrategy,
  };
}

/** Connect within `budgetMs`, retrying a few times; reject with the real cause (not "Connection is closed"). */
export async function connectWithin(
  client: Redis,
  policy: ReconnectPolicy,
  budgetMs: number,
  target: string,
): Promise<void> {
  const started = performance.now();
  let attemptError: unknown;
  let lastError: unknown;
  const onError = (err: unknown): void => {
    attemptError = err;
  };
  client.on('error', onError);
  let attempts = 0;
  try {
    for (;;) {
      attempts++;
      attemptError = undefined;
      const remaining = Math.max(1, budgetMs - (performance.now() - started));
      try {
        // The race also bounds a server that accepts TCP but never finishes the handshake
        // (wrong service on the port, Redis still loading its dataset).
        await withDeadline(client.connect(), remaining, `not ready within ${budgetMs} ms`);
        policy.established = true;
        return;
      } catch (err) {
        lastError = attemptError ?? err;
        if (client.status !== 'end' && client.status !== 'wait') client.disconnect();
      }
      const delay = INITIAL_RETRY_DELAY_MS * 2 ** (attempts - 1);
      if (attempts >= INITIAL_ATTEMPTS || performance.now() - started + delay >= budgetMs) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  } finally {
    client.off('error', onError);
  }
  const elapsed = Math.round(performance.now() - started);
  throw new RedisConnectError(
    `cannot connect to Redis at ${target} (${attempts} attempt${attempts === 1 ? '' : 's'} in ${elapsed} ms): ${messageOf(lastError)}`,
    { cause: lastError },
  );
}

/**
 * Keep an 'error' listener on every connection (an EventEmitter 'error' without one is a
 * crash in Node; ioredis prints instead, but either way it must be ours) and log outages
 * once per transition, not once per failed reconnect attempt.
 */
export function watchConnection(
  client: Redis,
  policy: ReconnectPolicy,
  logger: StateLogger,
  target: string,
  role: string,
): void {
  let down = false;
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  client.on('reconnecting', () => {
    if (down || !policy.established) return;
    down = true;
    logger.warn(
      { target, role, err: lastError },
      'redis connection lost; reconnecting in the background, commands fail fast meanwhile',
    );
  });
  client.on('close', () => {
    clearStaleSocketTimeout(client);
  });
  client.on('ready', () => {
    lastError = undefined;
    if (!down) return;
    down = false;
    logger.info({ target, role }, 'redis connection restored');
  });
}

/**
 * ioredis 5.11.1 keeps the socketTimeout timer on the client, not the socket: armed on a
 * connection that then drops, it fires later and destroys the healthy replacement
 * connection, failing the requests in flight just after a recovery (redis/ioredis#2147,
 * fixed upstream by #2148 in a later major). Clearing it whenever a connection closes lets
 * the next connection arm its own. Harmless once the fix is installed.
 */
export function clearStaleSocketTimeout(client: Redis): void {
  const internals = client as unknown as { socketTimeoutTimer?: NodeJS.Timeout };
  if (internals.socketTimeoutTimer === undefined) return;
  clearTimeout(internals.socketTimeoutTimer);
  internals.socketTimeoutTimer = undefined;
}

export function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * TLS from the scheme. ioredis enables TLS only for a lowercase 'rediss://' prefix, so
 * 'REDISS://' would silently connect in plaintext; the URL parser lowercases the scheme.
 */
export function tlsFor(url: string): { servername?: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('options.url must be a redis:// or rediss:// URL');
  }
  if (parsed.protocol === 'redis:') return undefined;
  if (parsed.protocol === 'rediss:') return {};
  throw new TypeError(`options.url must be a redis:// or rediss:// URL (got scheme "${parsed.protocol}")`);
}

/** Host, port and db for messages and logs; never the credentials in the URL. */
export function describeTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
