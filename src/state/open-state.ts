/**
 * The one place the hot-state backend is chosen (STYLE 2): memory when no Redis URL is
 * configured, Redis for redis:// and rediss://, and a start-up failure for anything else,
 * so a typo cannot quietly turn shared state into per-process state.
 */
import type { Clock } from '../core/clock.js';
import type { StateLogger } from './logger.js';
import { MemoryState } from './memory.js';
import type { RedisTlsFiles } from './redis-target.js';
import type { HotState } from './types.js';

export interface OpenStateOptions {
  /** Unset or empty: in-memory state for this process only. With `redis.cluster`: comma-separated seed nodes. */
  redisUrl?: string | undefined;
  memory?: { maxEntries?: number; maxBytes?: number; sweepIntervalMs?: number };
  redis?: {
    commandTimeoutMs?: number;
    connectTimeoutMs?: number;
    /** Redis Cluster: `redisUrl` lists seed nodes. */
    cluster?: boolean;
    /** rediss:// CA, client certificate and key, server name. */
    tls?: RedisTlsFiles;
  };
  /** Drives TTLs of the memory backend; Redis expires keys by its own clock. */
  clock?: Clock;
  keyPrefix?: string;
  logger?: StateLogger;
}

const ACCEPTED =
  'accepted: unset or empty for in-memory state, redis://[user:password@]host:port[/db], rediss://… for TLS, or comma-separated node URLs for Redis Cluster';

export async function openState(options: OpenStateOptions = {}): Promise<HotState> {
  const redisUrl = options.redisUrl?.trim() ?? '';
  if (redisUrl === '') {
    return new MemoryState({
      ...options.memory,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }
  // A cluster's seed list shares one scheme (RedisState checks the rest).
  const scheme = schemeOf(redisUrl.split(',')[0]!.trim());
  switch (scheme) {
    case 'redis:':
    case 'rediss:': {
      // Loaded only when configured: ioredis is a tenth of a second of every CLI start.
      const { RedisState } = await import('./redis.js');
      return RedisState.connect({
        url: redisUrl,
        ...options.redis,
        ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    }
    default:
      // Name only the scheme: the rest of the value may carry a password.
      throw new Error(
        scheme === undefined
          ? `redisUrl is not a URL (${ACCEPTED})`
          : `redisUrl has unsupported scheme "${scheme}" (${ACCEPTED})`,
      );
  }
}

function schemeOf(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}
