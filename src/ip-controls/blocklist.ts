/**
 * The blocklist as the request path sees it: an in-memory snapshot of every active entry,
 * rebuilt when configuration changes (Redis pub/sub or the version poll: every instance within
 * a second). A check is a Map lookup (key, client, user, exact IP) or one compiled CIDR-set
 * lookup; nothing touches the database or Redis per request (PRODUCT.md §8: "checked before
 * anything expensive").
 *
 * Expiry is checked at lookup time against the entry's own `expiresAt`, so a block lifts on
 * time even between reloads. A failed reload keeps the last good snapshot (logged) and rejects,
 * so the config watcher retries it: the blocklist keeps being enforced while the database is
 * away, and a change made meanwhile arrives once it is back.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { CidrSet, parseCidr } from '../net/cidr.js';
import type { BlockKind, BlockRecord, Store } from '../store/types.js';

interface Snapshot {
  readonly byIdentity: ReadonlyMap<string, BlockRecord>;
  /** Single addresses (/32, /128) by their canonical text. */
  readonly exactIps: ReadonlyMap<string, BlockRecord>;
  /** Networks: one set for the fast negative answer, then the entries to find which one. */
  readonly networks: CidrSet | undefined;
  readonly networkEntries: ReadonlyArray<{ set: CidrSet; record: BlockRecord }>;
  readonly size: number;
}

const EMPTY: Snapshot = {
  byIdentity: new Map(),
  exactIps: new Map(),
  networks: undefined,
  networkEntries: [],
  size: 0,
};

function build(records: readonly BlockRecord[]): Snapshot {
  const byIdentity = new Map<string, BlockRecord>();
  const exactIps = new Map<string, BlockRecord>();
  const networkEntries: Array<{ set: CidrSet; record: BlockRecord }> = [];
  for (const record of records) {
    if (record.kind !== 'ip') {
      byIdentity.set(`${record.kind}:${record.value}`, record);
      continue;
    }
    const cidr = parseCidr(record.value);
    if (!cidr) continue;
    if (cidr.prefix === (cidr.family === 4 ? 32 : 128)) exactIps.set(cidr.address, record);
    else networkEntries.push({ set: new CidrSet([record.value]), record });
  }
  return {
    byIdentity,
    exactIps,
    networks: networkEntries.length > 0 ? new CidrSet(networkEntries.map((n) => n.record.value)) : undefined,
    networkEntries,
    size: records.length,
  };
}

export class Blocklist {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #snapshot: Snapshot = EMPTY;
  #loadedAt: number | undefined;

  constructor(options: { store: Store; clock: Clock; logger: Logger }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
  }

  get size(): number {
    return this.#snapshot.size;
  }

  /** Epoch ms of the last successful load (readiness reports staleness). */
  get loadedAt(): number | undefined {
    return this.#loadedAt;
  }

  async refresh(): Promise<void> {
    const now = this.#clock.now();
    try {
      this.#snapshot = build(await this.#store.blocks.list({ activeAt: now }));
      this.#loadedAt = now;
    } catch (error) {
      // The last snapshot stays in force; the error goes on to the config watcher, which keeps
      // the old version and so retries on its next poll (a new ban must not be lost).
      if (this.#loadedAt !== undefined) {
        this.#logger.error({ err: error }, 'blocklist reload failed; the previous snapshot stays in force');
      }
      throw error;
    }
  }

  #active(record: BlockRecord | undefined): BlockRecord | undefined {
    if (record === undefined) return undefined;
    return record.expiresAt === null || record.expiresAt > this.#clock.now() ? record : undefined;
  }

  /** The active entry blocking this (normalized) client IP, if any. */
  matchIp(ip: string): BlockRecord | undefined {
    const snapshot = this.#snapshot;
    if (snapshot.size === 0) return undefined;
    const exact = this.#active(snapshot.exactIps.get(ip));
    if (exact) return exact;
    if (!snapshot.networks?.has(ip)) return undefined;
    for (const entry of snapshot.networkEntries) {
      if (entry.set.has(ip) && this.#active(entry.record)) return entry.record;
    }
    return undefined;
  }

  /** The active entry blocking this key, client or user id, if any. */
  match(kind: Exclude<BlockKind, 'ip'>, value: string): BlockRecord | undefined {
    const snapshot = this.#snapshot;
    if (snapshot.byIdentity.size === 0) return undefined;
    return this.#active(snapshot.byIdentity.get(`${kind}:${value}`));
  }
}
