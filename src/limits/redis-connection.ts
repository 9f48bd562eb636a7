/**
 * Opens the limiter's own ioredis connection with the same fail-fast behaviour as
 * RedisState.connect (src/state/redis.ts), whose helpers are private to that file: a dead or
 * slow Redis must cost a request at most the command timeout, never queue requests, and
 * reconnect in the background. Kept in step with that file by hand; see README "open questions".
 */
import type { RedisOptions } from 'ioredis';
import { Redis } from 'ioredis';
import type { StateLogger } from '../state/logger.js';
import { LimiterUnavailableError } from './errors.js';

export interface LimiterConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  logger: StateLogger;
}

/** Start-up retries absorb a Redis that starts alongside the gateway without hiding a wrong URL for long. */
const INITIAL_ATTEMPTS = 3;
const INITIAL_RETRY_DELAY_MS = 100;
/** Background reconnect backoff, capped so recovery is noticed within ~2 s of Redis coming back. */
const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2_000;

export async function openLimiterConnection(options: LimiterConnectionOptions): Promise<Redis> {
  const tls = tlsFor(options.url);
  const target = describeTarget(options.url);
  const policy = new ReconnectPolicy();
  const client = new Redis(options.url, {
    ...failFastOptions(options.commandTimeoutMs, options.connectTimeoutMs, policy),
    ...(tls === undefined ? {} : { tls }),
    // Requests arriving in the same tick share one write: the one-round-trip-per-request
    // script then costs one syscall for many requests under load.
    enableAutoPipelining: true,
    connectionName: 'portcullis:limits',
  });
  watchConnection(client, policy, options.logger, target);
  await connectWithin(client, policy, options.connectTimeoutMs, target);
  return client;
}

/**
 * During start-up ioredis does not reconnect on its own (connectWithin drives a few bounded
 * attempts); once a connection has been ready it always does, with capped, jittered backoff.
 */
class ReconnectPolicy {
  established = false;
  readonly retryStrategy = (attempt: number): number | null => {
    if (!this.established) return null;
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 16));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  };
}

/**
 * As in RedisState: no offline queue (a command during an outage fails at once instead of
 * waiting for the outage to end), a command timeout (an open but silent connection), a
 * socket timeout (replace a dead socket), and no replay of a command whose reply was lost
 * (replaying a limit script could count a request twice).
 */
function failFastOptions(
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
    disconnectTimeout: 500,
    retryStrategy: policy.retryStrategy,
  };
}

async function connectWithin(
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
  client.disconnect();
  const elapsed = Math.round(performance.now() - started);
  throw new LimiterUnavailableError(
    'connect',
    `cannot connect to Redis at ${target} (${attempts} attempt${attempts === 1 ? '' : 's'} in ${elapsed} ms): ${messageOf(lastError)}`,
    { cause: lastError },
  );
}

/** An 'error' listener on the connection (ours, not ioredis's console fallback); outages logged once per transition. */
function watchConnection(client: Redis, policy: ReconnectPolicy, logger: StateLogger, target: string): void {
  let down = false;
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  client.on('reconnecting', () => {
    if (down || !policy.established) return;
    down = true;
    logger.warn(
      { target, role: 'limits', err: lastError },
      'redis connection lost; reconnecting in the background, limit checks fail fast meanwhile',
    );
  });
  client.on('close', () => {
    // ioredis 5.11.1 keeps a socketTimeout timer across reconnects that can kill the next,
    // healthy connection (redis/ioredis#2147); see src/state/redis.ts clearStaleSocketTimeout.
    const internals = client as unknown as { socketTimeoutTimer?: NodeJS.Timeout };
    if (internals.socketTimeoutTimer === undefined) return;
    clearTimeout(internals.socketTimeoutTimer);
    internals.socketTimeoutTimer = undefined;
  });
  client.on('ready', () => {
    lastError = undefined;
    if (!down) return;
    down = false;
    logger.info({ target, role: 'limits' }, 'redis connection restored');
  });
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** ioredis enables TLS only for a lowercase 'rediss://'; the URL parser lowercases the scheme. */
function tlsFor(url: string): { servername?: string } | undefined {
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
function describeTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
