/**
 * Every configuration knob, declared once. Each setting's names in the other sources are
 * derived from its camelCase key: `proxyListen` is `--proxy-listen` on the command line,
 * `PORTCULLIS_PROXY_LISTEN` in the environment and `.env`, and `settings.proxy_listen` in
 * the config file. Presets only pick defaults; any explicitly set value wins.
 */
import { BlockList, isIP } from 'node:net';
import { DEFAULT_RULES, formatRules, parseRules } from '../anomaly/rules.js';
import { normalizeCidr } from '../net/cidr.js';
import { splitUrlList } from '../state/redis-target.js';

export const PRESETS = ['balanced', 'performance', 'strict'] as const;
export type Preset = (typeof PRESETS)[number];

export interface ListenAddress {
  host: string;
  port: number;
}

/** A raw value as found in a source: strings from flags/env, any YAML scalar or list from a file. */
export type RawValue = string | number | boolean | readonly unknown[] | null;

interface SettingDef<T> {
  description: string;
  /** Value is a secret: masked by `config show`, never printed in errors. */
  secret?: boolean;
  /** Default for each preset; a function gets the settings resolved so far (for derived defaults). */
  default: T | ((preset: Preset) => T);
  /** Turn a raw source value into T or throw an Error whose message is the reason. */
  parse(raw: RawValue): T;
}

function def<T>(d: SettingDef<T>): SettingDef<T> {
  return d;
}

function asString(raw: RawValue): string {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new Error('expected a single value');
}

function optionalString(raw: RawValue): string | undefined {
  if (raw === null) return undefined;
  const s = asString(raw);
  return s === '' ? undefined : s;
}

function integer(min: number, max: number) {
  return (raw: RawValue): number => {
    const s = asString(raw);
    if (!/^\d+$/.test(s)) throw new Error(`expected a whole number between ${min} and ${max}`);
    const n = Number(s);
    if (n < min || n > max) throw new Error(`expected a whole number between ${min} and ${max}`);
    return n;
  };
}

function boolean(raw: RawValue): boolean {
  const s = asString(raw).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new Error('expected true or false');
}

function oneOf<const T extends string>(values: readonly T[]) {
  return (raw: RawValue): T => {
    const s = asString(raw).toLowerCase();
    if (!(values as readonly string[]).includes(s)) throw new Error(`expected one of ${values.join(', ')}`);
    return s as T;
  };
}

function list(raw: RawValue): string[] {
  if (raw === null) return [];
  if (Array.isArray(raw)) return raw.map((v) => asString(v as RawValue)).filter((v) => v !== '');
  return asString(raw)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function parseListen(raw: RawValue): ListenAddress {
  const s = asString(raw);
  let host = '0.0.0.0';
  let portText = s;
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s);
  if (bracketed) {
    host = bracketed[1] as string;
    portText = bracketed[2] as string;
    if (isIP(host) !== 6) throw new Error('invalid IPv6 address');
  } else if (s.includes(':')) {
    const at = s.lastIndexOf(':');
    host = s.slice(0, at) || '0.0.0.0';
    portText = s.slice(at + 1);
    if (host.includes(':')) throw new Error('write IPv6 addresses in brackets: [::1]:8080');
  }
  if (!/^\d{1,5}$/.test(portText)) throw new Error('expected host:port, [ipv6]:port or a port number');
  const port = Number(portText);
  if (port > 65535) throw new Error('port must be between 0 and 65535');
  return { host, port };
}

export function parseCidrList(raw: RawValue): string[] {
  const entries = list(raw);
  const probe = new BlockList();
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR`);
    const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
    if (prefix === '' || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
      throw new Error(`"${entry}" has an invalid prefix length`);
    }
    probe.addSubnet(address as string, bits, family === 4 ? 'ipv4' : 'ipv6');
  }
  return entries;
}

/** A file path; whether it is readable and holds PEM is checked with the other settings (load.ts). */
function optionalPath(raw: RawValue): string | undefined {
  return optionalString(raw);
}

function url(schemes: readonly string[]) {
  return (raw: RawValue): string | undefined => {
    const s = optionalString(raw);
    if (s === undefined) return undefined;
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(s)?.[1]?.toLowerCase();
    if (!scheme || !schemes.includes(scheme))
      throw new Error(`expected a URL starting with ${schemes.join(': or ')}:`);
    if (scheme !== 'sqlite') {
      try {
        new URL(s);
      } catch {
        throw new Error('not a valid URL');
      }
    }
    return s;
  };
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "30m", "12h", "7d" → milliseconds, within [min, max] (durations, as the message shows them).
 * A bare whole number is milliseconds: the settings table shows defaults that way.
 */
function duration(min: string, max: string) {
  const toMs = (text: string): number | undefined => {
    const match = /^(\d{1,12})([smhd]?)$/.exec(text);
    if (!match) return undefined;
    return Number(match[1]) * (match[2] ? (DURATION_UNITS[match[2]] as number) : 1);
  };
  const [minMs, maxMs] = [toMs(min) as number, toMs(max) as number];
  return (raw: RawValue): number => {
    const ms = toMs(asString(raw).toLowerCase());
    if (ms === undefined || ms < minMs || ms > maxMs)
      throw new Error(`expected a duration like 30m, 12h or 7d (or milliseconds), from ${min} to ${max}`);
    return ms;
  };
}

export const settingDefs = {
  preset: def<Preset>({
    description: 'Default profile: balanced, performance or strict (picks defaults only)',
    default: 'balanced',
    parse: oneOf(PRESETS),
  }),
  proxyListen: def<ListenAddress>({
    description: 'Address of the proxy listener (routed traffic and /_portcullis/)',
    default: { host: '0.0.0.0', port: 8080 },
    parse: parseListen,
  }),
  adminListen: def<ListenAddress>({
    description: 'Address of the admin listener (admin API, console, /metrics, /healthz, /readyz)',
    default: { host: '127.0.0.1', port: 8081 },
    parse: parseListen,
  }),
  console: def<boolean>({
    description: 'Serve the web console at /admin/ui/ on the admin listener (true or false)',
    default: true,
    parse: boolean,
  }),
  consoleDir: def<string | undefined>({
    description:
      'Folder of a built console to serve instead of the bundled one (development of the console); empty: the bundled build',
    default: undefined,
    parse: optionalString,
  }),
  adminPassword: def<string | undefined>({
    description:
      'Password for the first admin user (admin) created at first start; random and printed once if unset (12 to 1024 characters)',
    secret: true,
    default: undefined,
    parse: (raw) => {
      const s = optionalString(raw);
      if (s === undefined) return s;
      // The rule of admin/auth/passwords.ts, checked here so a bad value stops the start.
      const length = [...s.normalize('NFKC')].length;
      if (length < 12 || length > 1024) throw new Error('must be 12 to 1024 characters long');
      return s;
    },
  }),
  adminSessionTtl: def<number>({
    description:
      'How long an admin login session lasts: 30m, 12h, 7d… from 5m to 30d (default 12h, shown here in ms)',
    default: 12 * 3_600_000,
    parse: duration('5m', '30d'),
  }),
  dataDir: def<string>({
    description: 'Folder for the embedded database and the generated secret key',
    default: './data',
    parse: (raw) => {
      const s = asString(raw);
      if (s === '') throw new Error('must not be empty');
      return s;
    },
  }),
  databaseUrl: def<string | undefined>({
    description: 'sqlite:<file> (default: sqlite:<data_dir>/portcullis.db) or postgres://…',
    secret: true,
    default: undefined,
    parse: url(['sqlite', 'postgres', 'postgresql']),
  }),
  databasePoolSize: def<number>({
    description: 'Most PostgreSQL connections each instance keeps open (pool size)',
    default: 10,
    parse: integer(1, 500),
  }),
  databaseIdleTimeout: def<number>({
    description:
      'How long an unused pooled PostgreSQL connection stays open: 1s to 1h (default 10s, shown here in ms)',
    default: 10_000,
    parse: duration('1s', '1h'),
  }),
  databaseConnectTimeout: def<number>({
    description:
      'Longest wait to open a PostgreSQL connection, or for a free one when the pool is full, before the query fails: 100 (ms) to 60s (default 10s)',
    default: 10_000,
    parse: duration('100', '60s'),
  }),
  databaseTls: def<'disable' | 'require' | 'verify-ca' | 'verify-full' | undefined>({
    description:
      "TLS to PostgreSQL: disable, require (encrypted, server not verified), verify-ca (certificate signed by database_tls_ca or a system CA), verify-full (and issued for the URL's host); unset: as database_url says (sslmode=…), else none",
    default: undefined,
    parse: (raw) => {
      const s = optionalString(raw);
      return s === undefined
        ? undefined
        : oneOf(['disable', 'require', 'verify-ca', 'verify-full'] as const)(s);
    },
  }),
  databaseTlsCa: def<string | undefined>({
    description:
      'PEM file of the CA(s) that sign the PostgreSQL server certificate (with database_tls verify-ca or verify-full)',
    default: undefined,
    parse: optionalPath,
  }),
  redisUrl: def<string | undefined>({
    description:
      'Unset: in-memory state (one instance). redis:// or rediss:// for shared state; with redis_cluster, the seed nodes of a Redis Cluster as comma-separated URLs',
    secret: true,
    default: undefined,
    parse: (raw) => {
      // One URL, or a list of node URLs (comma-separated, or a YAML list in the config file);
      // whether a list is allowed is checked with redis_cluster.
      const entries = Array.isArray(raw) ? list(raw) : raw === null ? [] : splitUrlList(asString(raw));
      if (entries.length === 0) return undefined;
      for (const entry of entries) url(['redis', 'rediss'])(entry);
      return entries.join(',');
    },
  }),
  redisCluster: def<boolean>({
    description:
      'Redis Cluster: redis_url names seed nodes (one or more, comma-separated; the rest is discovered). true or false',
    default: false,
    parse: boolean,
  }),
  redisTlsCa: def<string | undefined>({
    description:
      'PEM file of the CA(s) that sign the Redis server certificate (rediss:// only; unset: the system CAs)',
    default: undefined,
    parse: optionalPath,
  }),
  redisTlsCert: def<string | undefined>({
    description: 'PEM file of a client certificate for Redis (rediss://, with redis_tls_key)',
    default: undefined,
    parse: optionalPath,
  }),
  redisTlsKey: def<string | undefined>({
    description:
      "PEM file of the client certificate's private key (rediss://, with redis_tls_cert; never logged)",
    default: undefined,
    parse: optionalPath,
  }),
  redisTlsServername: def<string | undefined>({
    description:
      'Name the Redis server certificate must be issued for (and the SNI sent) when it differs from the host in redis_url, e.g. nodes reached by IP address',
    default: undefined,
    parse: (raw) => {
      const s = optionalString(raw);
      if (s !== undefined && !/^[A-Za-z0-9.-]{1,253}$/.test(s)) throw new Error('expected a host name');
      return s;
    },
  }),
  redisTimeout: def<number>({
    description:
      "How long one Redis command may take before the request is decided by the route's degraded mode (local, open or closed): 100 (ms) by default, from 10 to 10s",
    default: 100,
    parse: duration('10', '10s'),
  }),
  secretKey: def<string | undefined>({
    description: '32+ random bytes (hex or base64); generated into the data folder if unset',
    secret: true,
    default: undefined,
    parse: optionalString,
  }),
  upstreamUrl: def<string | undefined>({
    description: 'Catch-all upstream created (requiring an API key) on first start',
    default: undefined,
    parse: url(['http', 'https']),
  }),
  trustedProxies: def<string[]>({
    description:
      'CIDRs whose forwarding headers are believed (comma-separated); forward-auth callers must be in it',
    default: [],
    parse: parseCidrList,
  }),
  clientIpHeader: def<'x-forwarded-for' | 'x-real-ip' | 'cf-connecting-ip' | 'x-original-client-ip'>({
    description:
      'Header a trusted proxy names the client in: x-forwarded-for, x-real-ip, cf-connecting-ip or x-original-client-ip',
    default: 'x-forwarded-for',
    parse: oneOf(['x-forwarded-for', 'x-real-ip', 'cf-connecting-ip', 'x-original-client-ip'] as const),
  }),
  globalIpAllow: def<string[]>({
    description:
      'Global IP allow-list (CIDRs): when set, only these client addresses reach any route; empty allows all',
    default: [],
    parse: (raw) => parseCidrList(raw).map(normalizeCidr),
  }),
  globalIpDeny: def<string[]>({
    description: 'Global IP deny-list (CIDRs), checked before anything else',
    default: [],
    parse: (raw) => parseCidrList(raw).map(normalizeCidr),
  }),
  failsafe: def<'open' | 'closed'>({
    description:
      'When neither the database nor shared state can answer a key-binding question: closed answers 503 failsafe_closed, open lets the request through (logged)',
    default: (preset) => (preset === 'performance' ? 'open' : 'closed'),
    parse: oneOf(['open', 'closed'] as const),
  }),
  archiveDays: def<number>({
    description: 'Key-IP bindings unused for this many days are archived; the next request binds again',
    default: 90,
    parse: integer(1, 3650),
  }),
  interceptAlertThreshold: def<number>({
    description:
      'Binding violations of one key within the alert window that send one webhook alert (0: never)',
    default: 5,
    parse: integer(0, 1_000_000),
  }),
  interceptAlertWindowS: def<number>({
    description: 'Length of the intercept alert window, seconds (one alert per key per window at most)',
    default: 300,
    parse: integer(1, 86_400),
  }),
  alertWebhookUrl: def<string | undefined>({
    description:
      'Where alerts are POSTed (JSON, signed with alert_webhook_secret); unset: alerts are only logged',
    // Masked: incoming-webhook URLs (Slack's, for one) carry their credential in the path.
    secret: true,
    default: undefined,
    parse: url(['http', 'https']),
  }),
  alertWebhookSecret: def<string | undefined>({
    description: 'Shared secret for the X-Portcullis-Signature header of webhook alerts',
    secret: true,
    default: undefined,
    parse: (raw) => {
      const s = optionalString(raw);
      if (s !== undefined && s.length < 16) throw new Error('must be at least 16 characters');
      return s;
    },
  }),
  alertWebhookFormat: def<'json' | 'slack'>({
    description: 'Alert payload: json (Portcullis format) or slack (Slack-compatible incoming webhook)',
    default: 'json',
    parse: oneOf(['json', 'slack'] as const),
  }),
  anomalyDetection: def<'on' | 'shadow' | 'off'>({
    description:
      'Anomaly detection: on (act by anomaly_rules), shadow (record findings, never alert or block) or off',
    default: 'on',
    parse: oneOf(['on', 'shadow', 'off'] as const),
  }),
  anomalyInterval: def<number>({
    description:
      'Length of one anomaly interval (counts per identity are judged once per interval): 1s to 1h (default 60s)',
    default: 60_000,
    parse: duration('1s', '1h'),
  }),
  anomalyRules: def<string>({
    description:
      'What each signal does: signal=off|record|alert|block|block:<duration>, comma-separated (signals: burst, auth_failures, error_rate, key_sharing, rate_limited); unnamed signals keep the default',
    default: formatRules(DEFAULT_RULES),
    // Kept as the normalised line (every signal named), so `config show` prints what is in force.
    parse: (raw) => formatRules(parseRules(asString(raw))),
  }),
  anomalyCooldown: def<number>({
    description:
      'After an anomaly, how long later findings of the same signal and identity fold into it instead of alerting again: 1m to 7d (default 15m)',
    default: 15 * 60_000,
    parse: duration('1m', '7d'),
  }),
  forwardAuthMode: def<'auto' | 'nginx' | 'traefik' | 'envoy'>({
    description:
      'Which proxy calls /_portcullis/authz: nginx, traefik, envoy, or auto (refuses calls mixing conventions)',
    default: 'auto',
    parse: oneOf(['auto', 'nginx', 'traefik', 'envoy'] as const),
  }),
  identityHeaderAliases: def<boolean>({
    description: 'Also send API Gatekeeper header names (X-Client-ID, X-Client-Name, X-Route-ID) upstream',
    default: false,
    parse: boolean,
  }),
  keyPrefix: def<string>({
    description:
      'Prefix of issued API keys ({prefix}_{env}_…); changing it invalidates no key but new keys use it',
    default: 'pcl',
    parse: (raw) => {
      const s = asString(raw);
      if (!/^[a-z][a-z0-9]{1,15}$/.test(s))
        throw new Error('expected 2-16 lower-case letters or digits, starting with a letter');
      return s;
    },
  }),
  apiKeyQueryParam: def<string | undefined>({
    description: 'Query parameter accepted as an API key (unset: keys are only read from headers)',
    default: undefined,
    parse: (raw) => {
      const s = optionalString(raw);
      if (s !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(s))
        throw new Error('expected a plain parameter name');
      return s;
    },
  }),
  hmacWindowS: def<number>({
    description:
      'Allowed clock difference for HMAC-signed requests, seconds either way (nonces are kept twice as long)',
    default: (preset) => (preset === 'strict' ? 60 : 300),
    parse: integer(1, 3600),
  }),
  hmacBodyLimitBytes: def<number>({
    description: 'Largest body read to verify an HMAC signature (bigger gets 413)',
    default: 1_048_576,
    parse: integer(0, 104_857_600),
  }),
  keyCacheTtlMs: def<number>({
    description: 'How long a looked-up API key (or an unknown one) is cached; changes also clear the cache',
    default: (preset) => (preset === 'strict' ? 5_000 : preset === 'performance' ? 120_000 : 30_000),
    parse: integer(0, 3_600_000),
  }),
  keyCacheSize: def<number>({
    description: 'Most API keys (and unknown keys) held in the lookup cache',
    default: 10_000,
    parse: integer(0, 10_000_000),
  }),
  traceparent: def<boolean>({
    description:
      'Start a W3C trace (traceparent header) for forwarded requests that carry no valid one; valid ones always pass through',
    default: false,
    parse: boolean,
  }),
  requestLog: def<boolean>({
    description:
      'Record every decision in the database (request logs; written in batches off the request path)',
    default: true,
    parse: boolean,
  }),
  recorderQueueSize: def<number>({
    description:
      'Request records held in memory awaiting a write; beyond it new records are dropped and counted',
    default: (preset) => (preset === 'performance' ? 50_000 : 10_000),
    parse: integer(1, 10_000_000),
  }),
  recorderBatchSize: def<number>({
    description:
      'Request records handed to the writer at a time, and written per transaction while it keeps up (when more are waiting: up to ten times as many, at most 10,000)',
    default: 500,
    parse: integer(1, 10_000),
  }),
  recorderThread: def<boolean>({
    description:
      'Write request records from a worker thread with its own database connection (off: on the event loop, in batches)',
    default: true,
    parse: boolean,
  }),
  recorderFlushMs: def<number>({
    description: 'Longest a request record waits in memory before a batch is written',
    default: (preset) => (preset === 'performance' ? 2000 : 1000),
    parse: integer(10, 600_000),
  }),
  logRetentionDays: def<number>({
    description: 'Request records older than this many days are deleted (hourly)',
    default: 30,
    parse: integer(1, 3650),
  }),
  accessLogSample: def<number>({
    description: 'Fraction of requests (0 to 1) that also get a pino access-log line',
    default: 0,
    parse: (raw) => {
      const s = asString(raw);
      const n = Number(s);
      if (s === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new Error('expected a number from 0 to 1');
      return n;
    },
  }),
  logLevel: def<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>({
    description: 'fatal, error, warn, info, debug, trace or silent',
    default: 'info',
    parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  }),
  logFormat: def<'auto' | 'json' | 'pretty'>({
    description: 'json, pretty, or auto (pretty on a terminal, JSON otherwise)',
    default: 'auto',
    parse: oneOf(['auto', 'json', 'pretty'] as const),
  }),
  demo: def<'auto' | 'on' | 'off'>({
    description: 'Demo mode: auto (when no route and no upstream is configured), on, off',
    default: 'auto',
    parse: oneOf(['auto', 'on', 'off'] as const),
  }),
  maxHeaderBytes: def<number>({
    description: 'Largest request header block accepted (bigger gets 431)',
    default: (preset) => (preset === 'strict' ? 8192 : preset === 'performance' ? 32768 : 16384),
    parse: integer(1024, 1048576),
  }),
  headersTimeoutMs: def<number>({
    description: 'Time allowed to receive request headers (slowloris guard)',
    default: (preset) => (preset === 'strict' ? 10_000 : preset === 'performance' ? 30_000 : 15_000),
    parse: integer(1000, 600_000),
  }),
  requestTimeoutMs: def<number>({
    description: 'Time allowed to receive a whole request, body included',
    default: (preset) => (preset === 'strict' ? 60_000 : 300_000),
    parse: integer(1000, 3_600_000),
  }),
  keepAliveTimeoutMs: def<number>({
    description: 'Idle keep-alive time of client connections',
    default: (preset) => (preset === 'performance' ? 65_000 : 5_000),
    parse: integer(100, 3_600_000),
  }),
  shutdownTimeoutMs: def<number>({
    description: 'Longest wait for in-flight requests to finish on shutdown',
    default: 10_000,
    parse: integer(0, 600_000),
  }),
  upstreamTimeoutMs: def<number>({
    description: "Default time to the upstream's response headers (a route may set its own)",
    default: 30_000,
    parse: integer(1, 600_000),
  }),
  upstreamIdleTimeoutMs: def<number>({
    description: 'Longest silence allowed inside an upstream response body (streams included)',
    default: 300_000,
    parse: integer(1, 3_600_000),
  }),
  upstreamConnections: def<number>({
    description: 'Keep-alive connections per upstream origin',
    default: (preset) => (preset === 'performance' ? 256 : 128),
    parse: integer(1, 10_000),
  }),
  pathCaseInsensitive: def<boolean>({
    description: 'Lower-case request paths before matching and forwarding (for case-insensitive upstreams)',
    default: false,
    parse: boolean,
  }),
  pathAllowSemicolons: def<boolean>({
    description: "Accept ';' in request paths (off: refused, since some upstreams strip ;params)",
    default: false,
    parse: boolean,
  }),
  configPollMs: def<number>({
    description: 'How often each instance checks the database for configuration changes',
    default: (preset) => (preset === 'performance' ? 2000 : 1000),
    parse: integer(100, 600_000),
  }),
} as const;

export type SettingKey = keyof typeof settingDefs;
export type Settings = {
  readonly [K in SettingKey]: (typeof settingDefs)[K] extends SettingDef<infer T> ? T : never;
};

export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
export function envName(key: SettingKey): string {
  return `PORTCULLIS_${snakeCase(key).toUpperCase()}`;
}
export function flagName(key: SettingKey): string {
  return `--${snakeCase(key).replaceAll('_', '-')}`;
}
export function fileKey(key: SettingKey): string {
  return snakeCase(key);
}
export const settingKeys = Object.keys(settingDefs) as SettingKey[];
