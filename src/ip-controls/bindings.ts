/**
 * First-use key-to-IP binding (the Key-IP Sentinel feature, PRODUCT.md §8).
 *
 * Modes, per key: `single` binds the first address (or its network, with a bind prefix),
 * `multiple` up to `maxIps` distinct ones, `all` binds nothing and only records where the key
 * is used from. A request from an address outside the binding is a violation (the stage answers
 * 403 `ip_binding_violation` and writes an intercept).
 *
 * Atomicity comes from the database, not from this process: a `single` binding claims slot 0,
 * `multiple` slots 0..N-1, and the unique (key, slot) index lets exactly one of several
 * concurrent first requests win — on any number of instances, whatever the hot state is. The
 * loser re-reads and judges its address against the winner's binding.
 *
 * The request path reads bindings from a bounded in-process cache (a hit is a Map lookup and
 * one compiled CIDR-set check); the cache is dropped on every configuration change (admin
 * unbind/rebind/edit and archiving bump the config version) and entries also expire after a
 * TTL. We cache in process rather than in the shared hot state because a Redis read per
 * request would spend the one round trip the rate limiter needs; cross-instance agreement on
 * *new* bindings does not need the cache, since claims go through the unique index.
 *
 * Last-seen times are batched (like keys' last-used) and drive archiving: bindings unused for
 * `archiveDays` move to the archive table and the next request binds again.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { randomBase62 } from '../core/crypto.js';
import { LruCache } from '../core/lru-cache.js';
import { CidrSet, networkOf, parseCidr } from '../net/cidr.js';
import type { ApiKeyRecord, BindingRecord, Store } from '../store/types.js';

/** The most addresses an `all` (record-only) binding records per key. */
export const MAX_RECORDED_IPS = 1000;
/** A binding's last-seen time is only rewritten when it moved by at least this much. */
const TOUCH_GRANULARITY_MS = 60_000;
/** Upper bound on claim rounds (a `multiple` binding of N slots needs at most N + 1). */
const MAX_CLAIM_ROUNDS = 64;

export type BindingVerdict =
  | { readonly ok: true; readonly bound?: undefined }
  | { readonly ok: false; readonly bound: readonly string[] };

const OK: BindingVerdict = Object.freeze({ ok: true });

/**
 * A key's bindings as its current mode sees them. Enforcing modes (`single`, `multiple`) count
 * only slots below their capacity: rows left from an earlier mode (record-only rows, slots
 * beyond a lowered `maxIps`) never let an address in.
 */
interface CachedBindings {
  readonly mode: ApiKeyRecord['bindingMode'];
  readonly capacity: number;
  /** Every stored row (slots taken, for claims). */
  readonly records: readonly BindingRecord[];
  /** The rows that count in this mode. */
  readonly effective: readonly BindingRecord[];
  /** Single-address bindings (the usual case) by address → their record. */
  readonly exact: ReadonlyMap<string, BindingRecord>;
  /** Network bindings (bind prefix or admin CIDRs), each compiled. */
  readonly networks: ReadonlyArray<{ readonly set: CidrSet; readonly record: BindingRecord }>;
}

function view(
  records: readonly BindingRecord[],
  mode: ApiKeyRecord['bindingMode'],
  capacity: number,
): CachedBindings {
  const effective = mode === 'all' ? records : records.filter((r) => r.slot !== null && r.slot < capacity);
  const exact = new Map<string, BindingRecord>();
  const networks: Array<{ set: CidrSet; record: BindingRecord }> = [];
  for (const record of effective) {
    const cidr = parseCidr(record.cidr);
    if (!cidr) continue;
    if (cidr.prefix === (cidr.family === 4 ? 32 : 128)) exact.set(cidr.address, record);
    else networks.push({ set: new CidrSet([record.cidr]), record });
  }
  return { mode, capacity, records, effective, exact, networks };
}

/** The binding covering `ip`, if any. */
function covering(bindings: CachedBindings, ip: string): BindingRecord | undefined {
  const exact = bindings.exact.get(ip);
  if (exact) return exact;
  for (const network of bindings.networks) if (network.set.has(ip)) return network.record;
  return undefined;
}

/** How many addresses a mode may bind (undefined: binding is off). */
export function bindingCapacity(key: Pick<ApiKeyRecord, 'bindingMode' | 'maxIps'>): number | undefined {
  switch (key.bindingMode) {
    case 'single':
      return 1;
    case 'multiple':
      return key.maxIps ?? 1;
    case 'all':
      return MAX_RECORDED_IPS;
    default:
      return undefined;
  }
}

export interface KeyBindingsOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  cacheSize?: number;
  cacheTtlMs?: number;
}

export class KeyBindings {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #cache: LruCache<string, CachedBindings>;
  readonly #loading = new Map<string, Promise<CachedBindings>>();
  /** binding id → last seen (epoch ms), waiting for the next flush. */
  readonly #seen = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #generation = 0;

  constructor(options: KeyBindingsOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#cache = new LruCache({
      maxEntries: options.cacheSize ?? 10_000,
      ttlMs: options.cacheTtlMs ?? 60_000,
      clock: options.clock,
    });
  }

  /** Forget every cached binding (configuration changed). */
  invalidate(): void {
    this.#generation++;
    this.#cache.clear();
    this.#loading.clear();
  }

  /**
   * Judge `ip` (normalized) for `key`. Synchronous on a cache hit; otherwise a promise that
   * rejects when the store cannot answer (the stage applies the failsafe).
   */
  check(key: ApiKeyRecord, ip: string): BindingVerdict | Promise<BindingVerdict> {
    const capacity = bindingCapacity(key);
    if (capacity === undefined) return OK;
    const hit = this.#cache.lookup(key.id);
    if (hit.hit && hit.value.mode === key.bindingMode && hit.value.capacity === capacity) {
      const verdict = this.#judge(hit.value, ip);
      if (verdict !== undefined) return verdict;
    }
    return this.#checkSlow(key, ip, capacity);
  }

  /** The verdict from what is known, or undefined when this address may claim a new binding. */
  #judge(bindings: CachedBindings, ip: string): BindingVerdict | undefined {
    const binding = covering(bindings, ip);
    if (binding) {
      this.#touch(binding);
      return OK;
    }
    if (bindings.effective.length < bindings.capacity) return undefined;
    // `all` only records: a key seen from more addresses than we record is still allowed.
    if (bindings.mode === 'all') return OK;
    return { ok: false, bound: bindings.effective.map((r) => r.cidr) };
  }

  async #checkSlow(key: ApiKeyRecord, ip: string, capacity: number): Promise<BindingVerdict> {
    let bindings = await this.#load(key, capacity, false);
    // Every lost claim means another address took a slot, so with `capacity` slots this ends
    // within capacity + 1 rounds; a violation is only ever answered when every slot is taken.
    const rounds = Math.min(capacity, MAX_CLAIM_ROUNDS) + 2;
    for (let round = 0; round < rounds; round++) {
      const verdict = this.#judge(bindings, ip);
      if (verdict !== undefined) return verdict;
      await this.#claim(key, bindings, ip);
      // Won or lost, what is stored now decides (a concurrent claimant may have won the slot).
      bindings = await this.#load(key, capacity, true);
    }
    const verdict = this.#judge(bindings, ip);
    if (verdict !== undefined) return verdict;
    // Still slots free after every round (extreme contention or a conflicting leftover row):
    // refusing would accuse an innocent caller, so let this one through unbound.
    this.#logger.warn({ key: key.id, ip }, 'binding claim kept losing; request allowed without binding');
    return OK;
  }

  async #claim(key: ApiKeyRecord, bindings: CachedBindings, ip: string): Promise<void> {
    const now = this.#clock.now();
    let slot: number | null = null;
    if (bindings.mode !== 'all') {
      const taken = new Set(bindings.records.map((r) => r.slot));
      const free: number[] = [];
      for (let s = 0; s < bindings.capacity && free.length < 64; s++) if (!taken.has(s)) free.push(s);
      if (free.length === 0) return;
      // A random free slot: concurrent first requests from different addresses then rarely
      // collide on the same slot (each collision costs the loser a round trip).
      slot = free[Math.floor(Math.random() * free.length)] as number;
    }
    const prefix = ip.includes(':') ? key.bindPrefixV6 : key.bindPrefixV4;
    const won = await this.#store.bindings.claim({
      id: `bnd_${randomBase62(16)}`,
      keyId: key.id,
      slot,
      cidr: bindings.mode === 'all' ? networkOf(ip, null) : networkOf(ip, prefix),
      source: 'first_use',
      createdAt: now,
      lastSeenAt: now,
    });
    if (won) this.#logger.info({ key: key.id, ip, slot }, 'key bound to address on first use');
  }

  /** Load a key's bindings; `fresh` skips the in-flight de-duplication (after a claim). */
  #load(key: ApiKeyRecord, capacity: number, fresh: boolean): Promise<CachedBindings> {
    const keyId = key.id;
    const inflight = fresh ? undefined : this.#loading.get(keyId);
    if (inflight) return inflight;
    const generation = this.#generation;
    const loading = this.#store.bindings.list({ keyId }).then(
      (records) => {
        const value = view(records, key.bindingMode, capacity);
        if (generation === this.#generation) this.#cache.set(keyId, value);
        if (!fresh) this.#loading.delete(keyId);
        return value;
      },
      (error: unknown) => {
        if (!fresh) this.#loading.delete(keyId);
        throw error;
      },
    );
    if (!fresh) this.#loading.set(keyId, loading);
    return loading;
  }

  #touch(binding: BindingRecord): void {
    const now = this.#clock.now();
    const last = this.#seen.get(binding.id) ?? binding.lastSeenAt;
    if (last + TOUCH_GRANULARITY_MS <= now) this.#seen.set(binding.id, now);
  }

  start(flushMs: number): void {
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  async flush(): Promise<void> {
    if (this.#seen.size === 0) return;
    const entries = [...this.#seen].map(([id, lastSeenAt]) => ({ id, lastSeenAt }));
    this.#seen.clear();
    try {
      await this.#store.bindings.touch(entries);
    } catch (error) {
      this.#logger.warn({ err: error }, 'binding last-seen times not written; will retry');
      for (const { id, lastSeenAt } of entries) if (!this.#seen.has(id)) this.#seen.set(id, lastSeenAt);
    }
  }

  /** Move bindings unused for `archiveDays` to the archive (the next request binds again). */
  async archive(archiveDays: number): Promise<number> {
    await this.flush();
    const now = this.#clock.now();
    return this.#store.bindings.archiveUnusedSince(now - archiveDays * 86_400_000, now);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
