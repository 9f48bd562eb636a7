/**
 * The rate limiter's own ioredis connection, opened with the same fail-fast behaviour as the
 * hot state's (src/state/redis-connection.ts): a dead or slow Redis costs a check at most the
 * command timeout, nothing queues while disconnected, nothing is replayed after a reconnect
 * (replaying a limit script could count a request twice), and recovery is automatic.
 */
import { Redis } from 'ioredis';
import type { StateLogger } from '../state/logger.js';
import {
  connectWithin,
  describeTarget,
  failFastOptions,
  messageOf,
  ReconnectPolicy,
  RedisConnectError,
  tlsFor,
  watchConnection,
} from '../state/redis-connection.js';
import { LimiterUnavailableError } from './errors.js';

export { messageOf };

export interface LimiterConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  logger: StateLogger;
}

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
  watchConnection(client, policy, options.logger, target, 'limits');
  try {
    await connectWithin(client, policy, options.connectTimeoutMs, target);
  } catch (err) {
    client.disconnect();
    if (err instanceof RedisConnectError)
      throw new LimiterUnavailableError('connect', err.message, { cause: err.cause });
    throw err;
  }
  return client;
}
