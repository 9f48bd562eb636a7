/**
 * Hot shared state: the small, fast, possibly-shared facts the request path needs
 * (nonces, counters, caches, change events). One interface, two implementations:
 * `memory.ts` (bounded, one process) and `redis.ts` (ioredis, shared by many instances).
 * Later issues add operations here; every operation is covered by the shared contract
 * suite in test/state/state-contract.ts, which both implementations must pass.
 *
 * Faults reject with a `StateError` (errors.ts) whose `code` tells them apart: the backend
 * is down or slow (`ERR_STATE_UNAVAILABLE`, fail within the command timeout), the state is
 * closed, `incr` met a non-integer, or the caller broke the argument rules below
 * (`ERR_STATE_INVALID_ARGUMENT`): keys and channels at most 1024 characters (heartbeat groups
 * and members, lease names and owners count as keys), heartbeat info at most 4096 characters,
 * `ttlMs` a positive integer, `by` a safe integer. Counters are exact up to 2^53 on both backends.
 */
export type StateKind = 'memory' | 'redis';

export interface StateHealth {
  ok: boolean;
  kind: StateKind;
  /** Round-trip time of the health probe in milliseconds, when measured. */
  latencyMs?: number;
  error?: string;
}

export type Unsubscribe = () => Promise<void>;

export interface HeartbeatMember {
  member: string;
  info: string | null;
  /** Epoch milliseconds of the member's last heartbeat. */
  lastBeatAt: number;
}

export interface HotState {
  readonly kind: StateKind;
  /** Whether state is visible to other processes (Redis) or local to this one (memory). */
  readonly shared: boolean;

  get(key: string): Promise<string | null>;
  /** Set a value; with `ttlMs` it expires after that many milliseconds. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /**
   * Set only if the key does not exist (nonce acceptance). Returns true when this call
   * created the key. Atomic across every process sharing the state.
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /**
   * Atomically add `by` to an integer counter and return the new value. A counter that did
   * not exist starts at 0 and gets `ttlMs` as its time to live; an existing counter keeps
   * its expiry.
   */
  incr(key: string, by: number, ttlMs: number): Promise<number>;
  /**
   * Heartbeat: mark `member` of `group` alive now and return how many members were seen
   * within the last `ttlMs` (this one included). Instances use it to know how many of them
   * share the work (the `local` degraded rate-limit mode divides limits by that count).
   * With `info` (at most 4096 characters) the member's description is replaced; without, the
   * last one sent is kept. Members silent for `ttlMs` are forgotten with their info.
   */
  heartbeat(group: string, member: string, ttlMs: number, info?: string): Promise<number>;
  /**
   * The members of `group` seen within the last `ttlMs`, each with its last `info` (null if it
   * never sent one) and the time of its last beat (epoch ms, by the state's clock: Redis time
   * for Redis), oldest beat first. Reads only: expiry is left to the next heartbeat.
   */
  members(group: string, ttlMs: number): Promise<HeartbeatMember[]>;
  /** Forget `member` of `group` at once (a clean shutdown), info included. */
  leave(group: string, member: string): Promise<void>;
  /**
   * Leader lease: take `name` for `owner` when nobody holds it (or the holder's lease ran out),
   * or renew it when `owner` already holds it; either way it now lasts `ttlMs` from now. Returns
   * true when `owner` holds the lease after the call, false when someone else does. Atomic
   * across every process sharing the state.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Give the lease up if `owner` holds it (a clean shutdown hands over at once); true when it did. */
  releaseLease(name: string, owner: string): Promise<boolean>;
  /** Publish a change event to every subscriber of `channel` (in every process when shared). */
  publish(channel: string, message: string): Promise<void>;
  /** Receive change events; the returned function stops the subscription. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe>;
  health(): Promise<StateHealth>;
  close(): Promise<void>;
}
