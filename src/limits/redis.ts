/**
 * Rate limits shared by every gateway instance, over ioredis: one Lua script per `checkAll`
 * (./redis-script.ts) evaluates all the limits of a request in one round trip, atomically,
 * on the Redis server's clock, and writes only when all allow.
 *
 * Keys: `<prefix>rl:{<policyId>:<identity>}:<suffix>`, every one with an expiry. The braces
 * are a Redis Cluster hash tag: all the state of one limit for one identity is in one slot.
 * A script may only touch keys of one slot, and the limits of one request (key, IP, route…)
 * generally hash to different slots, so on a Cluster `checkAll` groups the checks by slot and
 * runs one script per group, in parallel. All-or-nothing then holds by compensation: when a
 * group denies, the groups that allowed are refunded (and their leases released) at once. A
 * concurrent request may see those units taken for that round trip — it can be denied too
 * early, never allowed beyond a limit. On standalone Redis one script covers all.
 *
 * Faults: every failure rejects with LimiterUnavailableError within the command timeout
 * (fail-fast connection options, see redis-connection.ts, and a deadline per command that a
 * stall of this process's event loop does not trip, see ../state/deadline.ts); the caller
 * picks the degraded mode.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { type Clock, systemClock } from '../core/clock.js';
import { keySlot } from '../state/cluster-slot.js';
import { withinDeadline } from '../state/deadline.js';
import { type StateLogger, silentLogger } from '../state/logger.js';
import type { RedisClient } from '../state/redis-connection.js';
import { checkKeyPrefix, parseRedisTarget, type RedisTlsFiles } from '../state/redis-target.js';
import { calendarBounds } from './calendar.js';
import { leaseKey, type PlannedCheck, planCheck } from './compile.js';
import { LimiterUnavailableError } from './errors.js';
import { DEFAULT_LEASE_TTL_MS } from './memory.js';
import { messageOf, openLimiterConnection } from './redis-connection.js';
import { ARGS_PER_CHECK, LIMIT_SCRIPT, REPLY_PER_CHECK } from './redis-script.js';
import type { CheckAllResult, ConcurrencyLease, LimitCheck, LimitDecision, RateLimiter } from './types.js';

export interface RedisLimiterOptions {
  /** Prepended to every key, as RedisState's. Default 'pcl:'. */
  keyPrefix?: string;
  /** How long a concurrency lease lives unless released. Default 300 000 (5 min). */
  leaseTtlMs?: number;
  /**
   * TESTS ONLY. Replaces the Redis server's clock with this one (passed to the script as
   * ARGV[1]), so the contract and model tests drive time as they do for MemoryLimiter, and
   * adds a minute to every expiry (keys still expire in real time). Never set in production:
   * instances' clocks differ, and a shared limit needs the one clock of the server.
   */
  testClock?: Clock;
  /**
   * This instance's clock, used only to compute calendar-quota boundaries (Lua has no time
   * zone data); decisions use the server's time. Default: the test clock if set, else the system clock.
   */
  clock?: Clock;
  /** Whether `close()` closes the client. Default false (the caller owns it); `connect()` sets it. */
  ownsClient?: boolean;
  /** Told when a Cluster compensation (refund of a denied request's other groups) fails. */
  logger?: StateLogger;
  /**
   * Longest a check, refund or release may wait for Redis (../state/deadline.ts). Default:
   * no deadline here, the client's options alone bound commands; `connect()` sets it.
   */
  commandTimeoutMs?: number;
}

export interface RedisLimiterConnectOptions extends Omit<RedisLimiterOptions, 'ownsClient'> {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS); with `cluster`, comma-separated seed nodes. */
  url: string;
  /** Redis Cluster (see RedisState's option of the same name). Default false. */
  cluster?: boolean;
  /** rediss:// CA, client certificate and key, server name. */
  tls?: RedisTlsFiles;
  /** Longest a check may wait for Redis. Default 100 ms (as RedisState; see there why). */
  commandTimeoutMs?: number;
  /** Start-up budget. Default 2 000 ms. */
  connectTimeoutMs?: number;
  logger?: StateLogger;
}

const DEFAULT_KEY_PREFIX = 'pcl:';
const DEFAULT_COMMAND_TIMEOUT_MS = 100;
const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
/** Test mode only: logical time jumps ahead of real time, so real expiries get this much room. */
const TEST_EXPIRY_SLACK_MS = 60_000;

interface LimitCommands {
  pclRateLimit(numKeys: number, ...keysAndArgs: Array<string | number>): Promise<number[] | number>;
}

/** The checks of one Cluster slot: their positions in the request, keys and script arguments. */
interface SlotGroup {
  readonly indices: number[];
  readonly keys: string[];
  readonly args: Array<string | number>;
}

export class RedisLimiter implements RateLimiter {
  readonly kind = 'redis' as const;

  readonly #client: RedisClient & LimitCommands;
  /** A Cluster client: checks are grouped by slot (see the file comment). */
  readonly #cluster: boolean;
  readonly #logger: StateLogger;
  readonly #prefix: string;
  readonly #leaseTtlMs: number;
  readonly #testClock: Clock | undefined;
  readonly #clock: Clock;
  readonly #ownsClient: boolean;
  /** Deadline of every command awaited here (undefined: the client's options alone bound it). */
  readonly #timeoutMs: number | undefined;
  /**
   * The prefixed key and the script arguments of a plan that does not change per request
   * (token buckets and windows; calendar bounds move with time, leases are new each time).
   * Plans of frozen checks are themselves reused (see planCheck), so a returning caller costs
   * no string building here. Strings are what ioredis would send for the numbers (it applies
   * String() to non-string arguments), so the bytes on the wire are the same.
   */
  readonly #encoded = new WeakMap<PlannedCheck, { readonly key: string; readonly args: readonly string[] }>();
  #closed = false;

  /** Open a dedicated connection with RedisState's fail-fast options; rejects with LimiterUnavailableError('connect'). */
  static async connect(options: RedisLimiterConnectOptions): Promise<RedisLimiter> {
    const commandTimeoutMs = positiveOption(
      options.commandTimeoutMs,
      DEFAULT_COMMAND_TIMEOUT_MS,
      'options.commandTimeoutMs',
    );
    const connectTimeoutMs = positiveOption(
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
      'options.connectTimeoutMs',
    );
    // Validate before connecting, so a bad option is a TypeError and not a connection left open.
    const { url, cluster, tls, connectTimeoutMs: _t, ...limiterOptions } = options;
    checkLimiterOptions(limiterOptions);
    const client = await openLimiterConnection({
      target: parseRedisTarget(url, cluster ?? false),
      tls,
      commandTimeoutMs,
      connectTimeoutMs,
      logger: options.logger ?? silentLogger,
    });
    return new RedisLimiter(client, { ...limiterOptions, commandTimeoutMs, ownsClient: true });
  }

  /**
   * Over an already connected client, standalone or Cluster (RedisState's, or a test's). The
   * client's options decide the fault behaviour: give it RedisState's (no offline queue, a
   * command timeout), or a dead Redis will make checks wait.
   */
  constructor(client: RedisClient, options: RedisLimiterOptions = {}) {
    checkLimiterOptions(options);
    client.defineCommand('pclRateLimit', { lua: LIMIT_SCRIPT });
    this.#client = client as RedisClient & LimitCommands;
    this.#cluster = client instanceof Cluster;
    this.#logger = options.logger ?? silentLogger;
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#testClock = options.testClock;
    this.#clock = options.clock ?? options.testClock ?? systemClock;
    this.#ownsClient = options.ownsClient ?? false;
    this.#timeoutMs = options.commandTimeoutMs;
  }

  async checkAll(checks: readonly LimitCheck[]): Promise<CheckAllResult> {
    this.#assertOpen();
    const plans = checks.map(planCheck);
    if (plans.length === 0) return { allowed: true, decisions: [], leases: [] };
    const leaseIds: Array<string | undefined> = [];
    const reply = (await this.#run('check', checks, plans, leaseIds)) as number[];
    const allowed = reply[0] === 1;
    const decisions = plans.map((plan, i): LimitDecision => {
      const at = 1 + i * REPLY_PER_CHECK;
      const ok = reply[at] === 1;
      return {
        allowed: ok,
        limit: plan.shape.limit,
        remaining: reply[at + (allowed ? 1 : 4)]!,
        resetMs: reply[at + (allowed ? 2 : 5)]!,
        retryAfterMs: ok ? undefined : reply[at + 3]!,
      };
    });
    const leases: ConcurrencyLease[] = [];
    if (allowed) {
      for (let i = 0; i < checks.length; i++) {
        const leaseId = leaseIds[i];
        if (leaseId === undefined) continue;
        leases.push({ policyId: checks[i]!.limit.policyId, identity: checks[i]!.identity, leaseId });
      }
    }
    return { allowed, decisions, leases };
  }

  /** ZREM per lease; with auto-pipelining the leases of one request go out in one write. */
  async release(leases: readonly ConcurrencyLease[]): Promise<void> {
    this.#assertOpen();
    if (leases.length === 0) return;
    try {
      await this.#bounded(
        Promise.all(
          leases.map((lease) =>
            this.#client.zrem(this.#prefix + leaseKey(lease.policyId, lease.identity), lease.leaseId),
          ),
        ),
      );
    } catch (err) {
      throw toUnavailable(err, 'release');
    }
  }

  async refund(checks: readonly LimitCheck[]): Promise<void> {
    this.#assertOpen();
    const refundable = checks.filter((check) => planCheck(check).shape.tag !== 'cc');
    if (refundable.length === 0) return;
    await this.#run('refund', refundable, refundable.map(planCheck), []);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit();
        return;
      } catch {
        // fall through: a QUIT that cannot be sent or answered is replaced by a hard close
      }
    }
    this.#client.disconnect();
  }

  #assertOpen(): void {
    if (this.#closed) throw new LimiterUnavailableError('closed', 'RedisLimiter is closed');
  }

  /** A command under the deadline; ioredis's own commandTimeout is only a backstop (redis-connection.ts). */
  #bounded<T>(command: Promise<T>): Promise<T> {
    return this.#timeoutMs === undefined ? command : withinDeadline(command, this.#timeoutMs);
  }

  /** Only the plan of a frozen check is reused (see planCheck): caching any other is waste. */
  #encode(plan: PlannedCheck, reused: boolean): { readonly key: string; readonly args: readonly string[] } {
    let encoded = this.#encoded.get(plan);
    if (encoded === undefined) {
      encoded = { key: this.#prefix + plan.key, args: staticArgs(plan) };
      if (reused) this.#encoded.set(plan, encoded);
    }
    return encoded;
  }

  /** `plans[i]` is `planCheck(checks[i])`. */
  async #run(
    mode: 'check' | 'refund',
    checks: readonly LimitCheck[],
    plans: readonly PlannedCheck[],
    leaseIds: Array<string | undefined>,
  ): Promise<unknown> {
    const testNow = this.#testClock === undefined ? undefined : Math.floor(this.#testClock.now());
    // Calendar boundaries come from this instance's clock; the script picks among three
    // windows by the server's time, so instance clock skew (below a day) does not matter.
    let boundaryNow: number | undefined;
    const keys: string[] = [];
    const args: Array<string | number> = [
      testNow === undefined ? '' : testNow,
      testNow === undefined ? 0 : TEST_EXPIRY_SLACK_MS,
      mode,
    ];
    for (let i = 0; i < plans.length; i++) {
      const plan = plans[i]!;
      const shape = plan.shape;
      let leaseId: string | undefined;
      switch (shape.tag) {
        case 'tb':
        case 'sw':
        case 'fw': {
          const encoded = this.#encode(plan, Object.isFrozen(checks[i]));
          keys.push(encoded.key);
          for (const arg of encoded.args) args.push(arg);
          break;
        }
        case 'cal':
          boundaryNow ??= Math.floor(this.#clock.now());
          keys.push(this.#prefix + plan.key);
          args.push(
            'cal',
            shape.limit,
            plan.cost,
            ...calendarBounds(boundaryNow, shape.period, shape.timeZone),
          );
          break;
        case 'cc':
          leaseId = randomUUID();
          keys.push(this.#prefix + plan.key);
          args.push('cc', shape.limit, 1, this.#leaseTtlMs, leaseId, '', '');
          break;
      }
      leaseIds.push(leaseId);
    }
    if (args.length !== 3 + plans.length * ARGS_PER_CHECK)
      throw new Error('limit script arguments misaligned');
    if (this.#cluster && keys.length > 1) {
      const groups = groupBySlot(keys, args);
      if (groups.length > 1) return this.#runGroups(mode, groups, plans.length);
    }
    return this.#eval(mode, keys, args);
  }

  async #eval(mode: 'check' | 'refund', keys: readonly string[], args: readonly (string | number)[]) {
    try {
      if (!this.#cluster)
        return await this.#bounded(this.#client.pclRateLimit(keys.length, ...keys, ...args));
      // ioredis's cluster auto-pipelining routes a script by its first argument, which for a
      // script with a variable key count is the count, not a key: the batch is then refused
      // ("All keys in the pipeline should belong to the same slots allocation group"). A
      // command with a fixed key count per size starts with its first key. Same Lua, same SHA.
      const name = `pclRateLimit${keys.length}`;
      const commands = this.#client as unknown as Record<
        string,
        (...a: Array<string | number>) => Promise<unknown>
      >;
      if (commands[name] === undefined)
        this.#client.defineCommand(name, { numberOfKeys: keys.length, lua: LIMIT_SCRIPT });
      return await this.#bounded(commands[name]!.call(this.#client, ...keys, ...args));
    } catch (err) {
      throw toUnavailable(err, mode);
    }
  }

  /**
   * One script per slot group, in parallel; the replies are merged into the single-script
   * shape. In 'check' mode, when any group denies or fails, the groups that consumed are
   * given back (units refunded, leases removed) before answering. A group whose call failed
   * (a timeout) is not refunded: it may not have run, and a refund of what was never taken
   * would give units away. If it did run, what it took counts until its window (or lease)
   * ends — logged, and never more than the limit allows.
   */
  #slotFailureLoggedAt = 0;

  async #runGroups(mode: 'check' | 'refund', groups: readonly SlotGroup[], count: number): Promise<unknown> {
    const settled = await Promise.allSettled(groups.map((g) => this.#eval(mode, g.keys, g.args)));
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (mode === 'refund') {
      if (failure !== undefined) throw failure.reason;
      return 0;
    }
    const replies = settled.map((r) => (r.status === 'fulfilled' ? (r.value as number[]) : undefined));
    const allowed = failure === undefined && replies.every((reply) => reply?.[0] === 1);
    if (!allowed) {
      const consumed = groups.filter((_, i) => replies[i]?.[0] === 1);
      const undone = await Promise.allSettled(
        consumed.map((g) =>
          this.#eval('refund', g.keys, [g.args[0]!, g.args[1]!, 'refund', ...g.args.slice(3)]),
        ),
      );
      for (const result of undone) {
        if (result.status === 'rejected')
          this.#logger.warn(
            { err: result.reason },
            'rate limit: could not give back the units of a denied request on one cluster slot; they count until their window ends',
          );
      }
    }
    if (failure !== undefined) {
      // Once per 10 s at most: during an outage every request comes this way.
      const now = Date.now();
      if (now - this.#slotFailureLoggedAt >= 10_000) {
        this.#slotFailureLoggedAt = now;
        this.#logger.warn(
          { err: failure.reason },
          'rate limit: a cluster slot did not answer; if its script ran, what it took counts until its window ends',
        );
      }
      throw failure.reason;
    }
    const merged: number[] = new Array(1 + count * REPLY_PER_CHECK);
    merged[0] = allowed ? 1 : 0;
    groups.forEach((group, g) => {
      const reply = replies[g]!;
      group.indices.forEach((index, j) => {
        for (let k = 0; k < REPLY_PER_CHECK; k++)
          merged[1 + index * REPLY_PER_CHECK + k] = reply[1 + j * REPLY_PER_CHECK + k]!;
      });
    });
    return merged;
  }
}

/** Split one request's keys and arguments into one script call per Cluster slot (first-seen order). */
function groupBySlot(keys: readonly string[], args: readonly (string | number)[]): SlotGroup[] {
  const bySlot = new Map<number, SlotGroup>();
  const header = args.slice(0, 3);
  for (let i = 0; i < keys.length; i++) {
    const slot = keySlot(keys[i]!);
    let group = bySlot.get(slot);
    if (group === undefined) {
      group = { indices: [], keys: [], args: [...header] };
      bySlot.set(slot, group);
    }
    group.indices.push(i);
    group.keys.push(keys[i]!);
    const at = 3 + i * ARGS_PER_CHECK;
    for (let k = at; k < at + ARGS_PER_CHECK; k++) group.args.push(args[k]!);
  }
  return [...bySlot.values()];
}

/** Cached script arguments (7, see redis-script.ts) of a token-bucket or window plan. */
function staticArgs(plan: PlannedCheck): string[] {
  const shape = plan.shape;
  let a: number;
  if (shape.tag === 'tb') a = shape.emissionUs;
  else if (shape.tag === 'sw' || shape.tag === 'fw') a = shape.windowMs;
  else throw new Error(`limit script arguments of ${shape.tag} change per call`);
  return [shape.tag, String(shape.limit), String(plan.cost), String(a), '', '', ''];
}

function checkLimiterOptions(options: RedisLimiterOptions): void {
  if (options.keyPrefix !== undefined) checkKeyPrefix(options.keyPrefix);
  positiveOption(options.leaseTtlMs, DEFAULT_LEASE_TTL_MS, 'options.leaseTtlMs');
  positiveOption(options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS, 'options.commandTimeoutMs');
}

function toUnavailable(err: unknown, operation: string): LimiterUnavailableError {
  if (err instanceof LimiterUnavailableError) return err;
  const message = `Redis rate limit ${operation} failed: ${messageOf(err)}`;
  if (err instanceof Error && err.name === 'ReplyError') {
    return new LimiterUnavailableError('backend', message, { cause: err });
  }
  if (/timed out/i.test(messageOf(err)))
    return new LimiterUnavailableError('timeout', message, { cause: err });
  return new LimiterUnavailableError('unreachable', message, { cause: err });
}

function positiveOption(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer (got ${String(value)})`);
  }
  return value;
}
