/**
 * What the Redis settings name, parsed once: one Redis server (`redis://` or `rediss://`), or
 * the seed nodes of a Redis Cluster (a comma-separated list of URLs, with cluster mode on),
 * plus the TLS files. Pure (no I/O besides reading the TLS files in `readTls`), so the
 * configuration loader and both connection paths (state and limiter) share one set of rules
 * and messages.
 */
import type { ConnectionOptions } from 'node:tls';
import { readPem } from '../core/pem.js';

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

export type RedisTarget =
  | { readonly mode: 'standalone'; readonly url: string; readonly tls: boolean }
  | {
      readonly mode: 'cluster';
      readonly nodes: readonly RedisNodeAddress[];
      readonly username: string | undefined;
      readonly password: string | undefined;
      readonly tls: boolean;
    };

/**
 * TLS material for `rediss://`, as file paths (the settings hold paths, never key material).
 * Unset CA: the system's trusted CAs. Certificate and key: a client certificate (Redis
 * `tls-auth-clients yes`), both or neither.
 */
export interface RedisTlsFiles {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  /** Name to send (SNI) and to verify the server certificate against, instead of the URL's host. */
  readonly servername?: string | undefined;
}

/** How `parseRedisTarget` names its inputs in messages (settings use their variable names). */
export interface RedisTargetNames {
  url: string;
  cluster: string;
}

const OPTION_NAMES: RedisTargetNames = { url: 'options.url', cluster: 'options.cluster' };

/**
 * The URLs of a comma-separated list. A comma starts another URL only before a scheme
 * (`redis://`, `rediss://`, anything `x://`), so a password may hold commas.
 */
export function splitUrlList(text: string): string[] {
  return text
    .split(/,(?=\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)/)
    .map((entry) => entry.trim().replace(/,+$/, ''))
    .filter((entry) => entry !== '');
}

/**
 * Parse `urlList` (one URL, or comma-separated URLs when `cluster`; commas inside a URL, as in a
 * password, stay part of it). Throws a TypeError whose
 * message names the field and never repeats credentials.
 */
export function parseRedisTarget(
  urlList: string,
  cluster: boolean,
  names: RedisTargetNames = OPTION_NAMES,
): RedisTarget {
  if (typeof urlList !== 'string') throw new TypeError(`${names.url} must be a redis:// or rediss:// URL`);
  const entries = splitUrlList(urlList);
  if (entries.length === 0) throw new TypeError(`${names.url} must be a redis:// or rediss:// URL`);
  const parsed = entries.map((entry, i) =>
    parseOne(entry, entries.length === 1 ? names.url : `${names.url}[${i}]`),
  );
  if (!cluster) {
    if (parsed.length > 1) {
      throw new TypeError(
        `${names.url} lists ${parsed.length} URLs: a list names the seed nodes of a Redis Cluster, so set ${names.cluster} to true (a standalone Redis takes one URL)`,
      );
    }
    const only = parsed[0]!;
    return { mode: 'standalone', url: entries[0]!, tls: only.tls };
  }
  const first = parsed[0]!;
  let username = first.username;
  let password = first.password;
  for (const [i, node] of parsed.entries()) {
    const at = parsed.length === 1 ? names.url : `${names.url}[${i}]`;
    if (node.tls !== first.tls)
      throw new TypeError(
        `${names.url} mixes redis:// and rediss://: every cluster node must use the same scheme`,
      );
    if (node.db !== 0)
      throw new TypeError(
        `${at} names database ${node.db}: Redis Cluster has only database 0 (drop the /${node.db})`,
      );
    // Credentials may be written once (on any node) or repeated identically; they apply to all.
    if (node.username !== undefined) {
      if (username !== undefined && username !== node.username)
        throw new TypeError(
          `${names.url} gives different user names: every cluster node takes the same credentials`,
        );
      username = node.username;
    }
    if (node.password !== undefined) {
      if (password !== undefined && password !== node.password)
        throw new TypeError(
          `${names.url} gives different passwords: every cluster node takes the same credentials`,
        );
      password = node.password;
    }
  }
  const seen = new Set<string>();
  const nodes: RedisNodeAddress[] = [];
  for (const node of parsed) {
    const key = `${node.host}:${node.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    nodes.push({ host: node.host, port: node.port });
  }
  return { mode: 'cluster', nodes, username, password, tls: first.tls };
}

interface ParsedUrl {
  tls: boolean;
  host: string;
  port: number;
  db: number;
  username: string | undefined;
  password: string | undefined;
}

function parseOne(entry: string, at: string): ParsedUrl {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new TypeError(`${at} must be a redis:// or rediss:// URL`);
  }
  // The URL parser lowercases the scheme: 'REDISS://' must not fall back to plaintext.
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new TypeError(`${at} must be a redis:// or rediss:// URL (got scheme "${url.protocol}")`);
  if (url.hostname === '') throw new TypeError(`${at} has no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path))
    throw new TypeError(`${at} has a path that is not a database number: use redis://host:port/<db>`);
  return {
    tls: url.protocol === 'rediss:',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: path === '' ? 0 : Number(path),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

/** Host, port and db for messages and logs; never the credentials. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.mode === 'standalone') {
    const url = new URL(target.url);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  }
  const scheme = target.tls ? 'rediss' : 'redis';
  return `cluster ${target.nodes.map((n) => `${scheme}://${hostPort(n)}`).join(',')}`;
}

export function hostPort(node: RedisNodeAddress): string {
  return `${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`;
}

/** Whether any TLS file or name is configured. */
export function hasTlsFiles(files: RedisTlsFiles | undefined): boolean {
  return (
    files !== undefined &&
    (files.caFile !== undefined ||
      files.certFile !== undefined ||
      files.keyFile !== undefined ||
      files.servername !== undefined)
  );
}

/**
 * The `tls` options for ioredis (node:tls `connect`), read from the files now. Certificate
 * verification stays on: there is deliberately no switch to turn it off (a self-signed server
 * is trusted by giving its CA). Errors name the file, never its content.
 */
export function readTls(files: RedisTlsFiles | undefined): ConnectionOptions {
  const tls: ConnectionOptions = {};
  if (files === undefined) return tls;
  if ((files.certFile === undefined) !== (files.keyFile === undefined))
    throw new TypeError('options.tls.certFile and options.tls.keyFile go together: give both or neither');
  if (files.caFile !== undefined) tls.ca = readPem(files.caFile, 'Redis CA', 'CERTIFICATE');
  if (files.certFile !== undefined)
    tls.cert = readPem(files.certFile, 'Redis client certificate', 'CERTIFICATE');
  if (files.keyFile !== undefined) tls.key = readPem(files.keyFile, 'Redis client key', 'PRIVATE KEY');
  if (files.servername !== undefined) tls.servername = files.servername;
  return tls;
}

/**
 * Every key is `<prefix><name>`, and the names carry Cluster hash tags (`{…}`) that keep a
 * script's keys in one slot. Redis hashes the first `{…}` of a key, so a brace in the prefix
 * would take the tag's place: the keys of one script could land in different slots.
 */
export function checkKeyPrefix(prefix: unknown, field = 'options.keyPrefix'): asserts prefix is string {
  if (typeof prefix !== 'string') throw new TypeError(`${field} must be a string`);
  if (/[{}]/.test(prefix))
    throw new TypeError(
      `${field} must not contain "{" or "}" (they would replace the keys' Cluster hash tags)`,
    );
}
