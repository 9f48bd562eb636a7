/**
 * Fail-fast ioredis connections, shared by the hot state (src/state/redis.ts) and the Redis
 * rate limiter (src/limits/redis.ts): a dead or slow Redis costs a request at most the command
 * timeout (the deadline of ./deadline.ts, applied by both), commands never queue while
 * disconnected, a command in flight when the link drops is failed rather than replayed (a
 * replayed INCR or limit script would count twice), and the connection recovers in the
 * background.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { StateLogger } from './logger.js';
import {
  describeRedisTarget,
  hasTlsFiles,
  type RedisNodeAddress,
  type RedisTarget,
  type RedisTlsFiles,
  readTls,
} from './redis-target.js';

/** A standalone connection or a Redis Cluster client: the commands used here exist on both. */
export type RedisClient = Redis | Cluster;

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
  /**
   * After this many failed reconnects in a row the connection gives up ('end'), so its owner
   * can open one elsewhere (a cluster subscriber moves to another node). Default: never.
   */
  readonly #giveUpAfter: number;

  constructor(options: { giveUpAfter?: number } = {}) {
    this.#giveUpAfter = options.giveUpAfter ?? Number.POSITIVE_INFINITY;
  }

  readonly retryStrategy = (attempt: number): number | null => {
    if (!this.established) return null;
    if (attempt > this.#giveUpAfter) return null;
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 16));
    // Jitter spreads the reconnects of many gateway instances after a Redis restart.
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  };
}

/**
 * The options that make a dead Redis cost little:
 * - enableOfflineQueue false: while disconnected a command is rejected at once instead of
 *   queued; a queue would hold every request of the outage and then flood Redis on recovery.
 * - commandTimeout: only a backstop, well above `commandTimeoutMs`. Every command the request
 *   path awaits runs under withinDeadline(…, commandTimeoutMs) (./deadline.ts), which, unlike
 *   this plain timer, does not fail a reply that arrived in time but was read late because the
 *   gateway's event loop stalled. The backstop bounds the other commands (SUBSCRIBE, the
 *   subscriber's PINGs, a cluster's slot-map reads) on a connection that is open but
 *   unresponsive (partition, stopped server), which no queue setting can detect.
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
  const backstopMs = Math.max(1_000, commandTimeoutMs * 5);
  return {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: backstopMs,
    socketTimeout: backstopMs,
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
  client: RedisClient,
  policy: ReconnectPolicy,
  budgetMs: number,
  target: string,
): Promise<void> {
  const started = performance.now();
  let attemptError: unknown;
  let nodeError: unknown;
  let lastError: unknown;
  const onError = (err: unknown): void => {
    attemptError = err;
  };
  // A cluster's own error only says its slot map could not be loaded; the first failing
  // node's error says why (ECONNREFUSED, WRONGPASS, a TLS failure).
  const onNodeError = (err: unknown): void => {
    nodeError ??= err;
  };
  client.on('error', onError);
  client.on('node error', onNodeError);
  let attempts = 0;
  try {
    for (;;) {
      attempts++;
      attemptError = undefined;
      nodeError = undefined;
      const remaining = Math.max(1, budgetMs - (performance.now() - started));
      try {
        // The race also bounds a server that accepts TCP but never finishes the handshake
        // (wrong service on the port, Redis still loading its dataset).
        await withDeadline(client.connect(), remaining, `not ready within ${budgetMs} ms`);
        policy.established = true;
        return;
      } catch (err) {
        lastError = nodeError ?? attemptError ?? err;
        if (client.status !== 'end' && client.status !== 'wait') client.disconnect();
      }
      const delay = INITIAL_RETRY_DELAY_MS * 2 ** (attempts - 1);
      if (attempts >= INITIAL_ATTEMPTS || performance.now() - started + delay >= budgetMs) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  } finally {
    client.off('error', onError);
    client.off('node error', onNodeError);
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
  client: RedisClient,
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
  // A cluster reports a node's failure here, and 'error' only when every node failed.
  client.on('node error', (err: unknown) => {
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
    if (client instanceof Redis) clearStaleSocketTimeout(client);
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

export interface RedisConnectOptions {
  target: RedisTarget;
  /** TLS files for a rediss:// target (refused for redis://: they would silently be ignored). */
  tls?: RedisTlsFiles | undefined;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  logger: StateLogger;
  /** For logs: what this connection is for ('commands', 'limits'). */
  role: string;
  /** CLIENT SETNAME, so an operator can tell Portcullis's connections apart in CLIENT LIST. */
  connectionName: string;
  /** Requests of one tick share one write (and, on a cluster, one write per node). */
  autoPipelining: boolean;
}

export interface ConnectedRedis {
  client: RedisClient;
  /** Where it points, for messages (no credentials). */
  description: string;
  /**
   * Open and connect a separate standalone connection for pub/sub (a subscribed connection
   * cannot run commands). On a cluster it goes to one node (classic PUBLISH reaches every
   * node) and gives up after a few failed reconnects, so the caller can open it on another.
   */
  openSubscriber(): Promise<Redis>;
}

/** Reconnects a cluster's subscriber tries on its node before it ends and moves to another. */
export const CLUSTER_SUBSCRIBER_ATTEMPTS = 3;

/**
 * Connect to what `target` names with the fail-fast options above, within the connect budget,
 * or reject with a RedisConnectError naming the target (never its credentials).
 */
export async function connectRedis(options: RedisConnectOptions): Promise<ConnectedRedis> {
  const { target, commandTimeoutMs, connectTimeoutMs, logger, role } = options;
  if (!target.tls && hasTlsFiles(options.tls))
    throw new TypeError('options.tls needs a rediss:// URL: TLS files given for a plaintext redis:// target');
  // Read before connecting: a missing or wrong file is a start-up error naming the file.
  const tls = target.tls ? readTls(options.tls) : undefined;
  const description = describeRedisTarget(target);
  if (target.mode === 'standalone') {
    const policy = new ReconnectPolicy();
    const client = new Redis(target.url, {
      ...failFastOptions(commandTimeoutMs, connectTimeoutMs, policy),
      ...(tls === undefined ? {} : { tls }),
      enableAutoPipelining: options.autoPipelining,
      connectionName: options.connectionName,
    });
    watchConnection(client, policy, logger, description, role);
    await connectWithin(client, policy, connectTimeoutMs, description).catch((err: unknown) => {
      client.disconnect();
      throw err;
    });
    if (await isClusterNode(client, connectTimeoutMs)) {
      client.disconnect();
      // Standalone mode on a cluster node would work for that node's slots only and answer
      // MOVED for the rest: refuse at start-up instead of failing most requests later.
      throw new RedisConnectError(
        `${description} is a node of a Redis Cluster: connect in cluster mode (PORTCULLIS_REDIS_CLUSTER=true)`,
      );
    }
    const openSubscriber = async (): Promise<Redis> => {
      const subscriberPolicy = new ReconnectPolicy();
      // duplicate() copies URL, credentials, TLS and timeouts; only the per-connection policy differs.
      // autoResubscribe (ioredis default: true) replays SUBSCRIBE for every channel after a reconnect.
      const subscriber = client.duplicate({
        ...failFastOptions(commandTimeoutMs, connectTimeoutMs, subscriberPolicy),
        enableAutoPipelining: false,
        autoResubscribe: true,
        connectionName: `${options.connectionName}:subscriber`,
      });
      watchConnection(subscriber, subscriberPolicy, logger, description, 'subscriber');
      await connectWithin(subscriber, subscriberPolicy, connectTimeoutMs, description).catch(
        (err: unknown) => {
          subscriber.disconnect();
          throw err;
        },
      );
      return subscriber;
    };
    return { client, description, openSubscriber };
  }

  const credentials = {
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
  };
  const policy = new ReconnectPolicy();
  // A node's connection: the fail-fast options, minus what the cluster decides per node (it
  // never reconnects a lost node but rediscovers the topology instead).
  const {
    retryStrategy: _retry,
    enableOfflineQueue: _queue,
    lazyConnect: _lazy,
    ...nodeOptions
  } = failFastOptions(commandTimeoutMs, connectTimeoutMs, policy);
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // The ready check (CLUSTER INFO) runs under the command timeout on a node connection
    // still being opened; when it times out, ioredis neither becomes ready nor reports a
    // failure, and the start-up budget is lost waiting. A cluster that is down answers
    // CLUSTERDOWN to the first commands instead.
    enableReadyCheck: false,
    clusterRetryStrategy: policy.retryStrategy,
    // A command whose connection dropped may have run (its reply was lost): never replay it
    // elsewhere, as ioredis would after this delay (an INCR or a limit script counted twice).
    retryDelayOnFailover: 0,
    // CLUSTERDOWN and TRYAGAIN are refusals (nothing ran), so a retry is safe; the command
    // timeout still bounds the whole wait.
    retryDelayOnClusterDown: 20,
    retryDelayOnTryAgain: 20,
    slotsRefreshTimeout: Math.max(1_000, commandTimeoutMs),
    enableAutoPipelining: options.autoPipelining,
    redisOptions: {
      ...nodeOptions,
      ...credentials,
      ...(tls === undefined ? {} : { tls }),
      connectionName: options.connectionName,
    },
    // Over TLS, keep the seed nodes' host names: ioredis would otherwise resolve them to IP
    // addresses, and a certificate issued for the name would fail verification.
    ...(tls === undefined ? {} : { dnsLookup: keepHostname }),
  };
  const cluster = new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    clusterOptions,
  );
  watchConnection(cluster, policy, logger, description, role);
  const started = performance.now();
  await connectWithin(cluster, policy, connectTimeoutMs, description).catch((err: unknown) => {
    cluster.disconnect();
    throw err;
  });
  await warmUp(cluster, Math.max(100, connectTimeoutMs - (performance.now() - started)));

  // Spread instances' subscribers over the nodes, then move on whenever one gives up.
  let next = Math.floor(Math.random() * 1024);
  const openSubscriber = async (): Promise<Redis> => {
    const known: RedisNodeAddress[] = [];
    for (const { options: node } of cluster.nodes('master')) {
      if (node.host !== undefined && node.port !== undefined)
        known.push({ host: node.host, port: node.port });
    }
    const candidates = known.length > 0 ? known : target.nodes;
    const node = candidates[next++ % candidates.length]!;
    const subscriberPolicy = new ReconnectPolicy({ giveUpAfter: CLUSTER_SUBSCRIBER_ATTEMPTS });
    const subscriber = new Redis({
      host: node.host,
      port: node.port,
      ...credentials,
      ...failFastOptions(commandTimeoutMs, connectTimeoutMs, subscriberPolicy),
      ...(tls === undefined ? {} : { tls }),
      enableAutoPipelining: false,
      autoResubscribe: true,
      connectionName: `${options.connectionName}:subscriber`,
    });
    const where = `${description} (subscriber on ${node.host}:${node.port})`;
    watchConnection(subscriber, subscriberPolicy, logger, where, 'subscriber');
    await connectWithin(subscriber, subscriberPolicy, connectTimeoutMs, where).catch((err: unknown) => {
      subscriber.disconnect();
      throw err;
    });
    return subscriber;
  };
  return { client: cluster, description, openSubscriber };
}

/** Whether INFO says cluster mode; a server that does not answer INFO (a proxy) is taken as standalone. */
async function isClusterNode(client: Redis, budgetMs: number): Promise<boolean> {
  try {
    const info = await withDeadline(client.info('cluster'), budgetMs, 'INFO cluster unanswered');
    return /^cluster_enabled:1\s*$/m.test(info);
  } catch {
    return false;
  }
}

/**
 * Open the connection to every master now rather than on the first command each one serves,
 * which would spend its command timeout on the TCP (and TLS) handshake. Best effort within
 * the start-up budget: a master that cannot be reached yet is retried on use.
 */
async function warmUp(cluster: Cluster, budgetMs: number): Promise<void> {
  await Promise.allSettled(
    cluster
      .nodes('master')
      .filter((node) => node.status === 'wait')
      .map((node) => withDeadline(node.connect(), budgetMs, 'not connected within the start-up budget')),
  );
}

function keepHostname(
  hostname: string,
  callback: (err: NodeJS.ErrnoException | null, address: string) => void,
): void {
  callback(null, hostname);
}

export function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // A cluster that could not load its slot map says only "Failed to refresh slots cache.";
  // the last node's own error says why (refused, auth, "cluster support disabled").
  const last = (err as { lastNodeError?: unknown }).lastNodeError;
  return last instanceof Error ? `${err.message} (${last.message})` : err.message;
}
