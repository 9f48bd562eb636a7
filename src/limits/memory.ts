/**
 * Rate limits for one process: state in a bounded LRU map, time from an injected Clock.
 * The default backend, the fallback for the `local` degraded mode, and the reference the
 * Redis script is tested against. Single-threaded, so all-or-nothing needs no locking: a
 * call evaluates every check on scratch copies and commits only when all allow.
 *
 * Bound: at most `maxEntries` keys (one per policy × identity). A flood of distinct
 * identities evicts the least recently used. Eviction forgets what an identity consumed (and
 * the concurrency leases it holds), so it can only make a limit more lenient for the evicted
 * identity, never deny anyone wrongly; `evictions` counts it so operators can alert on it.
 */
import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../core/clock.js';
import type { ConcurrencyState } from './algorithms/concurrency.js';
import type { WindowBounds } from './algorithms/fixed-window.js';
import { leaseKey, type PlannedCheck, planCheck } from './compile.js';
import {
  consume,
  describe,
  expiresAt,
  load,
  type Now,
  refund,
  type StoredState,
  type WorkingState,
  windowOf,
} from './engine.js';
import { LimiterUnavailableError } from './errors.js';
import type { CheckAllResult, ConcurrencyLease, LimitCheck, LimitDecision, RateLimiter } from './types.js';

export interface MemoryLimiterOptions {
  clock?: Clock;
  /** Most keys held at once; the least recently used is evicted beyond it. Default 200 000. */
  maxEntries?: number;
  /** How long a concurrency lease lives unless released. Default 300 000 (5 min). */
  leaseTtlMs?: number;
}

export const DEFAULT_MAX_ENTRIES = 200_000;
/**
 * 5 minutes: longer than any ordinary request (so a slow response keeps its slot), short
 * enough that slots lost to a crash or a missed release come back soon. Streams and
 * WebSockets that outlive it stop being counted.
 */
export const DEFAULT_LEASE_TTL_MS = 300_000;

/** Leases by id → expiry (epoch ms), in insertion order, which is expiry order while time moves forward. */
type LeaseSet = Map<string, number>;

interface Entry {
  readonly key: string;
  /** Epoch ms after which the entry means nothing (for leases: the last lease's expiry). */
  expiresAt: number;
  state: StoredState | LeaseSet;
  /** The recency list (see MemoryLimiter.#entries): the next less and more recently used entries. */
  older: Entry | undefined;
  newer: Entry | undefined;
}

/** One key's state during a call: the original (reported when the call is denied) and the scratch copy. */
interface Work {
  readonly plan: PlannedCheck;
  readonly window: WindowBounds | undefined;
  readonly existed: boolean;
  /**
   * The key's expired entry, if it had one. It means nothing (the state reads as none) and is
   * dropped when the call ends, unless the call writes the key again: then #write reuses it in
   * place rather than deleting the key from the Map and adding it back (see #entries for why).
   */
  readonly expired: Entry | undefined;
  readonly orig: WorkingState;
  cur: WorkingState;
  /** Concurrency: the live lease set (undefined when the key had none) and the ids to add. */
  leases: LeaseSet | undefined;
  readonly adds: string[];
}

export class MemoryLimiter implements RateLimiter {
  readonly kind = 'memory' as const;

  /**
   * Entries by key. Recency is a doubly linked list through the entries (#oldest … #newest), not
   * the Map's insertion order: moving a key to the end of a Map means delete + set, and V8 keeps
   * every deleted slot in its hash chain until the table is rebuilt, so re-inserting one hot key
   * makes its lookups walk all its earlier copies (measured: ~1 µs per touch with 1 000 keys,
   * ~90 µs with 100 000) and rebuilds the table over and over. Relinking two pointers does
   * neither; the Map only changes when a key is added or dropped.
   */
  readonly #entries = new Map<string, Entry>();
  /** The least recently used entry (evicted first) and the most recently used one. */
  #oldest: Entry | undefined;
  #newest: Entry | undefined;
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #leaseTtlMs: number;
  #evictions = 0;
  #closed = false;

  constructor(options: MemoryLimiterOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#maxEntries = positiveOption(options.maxEntries, DEFAULT_MAX_ENTRIES, 'options.maxEntries');
    this.#leaseTtlMs = positiveOption(options.leaseTtlMs, DEFAULT_LEASE_TTL_MS, 'options.leaseTtlMs');
  }

  /** Keys held, including expired ones not yet dropped (they read as empty). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Unexpired keys dropped to respect `maxEntries`. Worth alerting on: each one forgot
   * what an identity had consumed, so a rising count means the bound is too small for the
   * traffic or someone is flooding distinct identities.
   */
  get evictions(): number {
    return this.#evictions;
  }

  async checkAll(checks: readonly LimitCheck[]): Promise<CheckAllResult> {
    return this.checkAllSync(checks);
  }

  /** `checkAll` without the Promise, for a pipeline stage that stays synchronous in memory mode. */
  checkAllSync(checks: readonly LimitCheck[]): CheckAllResult {
    this.#assertOpen();
    const now = this.#now();
    // Per distinct key in first-use order (the commit order), and per check its plan and key.
    // A request has a handful of checks, so a linear search beats allocating a Map per call.
    const works: Work[] = [];
    const planOf: PlannedCheck[] = [];
    const workOf: Work[] = [];
    // Decisions as if the call is allowed (the state right after each check); redone below if not.
    const decisions: LimitDecision[] = [];
    let allowed = true;
    for (const check of checks) {
      const plan = planCheck(check);
      let w = findWork(works, plan.key);
      if (w === undefined) {
        w = this.#load(plan, now);
        works.push(w);
      }
      const consumed = consume(plan.shape, w.cur, now, w.window, plan.cost, this.#leaseTtlMs);
      if (consumed.allowed) {
        w.cur = consumed.state;
        if (plan.shape.tag === 'cc') w.adds.push(randomUUID());
      } else {
        allowed = false;
      }
      const after = describe(plan.shape, w.cur, now, w.window);
      planOf.push(plan);
      workOf.push(w);
      decisions.push({
        allowed: consumed.allowed,
        limit: plan.shape.limit,
        remaining: after.remaining,
        resetMs: after.resetMs,
        retryAfterMs: consumed.allowed ? undefined : consumed.retryAfterMs,
      });
    }
    if (!allowed) {
      // Nothing is consumed: every decision shows the untouched state.
      for (let i = 0; i < decisions.length; i++) {
        const w = workOf[i]!;
        const shown = describe(planOf[i]!.shape, w.orig, now, w.window);
        decisions[i] = { ...decisions[i]!, remaining: shown.remaining, resetMs: shown.resetMs };
      }
      for (const w of works) if (w.expired !== undefined) this.#remove(w.expired);
      return { allowed, decisions, leases: [] };
    }
    const leases: ConcurrencyLease[] = [];
    let handed: Map<Work, number> | undefined;
    for (let i = 0; i < checks.length; i++) {
      const w = workOf[i]!;
      if (w.plan.shape.tag !== 'cc') continue;
      handed ??= new Map();
      const index = handed.get(w) ?? 0;
      handed.set(w, index + 1);
      const check = checks[i]!;
      leases.push({ policyId: check.limit.policyId, identity: check.identity, leaseId: w.adds[index]! });
    }
    for (const w of works) this.#commit(w, now);
    this.#evict();
    return { allowed, decisions, leases };
  }

  async release(leases: readonly ConcurrencyLease[]): Promise<void> {
    this.#assertOpen();
    for (const lease of leases) {
      const entry = this.#entries.get(leaseKey(lease.policyId, lease.identity));
      if (entry === undefined) continue;
      const set = entry.state as LeaseSet;
      set.delete(lease.leaseId);
      if (set.size === 0) this.#remove(entry);
    }
  }

  async refund(checks: readonly LimitCheck[]): Promise<void> {
    this.#assertOpen();
    const now = this.#now();
    const work = new Map<string, Work>();
    const next = new Map<string, StoredState | undefined>();
    for (const check of checks) {
      const plan = planCheck(check);
      if (plan.shape.tag === 'cc') continue;
      let w = work.get(plan.key);
      if (w === undefined) {
        w = this.#load(plan, now);
        work.set(plan.key, w);
      }
      const refunded = refund(plan.shape, w.cur, now, plan.cost);
      next.set(plan.key, refunded);
      // A deleted token bucket is a full one: later refunds in this call start from there.
      w.cur = refunded ?? load(plan.shape, undefined, now, w.window);
    }
    for (const [key, state] of next) {
      const w = work.get(key)!;
      // Nothing was counted for a key that did not exist, so there is nothing to give back.
      if (!w.existed) continue;
      if (state === undefined) {
        const entry = this.#entries.get(key);
        if (entry !== undefined) this.#remove(entry);
      } else this.#write(key, state, expiresAt(w.plan.shape, state, now, w.window));
    }
    for (const w of work.values()) if (w.expired !== undefined) this.#remove(w.expired);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
  }

  #assertOpen(): void {
    if (this.#closed) throw new LimiterUnavailableError('closed', 'MemoryLimiter is closed');
  }

  #now(): Now {
    const ms = Math.floor(this.#clock.now());
    return { ms, us: ms * 1000 };
  }

  /**
   * The key's live state, touched as most recently used; expired state reads as none (and its
   * entry is the caller's to drop at the end of the call, or to overwrite: `Work.expired`).
   */
  #load(plan: PlannedCheck, now: Now): Work {
    const entry = this.#entries.get(plan.key);
    let live: Entry | undefined;
    let expired: Entry | undefined;
    if (entry !== undefined) {
      if (entry.expiresAt <= now.ms) {
        expired = entry;
      } else {
        this.#touch(entry);
        live = entry;
      }
    }
    const window = windowOf(plan.shape, now.ms);
    if (plan.shape.tag === 'cc') {
      const leases = live?.state as LeaseSet | undefined;
      const state = liveLeases(leases, now.ms);
      return {
        plan,
        window,
        existed: live !== undefined,
        expired,
        orig: state,
        cur: state,
        leases,
        adds: [],
      };
    }
    const state = load(plan.shape, live?.state as StoredState | undefined, now, window);
    return {
      plan,
      window,
      existed: live !== undefined,
      expired,
      orig: state,
      cur: state,
      leases: undefined,
      adds: [],
    };
  }

  #commit(w: Work, now: Now): void {
    const key = w.plan.key;
    if (w.plan.shape.tag !== 'cc') {
      const state = w.cur as StoredState;
      this.#write(key, state, expiresAt(w.plan.shape, state, now, w.window));
      return;
    }
    const leases = w.leases ?? new Map<string, number>();
    const expiry = now.ms + this.#leaseTtlMs;
    for (const id of w.adds) leases.set(id, expiry);
    this.#write(key, leases, expiry);
  }

  /** Store a key's state as the most recently used entry. */
  #write(key: string, state: StoredState | LeaseSet, expiry: number): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.expiresAt = expiry;
      entry.state = state;
      this.#touch(entry);
      return;
    }
    const added: Entry = { key, expiresAt: expiry, state, older: this.#newest, newer: undefined };
    if (this.#newest === undefined) this.#oldest = added;
    else this.#newest.newer = added;
    this.#newest = added;
    this.#entries.set(key, added);
  }

  /** Mark an entry as the most recently used (move it to the newest end of the list). */
  #touch(entry: Entry): void {
    if (entry === this.#newest) return;
    this.#unlink(entry);
    entry.older = this.#newest;
    entry.newer = undefined;
    (this.#newest as Entry).newer = entry;
    this.#newest = entry;
  }

  #remove(entry: Entry): void {
    this.#unlink(entry);
    this.#entries.delete(entry.key);
  }

  #unlink(entry: Entry): void {
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = undefined;
    entry.newer = undefined;
  }

  /**
   * Enforce the bound after a call's writes (they are the most recent, so they survive).
   * Without it a flood of random identities would grow the map until the process dies.
   */
  #evict(): void {
    if (this.#entries.size <= this.#maxEntries) return;
    const nowMs = this.#clock.now();
    while (this.#entries.size > this.#maxEntries) {
      const entry = this.#oldest as Entry;
      if (entry.expiresAt > nowMs) this.#evictions++;
      this.#remove(entry);
    }
  }
}

function findWork(works: readonly Work[], key: string): Work | undefined {
  for (const w of works) if (w.plan.key === key) return w;
  return undefined;
}

/**
 * Drop expired leases from the front (insertion order = expiry order while the clock moves
 * forward; after a clock step back an expired lease may linger behind a live one, which only
 * makes the limit stricter until the live one goes) and report what is left.
 */
function liveLeases(leases: LeaseSet | undefined, nowMs: number): ConcurrencyState {
  if (leases === undefined) return { count: 0, firstExpiry: 0 };
  for (const [id, expiry] of leases) {
    if (expiry > nowMs) return { count: leases.size, firstExpiry: expiry };
    leases.delete(id);
  }
  return { count: 0, firstExpiry: 0 };
}

function positiveOption(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer (got ${String(value)})`);
  }
  return value;
}
