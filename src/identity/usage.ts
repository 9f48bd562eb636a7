/**
 * Per-key bookkeeping off the request path: last-used times (written in batches) and the
 * remaining-uses budget. Consumption is counted in hot state — atomic, and shared by every
 * instance when state is Redis — in a counter per key and budget version (resetting a budget
 * starts a new counter). The count is flushed to the database in batches so it survives a
 * restart of in-memory state; a counter that vanished (Redis flushed) is re-seeded from the
 * last flushed value, so at most one flush interval of uses can be re-granted.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { HotState } from '../state/types.js';
import type { ApiKeyRecord, Store } from '../store/types.js';

const COUNTER_TTL_MS = 400 * 24 * 3600 * 1000;

export type BudgetResult = { ok: true; remaining: number | null } | { ok: false; remaining: 0 };

export class KeyUsage {
  readonly #store: Store;
  readonly #state: HotState;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lastUsed = new Map<string, number>();
  readonly #consumed = new Map<string, { budgetVersion: number; value: number }>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(options: { store: Store; state: HotState; clock: Clock; logger: Logger }) {
    this.#store = options.store;
    this.#state = options.state;
    this.#clock = options.clock;
    this.#logger = options.logger;
  }

  start(flushMs: number): void {
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  touch(keyId: string): void {
    this.#lastUsed.set(keyId, this.#clock.now());
  }

  /** Take one use from the key's budget, atomically. Rejections consume nothing. */
  async consume(key: ApiKeyRecord): Promise<BudgetResult> {
    const budget = key.usesBudget;
    if (budget === null) return { ok: true, remaining: null };
    const counter = `uses:${key.id}:${key.budgetVersion}`;
    // Seed on every use, not once per process: a counter lost to eviction (memory) or a Redis
    // flush restarts from the last count written to the database instead of from zero.
    const pending = this.#consumed.get(key.id);
    const floor = Math.max(
      key.usesConsumed,
      pending?.budgetVersion === key.budgetVersion ? pending.value : 0,
    );
    await this.#state.setIfAbsent(counter, String(floor), COUNTER_TTL_MS);
    const used = await this.#state.incr(counter, 1, COUNTER_TTL_MS);
    if (used > budget) {
      await this.#state.incr(counter, -1, COUNTER_TTL_MS);
      return { ok: false, remaining: 0 };
    }
    const previous = this.#consumed.get(key.id);
    if (!previous || previous.budgetVersion !== key.budgetVersion || previous.value < used) {
      this.#consumed.set(key.id, { budgetVersion: key.budgetVersion, value: used });
    }
    return { ok: true, remaining: budget - used };
  }

  /** Give a use back (e.g. the upstream failed and the policy refunds). */
  async refund(key: ApiKeyRecord): Promise<void> {
    if (key.usesBudget === null) return;
    await this.#state.incr(`uses:${key.id}:${key.budgetVersion}`, -1, COUNTER_TTL_MS);
  }

  flush(): Promise<void> {
    this.#flushing ??= this.#flushNow().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flushNow(): Promise<void> {
    if (this.#lastUsed.size === 0 && this.#consumed.size === 0) return;
    const ids = new Set([...this.#lastUsed.keys(), ...this.#consumed.keys()]);
    const entries = [...ids].map((keyId) => {
      const consumed = this.#consumed.get(keyId);
      return {
        keyId,
        lastUsedAt: this.#lastUsed.get(keyId) ?? 0,
        ...(consumed ? { usesConsumed: consumed } : {}),
      };
    });
    this.#lastUsed.clear();
    this.#consumed.clear();
    try {
      await this.#store.apiKeys.recordUsage(entries);
    } catch (error) {
      // Bookkeeping only: losing one batch of last-used times is acceptable; requests never wait.
      this.#logger.warn({ err: error, keys: entries.length }, 'could not record key usage');
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
