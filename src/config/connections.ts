/**
 * The connection settings in the shape the openers take, so every place that opens the store,
 * the state or the limiter (the gateway, the CLI) connects the same way.
 */
import type { RedisTlsFiles } from '../state/redis-target.js';
import type { PostgresTls } from '../store/open-store.js';
import type { Settings } from './settings.js';

export interface RedisConnectionSettings {
  cluster: boolean;
  tls?: RedisTlsFiles;
}

export function redisConnection(settings: Settings): RedisConnectionSettings {
  const tls: RedisTlsFiles = {
    caFile: settings.redisTlsCa,
    certFile: settings.redisTlsCert,
    keyFile: settings.redisTlsKey,
    servername: settings.redisTlsServername,
  };
  const anyTls = Object.values(tls).some((value) => value !== undefined);
  return { cluster: settings.redisCluster, ...(anyTls ? { tls } : {}) };
}

export interface DatabaseConnectionSettings {
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  tls?: PostgresTls;
}

/** Everything but the pool size, which the gateway and the CLI size differently. */
export function databaseConnection(settings: Settings): DatabaseConnectionSettings {
  return {
    idleTimeoutMs: settings.databaseIdleTimeout,
    connectTimeoutMs: settings.databaseConnectTimeout,
    ...(settings.databaseTls === undefined
      ? {}
      : { tls: { mode: settings.databaseTls, caFile: settings.databaseTlsCa } }),
  };
}
