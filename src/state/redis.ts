/**
 * Hot state shared by every gateway instance, over ioredis.
 *
 * Failure model: Redis sits on the request path, so a dead or slow Redis must cost a request
 * at most `commandTimeoutMs`, never pile requests up behind it. The gateway turns a StateError
 * into its failsafe decision; this file's job is to produce that error quickly and to
 * reconnect in the background.
 */
import { Cluster } from 'ioredis';
import { checkChannel, checkIncrement, checkInfo, checkKey, checkTtl, positiveInteger } from './arguments.js';
import { withinDeadline } from './deadline.js';
import { StateError } from './errors.js';
import { Fanout } from './fanout.js';
import { type StateLogger, silentLogger } from './logger.js';
import { connectRedis, messageOf, type RedisClient, RedisConnectError } from './redis-connection.js';
import { checkKeyPrefix, parseRedisTarget, type RedisTlsFiles } from './redis-target.js';
import type { HeartbeatMember, HotState, StateHealth, Unsubscribe } from './types.js';

export interface RedisStateOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS (on when the scheme
   * says so, in any letter case). With `cluster`, one or more comma-separated node URLs
   * (seed nodes; the rest of the cluster is discovered), all of one scheme, database 0.
   */
  url: string;
  /** Redis Cluster: `url` lists seed nodes. Default false (one standalone server). */
  cluster?: boolean;
  /** CA, client certificate and key, server name for rediss:// (files are read at connect). */
  tls?: RedisTlsFiles;
  /** Prepended to every key and channel, so several deployments can share one Redis. Default 'pcl:'. */
  keyPrefix?: string;
  /**
   * Longest a command may wait for its reply before it fails. Default 100 ms (see below).
   * Measured so that a stall of this process's event loop does not fail a command whose reply
   * arrived in time (./deadline.ts).
   */
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

/** The client types a RedisState can drive: a standalone connection or a Cluster client. */
export type { RedisClient };

/** Connected clients for a RedisState: how `connect()` hands them over (tests may build their own). */
export interface RedisStateClients {
  /** Connected, with the fail-fast options `connect()` sets (no offline queue, command timeout). */
  client: RedisClient;
  /** Opens and connects a separate connection for pub/sub (a subscribed connection cannot run commands). */
  openSubscriber: () => Promise<RedisClient>;
}

/**
 * 100 ms: a healthy Redis answers in well under a millisecond on a LAN and a few ms across
 * zones, and Redis fork (BGSAVE) hiccups stay in the tens of ms, so a timeout rarely fires on
 * a live server (each false timeout becomes a failsafe decision); a stall of the gateway's own
 * event loop does not count against it (./deadline.ts). Yet a request stuck behind a dead
 * Redis waits at most 100 ms, well under what a client notices.
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
// skewed clocks agree) and a hash of their info; stale members are dropped from both, and
// both keys expire if nobody beats. KEYS share the group's hash tag (one Cluster slot).
// ARGV[3] is '1' when ARGV[4] carries new info; otherwise the member's last info stays.
const HEARTBEAT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
if #stale > 0 then
  redis.call('ZREM', KEYS[1], unpack(stale))
  redis.call('HDEL', KEYS[2], unpack(stale))
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
end
return redis.call('ZCARD', KEYS[1])
`;

// Members beaten within the ttl (by Redis time) with their info: member, score, info, … .
const MEMBERS_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = live[i + 1]
  local info = redis.call('HGET', KEYS[2], live[i])
  if info == false then out[#out + 1] = '' else out[#out + 1] = '=' .. info end
end
return out
`;

const LEAVE_SCRIPT = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
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

// Cluster only: PUBLISH has no key, so ioredis sends each to any node, and two messages sent
// to different nodes can reach a subscriber out of order (one comes over the cluster bus).
// Naming the channel as the script's key routes every message of a channel to the node
// owning its slot, so one publisher's messages keep their order.
const PUBLISH_SCRIPT = `
return redis.call('PUBLISH', KEYS[1], ARGV[1])
`;

interface ScriptCommands {
  pclPublish(channel: string, message: string): Promise<number>;
  pclIncr(key: string, by: number, ttlMs: number): Promise<number>;
  pclHeartbeat(
    key: string,
    infoKey: string,
    member: string,
    ttlMs: number,
    hasInfo: string,
    info: string,
  ): Promise<number>;
  pclMembers(key: string, infoKey: string, ttlMs: number): Promise<string[]>;
  pclLeave(key: string, infoKey: string, member: string): Promise<number>;
  pclAcquireLease(key: string, owner: string, ttlMs: number): Promise<number>;
  pclReleaseLease(key: string, owner: string): Promise<number>;
}

export class RedisState implements HotState {
  readonly kind = 'redis' as const;
  readonly shared = true;

  readonly #client: RedisClient & ScriptCommands;
  /** A Cluster client: publishes are routed by channel (see PUBLISH_SCRIPT). */
  readonly #cluster: boolean;
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
  /** Deadline of every command awaited here (undefined: the client's options alone bound it). */
  readonly #timeoutMs: number | undefined;
  #closed = false;

  /**
   * Open a connection and fail fast when Redis is unreachable: the gateway must not start
   * (or hang at start-up) believing it has shared state. Later outages are handled in the
   * background (reconnect with backoff) while commands fail fast.
   */
  static async connect(options: RedisStateOptions): Promise<RedisState> {
    const target = parseRedisTarget(options.url, options.cluster ?? false);
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    checkKeyPrefix(keyPrefix);
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
    const { client, openSubscriber } = await connectRedis({
      target,
      tls: options.tls,
      commandTimeoutMs,
      connectTimeoutMs,
      logger,
      role: 'commands',
      connectionName: 'portcullis',
      autoPipelining: true,
    }).catch(asStateError);
    return new RedisState(
      { client, openSubscriber: () => openSubscriber().catch(asStateError) },
      { keyPrefix, logger, subscriberHeartbeatMs, commandTimeoutMs },
    );
  }

  /**
   * Prefer `RedisState.connect`; this takes already-connected clients (tests). Without
   * `commandTimeoutMs` no deadline is applied here: the client's own options bound commands.
   */
  constructor(
    clients: RedisStateClients,
    options: {
      keyPrefix?: string;
      logger?: StateLogger;
      subscriberHeartbeatMs?: number;
      commandTimeoutMs?: number;
    } = {},
  ) {
    clients.client.defineCommand('pclIncr', { numberOfKeys: 1, lua: INCR_SCRIPT });
    clients.client.defineCommand('pclHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT_SCRIPT });
    clients.client.defineCommand('pclMembers', { numberOfKeys: 2, lua: MEMBERS_SCRIPT });
    clients.client.defineCommand('pclLeave', { numberOfKeys: 2, lua: LEAVE_SCRIPT });
    clients.client.defineCommand('pclAcquireLease', { numberOfKeys: 1, lua: ACQUIRE_LEASE_SCRIPT });
    clients.client.defineCommand('pclReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE_SCRIPT });
    clients.client.defineCommand('pclPublish', { numberOfKeys: 1, lua: PUBLISH_SCRIPT });
    this.#client = clients.client as RedisClient & ScriptCommands;
    this.#cluster = clients.client instanceof Cluster;
    this.#openSubscriber = clients.openSubscriber;
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#logger = options.logger ?? silentLogger;
    this.#fanout = new Fanout(this.#logger);
    this.#heartbeatMs = options.subscriberHeartbeatMs ?? DEFAULT_SUBSCRIBER_HEARTBEAT_MS;
    this.#timeoutMs =
      options.commandTimeoutMs === undefined
        ? undefined
        : positiveInteger(options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS, 'options.commandTimeoutMs');
  }

  async get(key: string): Promise<string | null> {
    this.#assertOpen();
    checkKey(key);
    try {
      return await this.#bounded(this.#client.get(this.#prefix + key));
    } catch (err) {
      throw toStateError(err, 'get');
    }
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    if (ttlMs !== undefined) checkTtl(ttlMs);
    try {
      if (ttlMs === undefined) await this.#bounded(this.#client.set(this.#prefix + key, value));
      else await this.#bounded(this.#client.set(this.#prefix + key, value, 'PX', ttlMs));
    } catch (err) {
      throw toStateError(err, 'set');
    }
  }

  async del(key: string): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    try {
      await this.#bounded(this.#client.del(this.#prefix + key));
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
      return (await this.#bounded(this.#client.set(this.#prefix + key, value, 'PX', ttlMs, 'NX'))) === 'OK';
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
      return await this.#bounded(this.#client.pclIncr(this.#prefix + key, by, ttlMs));
    } catch (err) {
      throw toStateError(err, 'incr');
    }
  }

  async heartbeat(group: string, member: string, ttlMs: number, info?: string): Promise<number> {
    this.#assertOpen();
    checkKey(group);
    checkKey(member);
    checkTtl(ttlMs);
    checkInfo(info);
    const [key, infoKey] = this.#heartbeatKeys(group);
    try {
      return await this.#bounded(
        this.#client.pclHeartbeat(key, infoKey, member, ttlMs, info === undefined ? '0' : '1', info ?? ''),
      );
    } catch (err) {
      throw toStateError(err, 'heartbeat');
    }
  }

  async members(group: string, ttlMs: number): Promise<HeartbeatMember[]> {
    this.#assertOpen();
    checkKey(group);
    checkTtl(ttlMs);
    const [key, infoKey] = this.#heartbeatKeys(group);
    let flat: string[];
    try {
      flat = await this.#bounded(this.#client.pclMembers(key, infoKey, ttlMs));
    } catch (err) {
      throw toStateError(err, 'members');
    }
    const out: HeartbeatMember[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const info = flat[i + 2] as string;
      out.push({
        member: flat[i] as string,
        lastBeatAt: Number(flat[i + 1]),
        // '' is "no info"; sent info is marked with '=' so an empty string stays one.
        info: info === '' ? null : info.slice(1),
      });
    }
    return out;
  }

  async leave(group: string, member: string): Promise<void> {
    this.#assertOpen();
    checkKey(group);
    checkKey(member);
    const [key, infoKey] = this.#heartbeatKeys(group);
    try {
      await this.#bounded(this.#client.pclLeave(key, infoKey, member));
    } catch (err) {
      throw toStateError(err, 'leave');
    }
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    checkKey(name);
    checkKey(owner);
    checkTtl(ttlMs);
    try {
      return (await this.#bounded(this.#client.pclAcquireLease(this.#leaseKey(name), owner, ttlMs))) === 1;
    } catch (err) {
      throw toStateError(err, 'acquireLease');
    }
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    this.#assertOpen();
    checkKey(name);
    checkKey(owner);
    try {
      return (await this.#bounded(this.#client.pclReleaseLease(this.#leaseKey(name), owner))) === 1;
    } catch (err) {
      throw toStateError(err, 'releaseLease');
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    checkChannel(channel);
    try {
      if (this.#cluster) await this.#bounded(this.#client.pclPublish(this.#prefix + channel, message));
      else await this.#bounded(this.#client.publish(this.#prefix + channel, message));
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
      // The connection subscribed now: after a replacement (#subscriberEnded) it is no longer
      // the one this subscription started on, and the channel was subscribed again on the new one.
      const current = this.#subscriberClient;
      if (this.#closed || current === undefined) return;
      try {
        await current.unsubscribe(this.#prefix + channel);
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
      await this.#bounded(this.#client.ping());
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

  /** A command under the deadline; ioredis's own commandTimeout is only a backstop (redis-connection.ts). */
  #bounded<T>(command: Promise<T>): Promise<T> {
    return this.#timeoutMs === undefined ? command : withinDeadline(command, this.#timeoutMs);
  }

  /** The group's members by last beat, and their info: one hash tag, so one Cluster slot. */
  #heartbeatKeys(group: string): [string, string] {
    return [`${this.#prefix}hb:{${group}}`, `${this.#prefix}hbi:{${group}}`];
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
      // A subscriber that stopped reconnecting (on a cluster: its node stayed away) is
      // replaced by one on another node, subscribed to every channel still listened to.
      subscriber.once('end', () => this.#subscriberEnded(subscriber));
      return subscriber;
    });
    this.#subscriber = opening;
    // A failed start must not poison later subscribes: the next one tries again.
    opening.catch(() => {
      if (this.#subscriber === opening) this.#subscriber = undefined;
    });
    return opening;
  }

  #subscriberEnded(lost: RedisClient): void {
    if (this.#closed || this.#subscriberClient !== lost) return;
    clearInterval(this.#heartbeat);
    this.#subscriber = undefined;
    this.#subscriberClient = undefined;
    this.#subscribed.clear();
    this.#logger.warn({}, 'redis subscriber connection gave up; opening another (events meanwhile are lost)');
    void this.#resubscribe(1);
  }

  /** Open a subscriber and SUBSCRIBE every channel with handlers; retried with backoff until it works or the state closes. */
  async #resubscribe(attempt: number): Promise<void> {
    if (this.#closed) return;
    try {
      const subscriber = await this.#ensureSubscriber();
      const channels = this.#fanout.channels();
      for (const channel of channels) {
        if (this.#subscribed.has(channel)) continue;
        const subscribing = subscriber.subscribe(this.#prefix + channel).then(() => undefined);
        this.#subscribed.set(channel, subscribing);
        subscribing.catch(() => {
          if (this.#subscribed.get(channel) === subscribing) this.#subscribed.delete(channel);
        });
      }
      await Promise.all(channels.map((channel) => this.#subscribed.get(channel)));
      this.#logger.info(
        { channels: channels.length },
        'redis subscriber replaced; channels subscribed again',
      );
    } catch (err) {
      if (this.#closed) return;
      if (attempt === 1) this.#logger.warn({ err }, 'redis subscriber could not be replaced yet; retrying');
      const delay = Math.min(RESUBSCRIBE_MAX_DELAY_MS, 100 * 2 ** Math.min(attempt - 1, 5));
      setTimeout(() => void this.#resubscribe(attempt + 1), delay).unref();
    }
  }
}

/** Longest pause between attempts to replace a subscriber that gave up. */
const RESUBSCRIBE_MAX_DELAY_MS = 2_000;

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
