/**
 * Rules between settings, checked once every value is resolved (each setting's own parse has
 * already passed): Redis Cluster and TLS against the Redis URL, PostgreSQL TLS against the
 * database URL, and the TLS files themselves (readable, holding PEM), so a wrong file stops
 * the start with its setting's name instead of failing a handshake later.
 */
import { isAbsolute, resolve } from 'node:path';
import { readPem } from '../core/pem.js';
import { parseRedisTarget } from '../state/redis-target.js';
import { envName, type SettingKey, type Settings } from './settings.js';

/** A rule between settings is broken; `key` is the setting to name in the error. */
export class CombinationError extends Error {
  readonly key: SettingKey;
  constructor(key: SettingKey, reason: string) {
    super(reason);
    this.name = 'CombinationError';
    this.key = key;
  }
}

type FileKey = 'redisTlsCa' | 'redisTlsCert' | 'redisTlsKey' | 'databaseTlsCa';

const REDIS_TLS_KEYS = ['redisTlsCa', 'redisTlsCert', 'redisTlsKey', 'redisTlsServername'] as const;
/** Query parameters through which a PostgreSQL URL sets TLS itself (pg-connection-string's). */
const URL_TLS_PARAMETERS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'uselibpqcompat'];

/**
 * Throws a CombinationError for the first broken rule. Returns the TLS file settings resolved
 * against `cwd` (relative paths in the config file or .env mean the working directory).
 */
export function checkCombinations(settings: Settings, cwd: string): Partial<Record<FileKey, string>> {
  const paths: Partial<Record<FileKey, string>> = {};
  const file = (key: FileKey, what: string, kind: 'CERTIFICATE' | 'PRIVATE KEY') => {
    const given = settings[key];
    if (given === undefined) return;
    const path = isAbsolute(given) ? given : resolve(cwd, given);
    try {
      readPem(path, what, kind);
    } catch (err) {
      throw new CombinationError(key, (err as Error).message);
    }
    paths[key] = path;
  };

  const redisUrl = settings.redisUrl;
  if (redisUrl === undefined) {
    if (settings.redisCluster)
      throw new CombinationError(
        'redisCluster',
        `needs ${envName('redisUrl')} (the seed nodes of the cluster)`,
      );
    for (const key of REDIS_TLS_KEYS) {
      if (settings[key] !== undefined)
        throw new CombinationError(key, `applies to Redis over TLS, but ${envName('redisUrl')} is unset`);
    }
  } else {
    let tls: boolean;
    try {
      tls = parseRedisTarget(redisUrl, settings.redisCluster, {
        url: envName('redisUrl'),
        cluster: envName('redisCluster'),
      }).tls;
    } catch (err) {
      throw new CombinationError('redisUrl', (err as Error).message);
    }
    for (const key of REDIS_TLS_KEYS) {
      if (settings[key] !== undefined && !tls)
        throw new CombinationError(
          key,
          `${envName('redisUrl')} uses redis:// (plaintext), so TLS settings would be ignored: use rediss://`,
        );
    }
    if ((settings.redisTlsCert === undefined) !== (settings.redisTlsKey === undefined)) {
      const [given, missing] =
        settings.redisTlsCert === undefined
          ? (['redisTlsKey', 'redisTlsCert'] as const)
          : (['redisTlsCert', 'redisTlsKey'] as const);
      throw new CombinationError(
        given,
        `needs ${envName(missing)} too (a client certificate and its key go together)`,
      );
    }
    file('redisTlsCa', 'Redis CA', 'CERTIFICATE');
    file('redisTlsCert', 'Redis client certificate', 'CERTIFICATE');
    file('redisTlsKey', 'Redis client key', 'PRIVATE KEY');
  }

  const databaseUrl = settings.databaseUrl ?? '';
  const postgres = /^postgres(?:ql)?:/i.test(databaseUrl);
  for (const key of ['databaseTls', 'databaseTlsCa'] as const) {
    if (settings[key] !== undefined && !postgres)
      throw new CombinationError(
        key,
        `applies to PostgreSQL only (${envName('databaseUrl')} is not postgres://)`,
      );
  }
  if (postgres && settings.databaseTls !== undefined) {
    const parameters = urlParameters(databaseUrl);
    const clash = URL_TLS_PARAMETERS.find((name) => parameters.has(name));
    if (clash !== undefined)
      throw new CombinationError(
        'databaseTls',
        `${envName('databaseUrl')} sets TLS itself (${clash}=…): set TLS in one place, the URL or ${envName('databaseTls')}`,
      );
  }
  if (
    settings.databaseTlsCa !== undefined &&
    settings.databaseTls !== 'verify-ca' &&
    settings.databaseTls !== 'verify-full'
  )
    throw new CombinationError(
      'databaseTlsCa',
      `is used to verify the server, so it needs ${envName('databaseTls')} verify-ca or verify-full`,
    );
  file('databaseTlsCa', 'PostgreSQL CA', 'CERTIFICATE');
  return paths;
}

function urlParameters(url: string): URLSearchParams {
  try {
    return new URL(url).searchParams;
  } catch {
    return new URLSearchParams();
  }
}
