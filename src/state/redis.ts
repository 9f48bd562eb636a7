/**
 * Hot state shared by every gateway instance, over ioredis.
 *
 * Failure model: Redis sits on the request path, so a dead or slow Redis must cost a request
 * at most `commandTimeoutMs`, never pile requests up behind it. The gateway turns a StateError
 * into its failsafe decision; this file's job is to produce that error quickly and to
 * reconnect in the background.
 */
import type { Cluster } from 'ioredis';
import { Redis } from 'ioredis';
import { checkChannel, checkIncrement, checkKey, checkTtl, positiveInteger } from './arguments.js';
import { StateError } from './errors.js';
import { Fanout } from './fanout.js';
import { type StateLogger, silentLogger } from './logger.js';
import {
  connectWithin,
  describeTarget,
  failFastOptions,
  messageOf,
  ReconnectPolicy,
  RedisConnectError,
  tlsFor,
  watchConnection,
} from './redis-connection.js';
import type { HotState, StateHealth, Unsubscribe } from './types.js';

export interface RedisStateOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS: ioredis parses the
   * URL (credentials, db), and TLS is switched on here from the scheme (see `tlsFor`).
   */
  url: string;
  /** Prepended to every key and channel, so several deployments can share one Redis. Default 'pcl:'. */
  keyPrefix?: string;
  /** Longest a command may wait for its reply before it fails. Default 100 ms (see below). */
  commandTimeoutMs?: number;
  /** Start-up budget: connect (with a few retries) within this or fail. Default 2 000 ms. */
  connectTimeoutMs?: number;
  /**
   * How often the pub/sub connection is probed with PING. Default 5 000 ms: a silently dead
   * subscriber connection is replaced (and resubscribed) within about this plus one second.
   */
  subscriberHeartbeatMs?: number;
  logger?: StateLogger;
}

/** The client types a RedisState can drive. A Cluster is accepted now so cluster support only adds a connect path. */
export type RedisClient = Redis | Cluster;

/** Connected clients for a RedisState: how `connect()` (and later a cluster connect) hands them over. */
export interface RedisStateClients {
  /** Connected, with the fail-fast options `connect()` sets (no offline queue, command timeout). */
  client: RedisClient;
  /** Opens and connects a separate connection for pub/sub (a subscribed connection cannot run commands). */
  openSubscriber: () => Promise<RedisClient>;
}

/**
 * 100 ms: a healthy Redis answers in well under a millisecond on a LAN and a few ms across
 * zones, and event-loop or Redis fork (BGSAVE) hiccups stay in the tens of ms, so a timeout
 * rarely fires on a live server (each false timeout becomes a failsafe decision). Yet a
 * request stuck behind a dead Redis waits at most 100 ms, well under what a client notices.
 */
const DEFAULT_COMMAND_TIMEOUT_MS = 100;
/** Covers a TCP + TLS handshake to a managed Redis across zones, with room for two retries on refusal. */
const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
const DEFAULT_KEY_PREFIX = 'pcl:';
/**
 * A subscribed connection sends nothing on its own, so a silently dead one (network
 * partition, NAT entry dropped, no FIN) would go unnoticed and change events would stop. A
 * periodic PING gives the socket timeout something to fire on; the reconnect then resubscribes.
 */
const DEFAULT_SUBSCRIBER_HEARTBEAT_MS = 5_000;

/**
 * INCRBY then PEXPIRE only when this call created the key, in one script: one round trip, and
 * no window in which a crash leaves a counter without expiry. Not "PTTL == -1" (that would
 * put a TTL on a key deliberately set without one) and not "result == by" (a counter that
 * came back to 0 would get a fresh TTL, so a busy window could be extended forever).
 * Lua numbers are doubles, so counters are exact to 2^53, as in MemoryState.
 */
const INCR_SCRIPT = `
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
`;

// A sorted set of members scored by their last beat (Redis server time, so instances with
// skewed clocks agree); stale members are dropped, the set itself expires if nobody beats.
const HEARTBEAT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`;

// Take the lease when free (an expired one is gone: Redis time decides, so instances with
// skewed clocks agree) or renew it for its holder; anyone else is refused. In one script: a
// GET-then-SET from two instances could elect two leaders.
const ACQUIRE_LEASE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

// Delete only when the caller still holds it: a leader whose lease ran out (and was taken
// over) must not release its successor's lease on shutdown.
const RELEASE_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

interface ScriptCommands {
  pclIncr(key: string, by: number, ttlMs: number): Promise<number>;
  pclHeartbeat(key: string, member: string, ttlMs: number): Promise<number>;
  pclAcquireLease(key: string, owner: string, ttlMs: number): Promise<number>;
  pclReleaseLease(key: string, owner: string): Promise<number>;
}

export class RedisState implements HotState {
  readonly kind = 'redis' as const;
  readonly shared = true;

  readonly #client: RedisClient & ScriptCommands;
  readonly #openSubscriber: () => Promise<RedisClient>;
  readonly #prefix: string;
  readonly #logger: StateLogger;
  readonly #fanout: Fanout;
  readonly #heartbeatMs: number;
  /** Per channel, the SUBSCRIBE in flight or done: a second handler waits for the same acknowledgement. */
  readonly #subscribed = new Map<string, Promise<void>>();
  #subscriber: Promise<RedisClient> | undefined;
  #subscriberClient: RedisClient | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * Open a connection and fail fast when Redis is unreachable: the gateway must not start
   * (or hang at start-up) believing it has shared state. Later outages are handled in the
   * background (reconnect with backoff) while commands fail fast.
   */
  static async connect(options: RedisStateOptions): Promise<RedisState> {
    const tls = tlsFor(options.url);
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== 'string') throw new TypeError('options.keyPrefix must be a string');
    const commandTimeoutMs = positiveInteger(
      options.commandTimeoutMs,
      DEFAULT_COMMAND_TIMEOUT_MS,
      'options.commandTimeoutMs',
    );
    const connectTimeoutMs = positiveInteger(
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
      'options.connectTimeoutMs',
    );
    const subscriberHeartbeatMs = positiveInteger(
      options.subscriberHeartbeatMs,
      DEFAULT_SUBSCRIBER_HEARTBEAT_MS,
      'options.subscriberHeartbeatMs',
    );
    const logger = options.logger ?? silentLogger;
    const target = describeTarget(options.url);

    const policy = new ReconnectPolicy();
    const client = new Redis(options.url, {
      ...failFastOptions(commandTimeoutMs, connectTimeoutMs, policy),
      ...(tls === undefined ? {} : { tls }),
      enableAutoPipelining: true,
      connectionName: 'portcullis',
    });
    watchConnection(client, policy, logger, target, 'commands');
    await connectWithin(client, policy, connectTimeoutMs, target).catch(asStateError);

    const openSubscriber = async (): Promise<RedisClient> => {
      const subscriberPolicy = new ReconnectPolicy();
      // duplicate() copies URL, credentials, TLS and timeouts; only the per-connection policy differs.
      // autoResubscribe (ioredis default: true) replays SUBSCRIBE for every channel after a reconnect.
      const subscriber = client.duplicate({
        ...failFastOptions(commandTimeoutMs, connectTimeoutMs, subscriberPolicy),
        enableAutoPipelining: false,
        autoResubscribe: true,
        connectionName: 'portcullis:subscriber',
      });
      watchConnection(subscriber, subscriberPolicy, logger, target, 'subscriber');
      await connectWithin(subscriber, subscriberPolicy, connectTimeoutMs, target).catch(asStateError);
      return subscriber;
    };
    return new RedisState({ client, openSubscriber }, { keyPrefix, logger, subscriberHeartbeatMs });
  }

  /** Prefer `RedisState.connect`; this takes already-connected clients (tests, a future cluster connect). */
  constructor(
    clients: RedisStateClients,
    options: { keyPrefix?: string; logger?: StateLogger; subscriberHeartbeatMs?: number } = {},
  ) {
    clients.client.defineCommand('pclIncr', { numberOfKeys: 1, lua: INCR_SCRIPT });
    clients.client.defineCommand('pclHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_SCRIPT });
    clients.client.defineCommand('pclAcquireLease', { numberOfKeys: 1, lua: ACQUIRE_LEASE_SCRIPT });
    clients.client.defineCommand('pclReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE_SCRIPT });
    this.#client = clients.client as RedisClient & ScriptCommands;
    this.#openSubscriber = clients.openSubscriber;
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#logger = options.logger ?? silentLogger;
    this.#fanout = new Fanout(this.#logger);
    this.#heartbeatMs = options.subscriberHeartbeatMs ?? DEFAULT_SUBSCRIBER_HEARTBEAT_MS;
  }

  async get(key: string): Promise<string | null> {
    this.#assertOpen();
    checkKey(key);
    try {
      return await this.#client.get(this.#prefix + key);
    } catch (err) {
      throw toStateError(err, 'get');
    }
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    if (ttlMs !== undefined) checkTtl(ttlMs);
    try {
      if (ttlMs === undefined) await this.#client.set(this.#prefix + key, value);
      else await this.#client.set(this.#prefix + key, value, 'PX', ttlMs);
    } catch (err) {
      throw toStateError(err, 'set');
    }
  }

  async del(key: string): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    try {
      await this.#client.del(this.#prefix + key);
    } catch (err) {
      throw toStateError(err, 'del');
    }
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    checkKey(key);
    checkTtl(ttlMs);
    try {
      // One atomic command: a GET-then-SET would let two instances accept the same nonce.
      return (await this.#client.set(this.#prefix + key, value, 'PX', ttlMs, 'NX')) === 'OK';
    } catch (err) {
      throw toStateError(err, 'setIfAbsent');
    }
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    this.#assertOpen();
    checkKey(key);
    checkIncrement(by);
    checkTtl(ttlMs);
    try {
      return await this.#client.pclIncr(this.#prefix + key, by, ttlMs);
    } catch (err) {
      throw toStateError(err, 'incr');
    }
  }

  async heartbeat(group: string, member: string, ttlMs: number): Promise<number> {
    this.#assertOpen();
    checkKey(group);
    checkKey(member);
    checkTtl(ttlMs);
    try {
      return await this.#client.pclHeartbeat(`${this.#prefix}hb:{${group}}`, member, ttlMs);
    } catch (err) {
      throw toStateError(err, 'heartbeat');
    }
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    checkKey(name);
    checkKey(owner);
    checkTtl(ttlMs);
    try {
      return (await this.#client.pclAcquireLease(this.#leaseKey(name), owner, ttlMs)) === 1;
    } catch (err) {
      throw toStateError(err, 'acquireLease');
    }
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    this.#assertOpen();
    checkKey(name);
    checkKey(owner);
    try {
      return (await this.#client.pclReleaseLease(this.#leaseKey(name), owner)) === 1;
    } catch (err) {
      throw toStateError(err, 'releaseLease');
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    checkChannel(channel);
    try {
      await this.#client.publish(this.#prefix + channel, message);
    } catch (err) {
      throw toStateError(err, 'publish');
    }
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    this.#assertOpen();
    checkChannel(channel);
    const subscriber = await this.#ensureSubscriber();
    this.#assertOpen();
    // Registry change and SUBSCRIBE/UNSUBSCRIBE are issued in the same synchronous step, so
    // the commands reach Redis in the order the handlers came and went on this one connection.
    const { subscription, first } = this.#fanout.add(channel, onMessage);
    if (first) {
      this.#subscribed.set(
        channel,
        subscriber.subscribe(this.#prefix + channel).then(() => undefined),
      );
    }
    try {
      await this.#subscribed.get(channel);
    } catch (err) {
      if (this.#fanout.remove(subscription)) this.#subscribed.delete(channel);
      throw toStateError(err, 'subscribe');
    }
    return async () => {
      if (!this.#fanout.remove(subscription)) return;
      this.#subscribed.delete(channel);
      if (this.#closed) return;
      try {
        await subscriber.unsubscribe(this.#prefix + channel);
      } catch (err) {
        // Delivery already stopped locally; at worst Redis keeps sending messages nobody handles.
        this.#logger.warn({ err, channel }, 'redis UNSUBSCRIBE failed; messages on the channel are ignored');
      }
    };
  }

  /** PING bounded by the command timeout; reports, never throws (a probe must not crash its caller). */
  async health(): Promise<StateHealth> {
    if (this.#closed) return { ok: false, kind: 'redis', error: 'closed' };
    const started = performance.now();
    try {
      await this.#client.ping();
    } catch (err) {
      return { ok: false, kind: 'redis', error: `PING failed: ${messageOf(err)}` };
    }
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    const subscriber = this.#subscriberClient;
    // Without the subscriber, change events from other instances stop and caches go stale.
    if (subscriber !== undefined && subscriber.status !== 'ready') {
      return { ok: false, kind: 'redis', latencyMs, error: `subscriber connection is ${subscriber.status}` };
    }
    return { ok: true, kind: 'redis', latencyMs };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#fanout.clear();
    this.#subscribed.clear();
    const subscriber = this.#subscriber;
    await Promise.all([shutdown(this.#client), subscriber?.then(shutdown, () => undefined)]);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StateError('ERR_STATE_CLOSED', 'RedisState is closed');
  }

  /** Hash-tagged by the lease name, like the heartbeat group key. */
  #leaseKey(name: string): string {
    return `${this.#prefix}lease:{${name}}`;
  }

  /** The pub/sub connection, opened on first subscribe: instances that never subscribe hold one connection. */
  #ensureSubscriber(): Promise<RedisClient> {
    if (this.#subscriber !== undefined) return this.#subscriber;
    const opening = this.#openSubscriber().then((subscriber) => {
      if (this.#closed) {
        subscriber.disconnect();
        throw new StateError('ERR_STATE_CLOSED', 'RedisState is closed');
      }
      const prefix = this.#prefix;
      // One listener for all channels; handlers are looked up by channel in the fanout.
      subscriber.on('message', (channel: string, message: string) => {
        if (channel.startsWith(prefix)) this.#fanout.dispatch(channel.slice(prefix.length), message);
      });
      this.#heartbeat = setInterval(() => {
        subscriber.ping().catch(() => undefined);
      }, this.#heartbeatMs);
      this.#heartbeat.unref();
      this.#subscriberClient = subscriber;
      return subscriber;
    });
    this.#subscriber = opening;
    // A failed start must not poison later subscribes: the next one tries again.
    opening.catch(() => {
      if (this.#subscriber === opening) this.#subscriber = undefined;
    });
    return opening;
  }
}

async function shutdown(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: a QUIT that cannot be sent or answered is replaced by a hard close
    }
  }
  client.disconnect();
}

/** A start-up connection failure, in the state's own error vocabulary. */
function asStateError(err: unknown): never {
  if (err instanceof RedisConnectError)
    throw new StateError('ERR_STATE_CONNECT', err.message, { cause: err.cause });
  throw err;
}

function toStateError(err: unknown, operation: string): StateError {
  if (err instanceof StateError) return err;
  const message = messageOf(err);
  if (operation === 'incr' && /not an integer|out of range/i.test(message)) {
    return new StateError('ERR_STATE_NOT_INTEGER', 'incr: the stored value is not an integer', {
      cause: err,
    });
  }
  if (err instanceof Error && err.name === 'ReplyError') {
    return new StateError('ERR_STATE_BACKEND', `Redis ${operation} failed: ${message}`, { cause: err });
  }
  return new StateError('ERR_STATE_UNAVAILABLE', `Redis ${operation} failed: ${message}`, { cause: err });
}
