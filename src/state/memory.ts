/**
 * Hot state for a single process: a bounded LRU map with TTLs read from an injected clock,
 * and in-process pub/sub. The default when no Redis is configured, and the reference the
 * Redis implementation is tested against.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { checkChannel, checkIncrement, checkInfo, checkKey, checkTtl, positiveInteger } from './arguments.js';
import { StateError } from './errors.js';
import { Fanout } from './fanout.js';
import { type StateLogger, silentLogger } from './logger.js';
import type { HeartbeatMember, HotState, StateHealth, Unsubscribe } from './types.js';

export interface MemoryStateOptions {
  /** Most entries held at once; the least recently used is evicted beyond it. Default 100 000. */
  maxEntries?: number;
  /**
   * Approximate memory budget in bytes (UTF-16 key and value plus a fixed per-entry overhead);
   * least recently used entries are evicted beyond it. Default 64 MiB.
   */
  maxBytes?: number;
  clock?: Clock;
  /** How often expired entries are swept out. Default 5 000 ms. */
  sweepIntervalMs?: number;
  logger?: StateLogger;
}

interface Entry {
  value: string;
  /** Epoch ms by the injected clock; `Infinity` when the entry does not expire. */
  expiresAt: number;
  bytes: number;
  /** Insertion sequence of its current position in the map (recency). */
  seq: number;
}

interface Beat {
  /** Epoch ms by the injected clock. */
  seen: number;
  info: string | null;
}

interface Lease {
  owner: string;
  /** Epoch ms by the injected clock. */
  expiresAt: number;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_SWEEP_INTERVAL_MS = 5_000;
/** Rough V8 cost of a Map slot plus the entry object; keeps tiny entries from looking free. */
const ENTRY_OVERHEAD_BYTES = 96;
/** Canonical integers only, as Redis parses them (no '+', leading zeros, spaces or '-0'). */
const INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

export class MemoryState implements HotState {
  // Heartbeat groups are few and small (one member per instance): kept outside the LRU.
  readonly #heartbeats = new Map<string, Map<string, Beat>>();
  // Leases likewise (one per elected role): an eviction under a key flood must never drop a
  // lease, or a second leader would be elected while the first still runs.
  readonly #leases = new Map<string, Lease>();
  readonly kind = 'memory' as const;
  readonly shared = false;

  /** Insertion order is recency order: a touched entry is deleted and re-inserted at the end. */
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #fanout: Fanout;
  readonly #sweepTimer: NodeJS.Timeout;
  /**
   * A long-lived iterator over the keys, so finding the least recently used entry is O(1).
   * Asking a fresh iterator each time is O(deleted slots): V8 leaves a hole per delete at the
   * front of the Map until it rehashes, which made a 300k-key flood take seconds instead of
   * milliseconds. A live Map iterator is spec-defined to skip deleted entries and to visit
   * re-inserted ones at their new place, so it always yields the oldest remaining key.
   */
  #cursor: Iterator<string> = this.#entries.keys();
  #bytes = 0;
  #seq = 0;
  #evictions = 0;
  #closed = false;

  constructor(options: MemoryStateOptions = {}) {
    this.#maxEntries = positiveInteger(options.maxEntries, DEFAULT_MAX_ENTRIES, 'options.maxEntries');
    this.#maxBytes = positiveInteger(options.maxBytes, DEFAULT_MAX_BYTES, 'options.maxBytes');
    const sweepIntervalMs = positiveInteger(
      options.sweepIntervalMs,
      DEFAULT_SWEEP_INTERVAL_MS,
      'options.sweepIntervalMs',
    );
    this.#clock = options.clock ?? systemClock;
    this.#fanout = new Fanout(options.logger ?? silentLogger);
    // Lazy expiry alone never frees keys that are written once and never read again (most
    // nonces), so a periodic sweep reclaims them. unref: the sweep must not keep the process alive.
    this.#sweepTimer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  /** Entries held, including expired ones not yet swept (they are invisible to reads). */
  get size(): number {
    return this.#entries.size;
  }

  /** Approximate bytes held, as counted against `maxBytes`. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Unexpired entries dropped to respect the bounds. Worth alerting on: an evicted nonce can
   * be replayed and an evicted counter restarts at zero, so a rising count means the bound is
   * too small for the traffic or someone is flooding distinct keys.
   */
  get evictions(): number {
    return this.#evictions;
  }

  async get(key: string): Promise<string | null> {
    this.#assertOpen();
    checkKey(key);
    const entry = this.#live(key, this.#clock.now());
    if (entry === undefined) return null;
    this.#touch(key, entry);
    return entry.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    if (ttlMs !== undefined) checkTtl(ttlMs);
    // Like Redis SET without KEEPTTL: a plain set clears any previous expiry.
    const expiresAt = ttlMs === undefined ? Number.POSITIVE_INFINITY : this.#clock.now() + ttlMs;
    this.#write(key, value, expiresAt);
  }

  async del(key: string): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    const entry = this.#entries.get(key);
    if (entry !== undefined) this.#remove(key, entry);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    checkKey(key);
    checkTtl(ttlMs);
    const now = this.#clock.now();
    // An expired nonce is absent: the same nonce becomes acceptable once its window has passed.
    if (this.#live(key, now) !== undefined) return false;
    this.#write(key, value, now + ttlMs);
    return true;
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    this.#assertOpen();
    checkKey(key);
    checkIncrement(by);
    checkTtl(ttlMs);
    const now = this.#clock.now();
    const entry = this.#live(key, now);
    if (entry === undefined) {
      this.#write(key, String(by), now + ttlMs);
      return by;
    }
    const current = INTEGER.test(entry.value) ? Number(entry.value) : Number.NaN;
    if (!Number.isSafeInteger(current)) {
      throw new StateError('ERR_STATE_NOT_INTEGER', 'incr: the stored value is not an integer');
    }
    const next = current + by;
    if (!Number.isSafeInteger(next)) {
      throw new StateError('ERR_STATE_NOT_INTEGER', 'incr: the result would overflow a safe integer');
    }
    // Keep the expiry: a fixed window must end when it was created to end, however busy it is.
    this.#write(key, String(next), entry.expiresAt);
    return next;
  }

  async heartbeat(group: string, member: string, ttlMs: number, info?: string): Promise<number> {
    this.#assertOpen();
    checkKey(group);
    checkKey(member);
    checkTtl(ttlMs);
    checkInfo(info);
    const now = this.#clock.now();
    let members = this.#heartbeats.get(group);
    if (!members) {
      members = new Map();
      this.#heartbeats.set(group, members);
    }
    const previous = members.get(member);
    members.set(member, { seen: now, info: info ?? previous?.info ?? null });
    for (const [name, beat] of members) if (beat.seen <= now - ttlMs) members.delete(name);
    return members.size;
  }

  async members(group: string, ttlMs: number): Promise<HeartbeatMember[]> {
    this.#assertOpen();
    checkKey(group);
    checkTtl(ttlMs);
    const now = this.#clock.now();
    const out: HeartbeatMember[] = [];
    for (const [member, beat] of this.#heartbeats.get(group) ?? []) {
      if (beat.seen > now - ttlMs) out.push({ member, info: beat.info, lastBeatAt: beat.seen });
    }
    // Oldest beat first, ties by name: the order Redis gives (ZRANGEBYSCORE).
    return out.sort((a, b) => a.lastBeatAt - b.lastBeatAt || (a.member < b.member ? -1 : 1));
  }

  async leave(group: string, member: string): Promise<void> {
    this.#assertOpen();
    checkKey(group);
    checkKey(member);
    const members = this.#heartbeats.get(group);
    members?.delete(member);
    if (members?.size === 0) this.#heartbeats.delete(group);
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    checkKey(name);
    checkKey(owner);
    checkTtl(ttlMs);
    const now = this.#clock.now();
    const held = this.#leases.get(name);
    if (held !== undefined && held.owner !== owner && held.expiresAt > now) return false;
    this.#leases.set(name, { owner, expiresAt: now + ttlMs });
    return true;
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    this.#assertOpen();
    checkKey(name);
    checkKey(owner);
    const held = this.#leases.get(name);
    // A lease that ran out is no longer held by anyone, as in Redis where the key is gone.
    if (held === undefined || held.owner !== owner || held.expiresAt <= this.#clock.now()) return false;
    this.#leases.delete(name);
    return true;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    checkChannel(channel);
    const subscriptions = this.#fanout.snapshot(channel);
    if (subscriptions.length === 0) return;
    // Deliver later, as a broker would: a publisher must not run subscriber code (or see its
    // exceptions) inside its own call, and must not come to rely on synchronous delivery.
    setImmediate(() => this.#fanout.deliver(subscriptions, message));
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    this.#assertOpen();
    checkChannel(channel);
    const { subscription } = this.#fanout.add(channel, onMessage);
    return async () => {
      this.#fanout.remove(subscription);
    };
  }

  async health(): Promise<StateHealth> {
    if (this.#closed) return { ok: false, kind: 'memory', error: 'closed' };
    return { ok: true, kind: 'memory', latencyMs: 0 };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#fanout.clear();
    this.#entries.clear();
    this.#leases.clear();
    this.#bytes = 0;
  }

  /** Remove every expired entry now; returns how many. Runs on a timer; tests call it directly. */
  sweep(): number {
    const now = this.#clock.now();
    let removed = 0;
    // Deleting the current entry while iterating a Map is safe and visits every other entry.
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#remove(key, entry);
        removed++;
      }
    }
    return removed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StateError('ERR_STATE_CLOSED', 'MemoryState is closed');
  }

  /** The entry if present and unexpired; an expired one is dropped on the spot. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#remove(key, entry);
      return undefined;
    }
    return entry;
  }

  /**
   * Move an entry to the recent end only once it has drifted into the older half: a Map delete +
   * set on every touch leaves deleted slots in V8's hash table, and a hot key's operations then
   * slow down with the number of other keys (see bench/micro-caches.ts). Eviction takes from
   * the older end, so the newer half's approximate order never decides anything.
   */
  #touch(key: string, entry: Entry): void {
    // Small maps keep exact LRU order (no measurable churn below ~1,000 keys).
    if (this.#maxEntries >= 1024 && this.#seq - entry.seq <= this.#maxEntries >> 1) return;
    this.#entries.delete(key);
    entry.seq = ++this.#seq;
    this.#entries.set(key, entry);
  }

  #write(key: string, value: string, expiresAt: number): void {
    const bytes = (key.length + value.length) * 2 + ENTRY_OVERHEAD_BYTES;
    const previous = this.#entries.get(key);
    if (previous !== undefined) {
      // In place (a counter's increment is the hot case): no Map churn.
      this.#bytes += bytes - previous.bytes;
      previous.value = value;
      previous.expiresAt = expiresAt;
      previous.bytes = bytes;
      this.#touch(key, previous);
    } else {
      this.#entries.set(key, { value, expiresAt, bytes, seq: ++this.#seq });
      this.#bytes += bytes;
    }
    this.#evict();
  }

  /**
   * Enforce the bounds whatever the number of distinct keys written: without this, a flood
   * of random nonces or API keys (each a new entry) would grow the map until the process
   * runs out of memory. The entry just written is at the end, so it is never the victim
   * while others remain.
   */
  #evict(): void {
    if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) return;
    const now = this.#clock.now();
    while (
      this.#entries.size > 1 &&
      (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes)
    ) {
      const key = this.#leastRecentlyUsed();
      const entry = this.#entries.get(key)!;
      if (entry.expiresAt > now) this.#evictions++;
      this.#remove(key, entry);
    }
  }

  /** Only called on a non-empty map. */
  #leastRecentlyUsed(): string {
    let next = this.#cursor.next();
    if (next.done === true) {
      // Every key the old iterator knew is gone: start over from the current oldest.
      this.#cursor = this.#entries.keys();
      next = this.#cursor.next();
    }
    return next.value as string;
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}
