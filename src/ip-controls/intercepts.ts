/**
 * Intercepts: what happens after a key-binding violation. Each one is written to the store
 * (off the request path: the 403 does not wait for it) and counted per key in a fixed window of
 * `windowS` seconds in the hot state — shared by every instance when the state is Redis. The
 * request that brings a key's count to exactly the threshold sends the one alert of that
 * window (an atomic counter hands out each value once, so there is one such request however
 * many instances see violations).
 */
import type { Logger } from 'pino';
import type { Alert } from '../alerts/webhook.js';
import type { Clock } from '../core/clock.js';
import { randomBase62 } from '../core/crypto.js';
import type { HotState } from '../state/types.js';
import type { InterceptRecord, Store } from '../store/types.js';

/** Intercept writes in flight at most; beyond, new intercepts are counted as dropped. */
export const MAX_PENDING = 1000;
/** Intercepts written per key and alert window; later ones in the window are only counted. */
export const MAX_RECORDED_PER_WINDOW = 100;

export interface InterceptAlerts {
  /** Violations of one key within a window that trigger an alert; 0 disables alerts. */
  threshold: number;
  windowS: number;
  /** Where alerts go (the webhook sender; never throws). */
  send: (alert: Alert) => void;
}

export class InterceptRecorder {
  readonly #store: Store;
  readonly #state: HotState;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #alerts: InterceptAlerts;
  readonly #pending = new Set<Promise<void>>();
  #dropped = 0;

  constructor(options: {
    store: Store;
    state: HotState;
    clock: Clock;
    logger: Logger;
    alerts: InterceptAlerts;
  }) {
    this.#store = options.store;
    this.#state = options.state;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#alerts = options.alerts;
  }

  /** Intercepts not recorded because too many were already being written (a flood). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Record a violation; returns at once (the work is tracked so shutdown can wait for it). */
  record(intercept: Omit<InterceptRecord, 'id' | 'at'>): void {
    // A stolen key used from many addresses must not turn into unbounded concurrent writes:
    // beyond the bound, violations are still refused (the stage answers 403) but not recorded.
    if (this.#pending.size >= MAX_PENDING) {
      if (this.#dropped++ % 1000 === 0) {
        this.#logger.warn(
          { dropped: this.#dropped, key: intercept.keyId },
          'intercept flood: records dropped',
        );
      }
      return;
    }
    const work = this.#record(intercept).finally(() => this.#pending.delete(work));
    this.#pending.add(work);
  }

  async #record(input: Omit<InterceptRecord, 'id' | 'at'>): Promise<void> {
    const at = this.#clock.now();
    const intercept: InterceptRecord = { id: `icp_${randomBase62(16)}`, at, ...input };
    // Counted first (one atomic counter per key and window, shared across instances): the count
    // decides both the alert and whether this one is still written.
    let count: number | undefined;
    try {
      count = await this.#count(intercept);
    } catch (error) {
      this.#logger.warn({ err: error, key: intercept.keyId }, 'intercept not counted for alerts');
    }
    if (count !== undefined && count > MAX_RECORDED_PER_WINDOW) {
      // A flood from one key: the first intercepts of the window are on record, and the count
      // says how many followed; one more row each would only fill the database.
      if (count % 1000 === 0)
        this.#logger.warn({ key: intercept.keyId, count }, 'intercept flood: only counted');
      return;
    }
    this.#logger.warn(
      { key: intercept.keyId, ip: intercept.ip, bound: intercept.bound, route: intercept.routeId },
      'key used from an address outside its binding',
    );
    await this.#store.intercepts.insert(intercept).catch((error: unknown) => {
      this.#logger.error({ err: error, key: intercept.keyId }, 'intercept not recorded');
    });
  }

  /** This intercept's number within its key's window; sends the alert when it is the threshold. */
  async #count(intercept: InterceptRecord): Promise<number> {
    const { threshold, windowS } = this.#alerts;
    const windowMs = windowS * 1000;
    const windowStart = Math.floor(intercept.at / windowMs) * windowMs;
    const count = await this.#state.incr(`intercepts:${intercept.keyId}:${windowStart}`, 1, windowMs + 1000);
    if (threshold <= 0 || count !== threshold) return count;
    this.#alerts.send({
      kind: 'intercepts',
      id: `alr_${randomBase62(16)}`,
      at: intercept.at,
      summary: `API key ${intercept.keyId}${intercept.clientId ? ` (client ${intercept.clientId})` : ''} was used from outside its IP binding ${threshold} times within ${windowS} s`,
      details: {
        key: intercept.keyId,
        client: intercept.clientId,
        count: threshold,
        windowStart: new Date(windowStart).toISOString(),
        windowSeconds: windowS,
        lastIp: intercept.ip,
        bound: intercept.bound,
        route: intercept.routeId,
      },
    });
    return count;
  }

  /** Wait for recordings in progress (shutdown). */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
