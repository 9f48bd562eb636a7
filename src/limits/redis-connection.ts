/**
 * The rate limiter's own ioredis connection (standalone or Redis Cluster), opened with the
 * same fail-fast behaviour as the hot state's (src/state/redis-connection.ts): a dead or slow
 * Redis costs a check at most the command timeout, nothing queues while disconnected, nothing
 * is replayed after a reconnect (replaying a limit script could count a request twice), and
 * recovery is automatic.
 */
import type { StateLogger } from '../state/logger.js';
import { connectRedis, messageOf, type RedisClient, RedisConnectError } from '../state/redis-connection.js';
import type { RedisTarget, RedisTlsFiles } from '../state/redis-target.js';
import { LimiterUnavailableError } from './errors.js';

export { messageOf };

export interface LimiterConnectionOptions {
  target: RedisTarget;
  tls?: RedisTlsFiles | undefined;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  logger: StateLogger;
}

export async function openLimiterConnection(options: LimiterConnectionOptions): Promise<RedisClient> {
  try {
    const { client } = await connectRedis({
      ...options,
      role: 'limits',
      connectionName: 'portcullis:limits',
      // Requests arriving in the same tick share one write: the one-round-trip-per-request
      // script then costs one syscall for many requests under load.
      autoPipelining: true,
    });
    return client;
  } catch (err) {
    if (err instanceof RedisConnectError)
      throw new LimiterUnavailableError('connect', err.message, { cause: err.cause });
    throw err;
  }
}
