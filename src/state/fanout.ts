/**
 * In-process side of pub/sub, shared by both backends: which handlers listen on which
 * channel, and delivery that isolates handlers from each other.
 */
import type { StateLogger } from './logger.js';

export type MessageHandler = (message: string) => void;

export interface Subscription {
  readonly channel: string;
  readonly handler: MessageHandler;
  /** Cleared on unsubscribe, so a delivery already scheduled skips a handler that has left. */
  active: boolean;
}

export class Fanout {
  readonly #channels = new Map<string, Set<Subscription>>();
  readonly #logger: StateLogger;

  constructor(logger: StateLogger) {
    this.#logger = logger;
  }

  /** Register a handler; `first` says the channel had no handler before (subscribe upstream). */
  add(channel: string, handler: MessageHandler): { subscription: Subscription; first: boolean } {
    let set = this.#channels.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    const subscription: Subscription = { channel, handler, active: true };
    set.add(subscription);
    return { subscription, first };
  }

  /** Remove a handler (idempotent); returns true when it was the channel's last one. */
  remove(subscription: Subscription): boolean {
    if (!subscription.active) return false;
    subscription.active = false;
    const set = this.#channels.get(subscription.channel);
    if (set === undefined) return false;
    set.delete(subscription);
    if (set.size > 0) return false;
    this.#channels.delete(subscription.channel);
    return true;
  }

  /** Channels with at least one handler (to subscribe again on a new connection). */
  channels(): string[] {
    return [...this.#channels.keys()];
  }

  has(channel: string): boolean {
    return this.#channels.has(channel);
  }

  /** The handlers listening now; a handler added after a publish must not see it. */
  snapshot(channel: string): Subscription[] {
    const set = this.#channels.get(channel);
    return set === undefined ? [] : [...set];
  }

  /**
   * Call each still-active handler. A throwing handler is logged and skipped: one broken
   * cache-invalidation listener must not starve the others of change events.
   */
  deliver(subscriptions: readonly Subscription[], message: string): void {
    for (const subscription of subscriptions) {
      if (!subscription.active) continue;
      try {
        subscription.handler(message);
      } catch (err) {
        this.#logger.error(
          { err, channel: subscription.channel },
          'state subscriber threw; other subscribers still served',
        );
      }
    }
  }

  dispatch(channel: string, message: string): void {
    const set = this.#channels.get(channel);
    if (set !== undefined) this.deliver([...set], message);
  }

  /** Deactivate every subscription (close): pending deliveries are dropped. */
  clear(): void {
    for (const set of this.#channels.values()) {
      for (const subscription of set) subscription.active = false;
    }
    this.#channels.clear();
  }
}
