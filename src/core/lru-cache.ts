/**
 * A small LRU cache with per-entry expiry, bounded by entry count whatever is inserted (a flood
 * of unknown keys cannot grow it). Map insertion order is the recency order.
 */
import type { Clock } from './clock.js';

export class LruCache<K, V> {
  readonly #map = new Map<K, { value: V; expiresAt: number }>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #clock: Clock;

  constructor(options: { maxEntries: number; ttlMs: number; clock: Clock }) {
    this.#max = options.maxEntries;
    this.#ttlMs = options.ttlMs;
    this.#clock = options.clock;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The cached value, or undefined when absent or expired. `has` tells a cached undefined apart. */
  lookup(key: K): { hit: true; value: V } | { hit: false } {
    const entry = this.#map.get(key);
    if (!entry) return { hit: false };
    if (entry.expiresAt <= this.#clock.monotonic()) {
      this.#map.delete(key);
      return { hit: false };
    }
    this.#map.delete(key);
    this.#map.set(key, entry);
    return { hit: true, value: entry.value };
  }

  set(key: K, value: V): void {
    if (this.#max === 0 || this.#ttlMs === 0) return;
    this.#map.delete(key);
    this.#map.set(key, { value, expiresAt: this.#clock.monotonic() + this.#ttlMs });
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  clear(): void {
    this.#map.clear();
  }
}
