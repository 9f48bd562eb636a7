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
import type { Described } from './algorithms/outcome.js';
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
  /** Epoch ms after which the entry means nothing (for leases: the last lease's expiry). */
  expiresAt: number;
  state: StoredState | LeaseSet;
}

/** One key's state during a call: the original (reported when the call is denied) and the scratch copy. */
interface Work {
  readonly plan: PlannedCheck;
  readonly window: WindowBounds | undefined;
  readonly existed: boolean;
  readonly orig: WorkingState;
  cur: WorkingState;
  /** Concurrency: the live lease set (undefined when the key had none) and the ids to add. */
  leases: LeaseSet | undefined;
  readonly adds: string[];
}

export class MemoryLimiter implements RateLimiter {
  readonly kind = 'memory' as const;

  /** Insertion order is recency order: a touched entry is deleted and re-inserted at the end. */
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #leaseTtlMs: number;
  /** A live iterator finds the least recently used key in O(1) (see MemoryState for why). */
  #cursor: Iterator<string> = this.#entries.keys();
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
    const work = new Map<string, Work>();
    const steps: Array<{
      plan: PlannedCheck;
      work: Work;
      allowed: boolean;
      retryAfterMs: number;
      after: Described;
    }> = [];
    let allowed = true;
    for (const check of checks) {
      const plan = planCheck(check);
      let w = work.get(plan.key);
      if (w === undefined) {
        w = this.#load(plan, now);
        work.set(plan.key, w);
      }
      const consumed = consume(plan.shape, w.cur, now, w.window, plan.cost, this.#leaseTtlMs);
      if (consumed.allowed) {
        w.cur = consumed.state;
        if (plan.shape.tag === 'cc') w.adds.push(randomUUID());
      } else {
        allowed = false;
      }
      steps.push({
        plan,
        work: w,
        allowed: consumed.allowed,
        retryAfterMs: consumed.allowed ? 0 : consumed.retryAfterMs,
        after: describe(plan.shape, w.cur, now, w.window),
      });
    }
    const decisions = steps.map((step): LimitDecision => {
      const shown = allowed ? step.after : describe(step.plan.shape, step.work.orig, now, step.work.window);
      return {
        allowed: step.allowed,
        limit: step.plan.shape.limit,
        remaining: shown.remaining,
        resetMs: shown.resetMs,
        retryAfterMs: step.allowed ? undefined : step.retryAfterMs,
      };
    });
    if (!allowed) return { allowed, decisions, leases: [] };
    const leases: ConcurrencyLease[] = [];
    const handed = new Map<Work, number>();
    for (let i = 0; i < checks.length; i++) {
      const w = steps[i]!.work;
      if (w.plan.shape.tag !== 'cc') continue;
      const index = handed.get(w) ?? 0;
      handed.set(w, index + 1);
      const check = checks[i]!;
      leases.push({ policyId: check.limit.policyId, identity: check.identity, leaseId: w.adds[index]! });
    }
    for (const [key, w] of work) this.#commit(key, w, now);
    this.#evict();
    return { allowed, decisions, leases };
  }

  async release(leases: readonly ConcurrencyLease[]): Promise<void> {
    this.#assertOpen();
    for (const lease of leases) {
      const key = leaseKey(lease.policyId, lease.identity);
      const entry = this.#entries.get(key);
      if (entry === undefined) continue;
      const set = entry.state as LeaseSet;
      set.delete(lease.leaseId);
      if (set.size === 0) this.#entries.delete(key);
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
      if (state === undefined) this.#entries.delete(key);
      else this.#write(key, state, expiresAt(w.plan.shape, state, now, w.window));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new LimiterUnavailableError('closed', 'MemoryLimiter is closed');
  }

  #now(): Now {
    const ms = Math.floor(this.#clock.now());
    return { ms, us: ms * 1000 };
  }

  /** The key's live state, touched as most recently used; expired state reads as none. */
  #load(plan: PlannedCheck, now: Now): Work {
    const entry = this.#entries.get(plan.key);
    let live: Entry | undefined;
    if (entry !== undefined) {
      if (entry.expiresAt <= now.ms) {
        this.#entries.delete(plan.key);
      } else {
        this.#entries.delete(plan.key);
        this.#entries.set(plan.key, entry);
        live = entry;
      }
    }
    const window = windowOf(plan.shape, now.ms);
    if (plan.shape.tag === 'cc') {
      const leases = live?.state as LeaseSet | undefined;
      const state = liveLeases(leases, now.ms);
      return { plan, window, existed: live !== undefined, orig: state, cur: state, leases, adds: [] };
    }
    const state = load(plan.shape, live?.state as StoredState | undefined, now, window);
    return {
      plan,
      window,
      existed: live !== undefined,
      orig: state,
      cur: state,
      leases: undefined,
      adds: [],
    };
  }

  #commit(key: string, w: Work, now: Now): void {
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

  #write(key: string, state: StoredState | LeaseSet, expiry: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { expiresAt: expiry, state });
  }

  /**
   * Enforce the bound after a call's writes (they are the most recent, so they survive).
   * Without it a flood of random identities would grow the map until the process dies.
   */
  #evict(): void {
    if (this.#entries.size <= this.#maxEntries) return;
    const nowMs = this.#clock.now();
    while (this.#entries.size > this.#maxEntries) {
      let next = this.#cursor.next();
      if (next.done === true) {
        this.#cursor = this.#entries.keys();
        next = this.#cursor.next();
      }
      const key = next.value as string;
      const entry = this.#entries.get(key)!;
      if (entry.expiresAt > nowMs) this.#evictions++;
      this.#entries.delete(key);
    }
  }
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
