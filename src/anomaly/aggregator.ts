/**
 * Per-identity counts per interval, summed across instances through the hot state.
 *
 * The request path only touches a Map in this process (`observe`: a few array increments, no
 * I/O). With shared state (Redis) the counts gathered so far are written every `flushMs` (a
 * quarter of the interval, 250 ms to 15 s) as one chunk per interval: an atomic counter hands
 * each chunk a slot number, so the detector reads slots 1..n and sums them — instances never
 * overwrite one another and nothing is counted twice. Chunks expire after four intervals.
 * A chunk that cannot be written is kept and written again at the next flush (merged with
 * the counts since), until its interval is too old to be judged; only then are its counts lost.
 * With in-memory state nothing is shared, so the counts stay in this process and the
 * detector reads them directly (they never compete with nonces and limits for the state's
 * bounded memory).
 *
 * Bounded whatever the traffic, per interval and instance (not per flush, so a flood of new
 * addresses cannot multiply the bound by the number of flushes): at most `maxAddresses` IP
 * identities and, separately, `maxIdentities` key, client and user identities — a flood of
 * addresses never stops keys from being watched. Identities past the bound are logged and not
 * watched that interval; at most `MAX_IPS_PER_KEY` addresses are remembered per key and chunk.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Outcome } from '../gateway/proxy-server.js';
import { networkOf } from '../net/cidr.js';
import type { HotState } from '../state/types.js';
import { type BucketCounts, classify, type IdentityKind, identityId } from './signals.js';

export const MAX_IPS_PER_KEY = 500;
const CHUNK_VERSION = 1;

/** One instance's counts for one interval since the last flush: [requests, authFailures, errors, limited] per identity. */
interface Pending {
  counts: Map<string, [number, number, number, number]>;
  /** Addresses per key identity (for key sharing). */
  ips: Map<string, Set<string>>;
}

/** Identities admitted in one interval (kept across flushes: the bound is per interval). */
interface Admitted {
  ids: Set<string>;
  addresses: number;
  principals: number;
  overflow: number;
}

interface Chunk {
  v: number;
  c: Record<string, [number, number, number, number]>;
  p: Record<string, string[]>;
}

export interface AggregatorOptions {
  state: HotState;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  /** How often counts are written to the shared state. Default: a quarter of the interval, 250 ms to 15 s. */
  flushMs?: number;
  /** Key, client and user identities watched per interval. Default 20 000. */
  maxIdentities?: number;
  /** IP identities watched per interval. Default 20 000. */
  maxAddresses?: number;
  /** Sum across instances through the state (default: when the state is shared). */
  shared?: boolean;
  /** IPv6 addresses are one identity per prefix of this length (default 64). */
  ipv6Prefix?: number;
}

/** The state keys of one interval's chunks; the interval length is part of them so instances configured differently never mix. */
export function chunkKeys(intervalMs: number, bucket: number) {
  const base = `anomaly:agg:${intervalMs}:${bucket}`;
  return { slots: `${base}:n`, chunk: (slot: number) => `${base}:${slot}` };
}

export class AnomalyAggregator {
  readonly #state: HotState;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly intervalMs: number;
  readonly flushMs: number;
  readonly #maxIdentities: number;
  readonly #maxAddresses: number;
  readonly #ipv6Prefix: number;
  readonly #shared: boolean;
  readonly #pending = new Map<number, Pending>();
  readonly #admitted = new Map<number, Admitted>();
  readonly #networks = new Map<string, string>();
  /**
   * Identity ids by kind and value. The values (a principal's ids, a connection's address) are
   * the same string objects request after request, so a lookup here reuses their cached hash,
   * where building `kind:value` anew each time cost a concatenation and a fresh hash per map.
   */
  readonly #ids: Record<IdentityKind, Map<string, string>> = {
    ip: new Map(),
    key: new Map(),
    client: new Map(),
    user: new Map(),
  };
  /** Local mode: every interval's counts, kept for four intervals. */
  readonly #local = new Map<number, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /** Shared mode: per interval, counts whose write failed, and the slot taken if any. */
  readonly #unwritten = new Map<number, { pending: Pending; slot: number | undefined }>();
  #lost = 0;

  constructor(options: AggregatorOptions) {
    this.#state = options.state;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.intervalMs = options.intervalMs;
    this.flushMs = options.flushMs ?? Math.min(15_000, Math.max(250, Math.floor(options.intervalMs / 4)));
    this.#maxIdentities = options.maxIdentities ?? 20_000;
    this.#maxAddresses = options.maxAddresses ?? 20_000;
    this.#shared = options.shared ?? options.state.shared;
    this.#ipv6Prefix = options.ipv6Prefix ?? 64;
  }

  /**
   * Intervals whose counts could not all be written (state unreachable past the next flushes
   * or at shutdown): those counts are lost, requests are not.
   */
  get lost(): number {
    return this.#lost;
  }

  /** Count one answered request. Synchronous and allocation-light: this is the request path. */
  observe(outcome: Outcome): void {
    const facts = outcome.facts;
    if (facts === undefined) return;
    const decision = outcome.decision;
    const kind = classify(outcome.status, decision?.kind === 'deny' ? decision.code : undefined);
    const bucket = Math.floor(this.#clock.now() / this.intervalMs);
    let pending = this.#pending.get(bucket);
    if (pending === undefined) {
      pending = { counts: new Map(), ips: new Map() };
      this.#pending.set(bucket, pending);
    }
    const slot = kind === 'auth' ? 1 : kind === 'error' ? 2 : kind === 'limited' ? 3 : -1;
    const ip = this.#ipIdentity(facts.clientIp);
    this.#add(bucket, pending, this.#id('ip', ip), slot, true);
    const principal = decision?.principal;
    if (principal === undefined) return;
    if (principal.keyId !== undefined) {
      const id = this.#id('key', principal.keyId);
      if (this.#add(bucket, pending, id, slot, false)) {
        let ips = pending.ips.get(id);
        if (ips === undefined) {
          ips = new Set();
          pending.ips.set(id, ips);
        }
        if (ips.size < MAX_IPS_PER_KEY) ips.add(ip);
      }
    }
    if (principal.clientId !== undefined)
      this.#add(bucket, pending, this.#id('client', principal.clientId), slot, false);
    if (principal.userId !== undefined)
      this.#add(bucket, pending, this.#id('user', principal.userId), slot, false);
  }

  #id(kind: IdentityKind, value: string): string {
    const ids = this.#ids[kind];
    let id = ids.get(value);
    if (id === undefined) {
      if (ids.size >= 4096) ids.clear();
      id = identityId(kind, value);
      ids.set(value, id);
    }
    return id;
  }

  /** IPv4 as is; IPv6 as its /64 in canonical CIDR form (the form blocks and filters use). */
  #ipIdentity(ip: string): string {
    if (!ip.includes(':') || this.#ipv6Prefix >= 128) return ip;
    // Parsing an IPv6 address costs more than the rest of `observe`: remember recent ones.
    let network = this.#networks.get(ip);
    if (network === undefined) {
      if (this.#networks.size >= 4096) this.#networks.clear();
      network = networkOf(ip, this.#ipv6Prefix);
      this.#networks.set(ip, network);
    }
    return network;
  }

  #add(bucket: number, pending: Pending, id: string, slot: number, address: boolean): boolean {
    let counts = pending.counts.get(id);
    if (counts === undefined) {
      let admitted = this.#admitted.get(bucket);
      if (admitted === undefined) {
        admitted = { ids: new Set(), addresses: 0, principals: 0, overflow: 0 };
        this.#admitted.set(bucket, admitted);
      }
      if (!admitted.ids.has(id)) {
        if (address ? admitted.addresses >= this.#maxAddresses : admitted.principals >= this.#maxIdentities) {
          if (admitted.overflow++ === 0)
            this.#logger.warn(
              { bucket, addresses: admitted.addresses, identities: admitted.principals },
              'anomaly counts full for this interval: further identities are not watched until the next',
            );
          return false;
        }
        admitted.ids.add(id);
        if (address) admitted.addresses++;
        else admitted.principals++;
      }
      counts = [0, 0, 0, 0];
      pending.counts.set(id, counts);
    }
    counts[0]++;
    if (slot > 0) counts[slot as 1 | 2 | 3]++;
    return true;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.flushMs);
    this.#timer.unref();
  }

  /** Write what was gathered (also called by run-now and at shutdown). Never rejects. */
  flush(): Promise<void> {
    // One flush at a time; a caller during a flush waits for it and then flushes again.
    const run = async () => {
      const current = Math.floor(this.#clock.now() / this.intervalMs);
      const ready = new Map(this.#pending);
      this.#pending.clear();
      const slots = new Map<number, number | undefined>();
      // Counts a failed write kept go out again, merged with what came since, while their
      // interval can still be judged (the leader judges one after it ends plus a grace).
      for (const [bucket, failed] of this.#unwritten) {
        this.#unwritten.delete(bucket);
        if (bucket < current - 1) {
          this.#giveUp(bucket);
          continue;
        }
        const fresh = ready.get(bucket);
        if (fresh !== undefined) mergePending(failed.pending, fresh);
        ready.set(bucket, failed.pending);
        slots.set(bucket, failed.slot);
      }
      for (const [bucket, pending] of ready) {
        if (this.#shared) await this.#write(bucket, pending, slots.get(bucket));
        else this.#keep(bucket, pending);
      }
      // Old intervals are done: forget who was admitted, and (local mode) their counts.
      for (const bucket of this.#admitted.keys()) if (bucket < current - 1) this.#admitted.delete(bucket);
      for (const bucket of this.#local.keys()) if (bucket < current - 4) this.#local.delete(bucket);
    };
    const next = (this.#flushing ?? Promise.resolve()).then(run);
    this.#flushing = next;
    return next;
  }

  #keep(bucket: number, pending: Pending): void {
    const kept = this.#local.get(bucket);
    if (kept === undefined) this.#local.set(bucket, pending);
    else mergePending(kept, pending);
  }

  /** Every instance's counts of one interval (flush first to include this one's latest). */
  async read(bucket: number): Promise<{ counts: BucketCounts; chunks: number; unreadable: number }> {
    if (this.#shared) return readBucket(this.#state, this.intervalMs, bucket);
    const kept = this.#local.get(bucket);
    const counts: BucketCounts = new Map();
    if (kept === undefined) return { counts, chunks: 0, unreadable: 0 };
    for (const [id, c] of kept.counts)
      counts.set(id, {
        requests: c[0],
        authFailures: c[1],
        errors: c[2],
        limited: c[3],
        ips: kept.ips.get(id)?.size ?? 0,
      });
    return { counts, chunks: 1, unreadable: 0 };
  }

  /**
   * Write one interval's counts as a new chunk: take a slot number, then store the chunk
   * under it. On failure the counts are kept for the next flush, with the slot if one was
   * taken: the retry then overwrites that slot with everything kept, so a write that timed
   * out here but landed in Redis is replaced, never counted twice. A slot taken and never
   * filled reads as one unreadable chunk.
   */
  async #write(bucket: number, pending: Pending, knownSlot: number | undefined): Promise<void> {
    if (pending.counts.size === 0) return;
    const chunk: Chunk = { v: CHUNK_VERSION, c: Object.fromEntries(pending.counts), p: {} };
    for (const [id, ips] of pending.ips) chunk.p[id] = [...ips];
    const keys = chunkKeys(this.intervalMs, bucket);
    const ttlMs = this.intervalMs * 4 + 30_000;
    let slot = knownSlot;
    try {
      slot ??= await this.#state.incr(keys.slots, 1, ttlMs);
      await this.#state.set(keys.chunk(slot), JSON.stringify(chunk), ttlMs);
    } catch (error) {
      this.#unwritten.set(bucket, { pending, slot });
      this.#logger.warn({ err: error, bucket }, 'anomaly aggregates not written; retried at the next flush');
    }
  }

  #giveUp(bucket: number): void {
    this.#lost++;
    this.#logger.warn({ bucket }, 'anomaly aggregates not written in time; this interval is under-counted');
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
    for (const bucket of this.#unwritten.keys()) this.#giveUp(bucket);
    this.#unwritten.clear();
  }
}

/** Add `from`'s counts and addresses to `into` (addresses still capped per identity). */
function mergePending(into: Pending, from: Pending): void {
  for (const [id, c] of from.counts) {
    const sum = into.counts.get(id);
    if (sum === undefined) into.counts.set(id, c);
    else for (let i = 0; i < 4; i++) (sum[i] as number) += c[i] as number;
  }
  for (const [id, ips] of from.ips) {
    const set = into.ips.get(id);
    if (set === undefined) into.ips.set(id, ips);
    else for (const ip of ips) if (set.size < MAX_IPS_PER_KEY) set.add(ip);
  }
}

/** Sum every instance's chunks of one interval. Unreadable chunks are skipped (and counted). */
export async function readBucket(
  state: HotState,
  intervalMs: number,
  bucket: number,
): Promise<{ counts: BucketCounts; chunks: number; unreadable: number }> {
  const keys = chunkKeys(intervalMs, bucket);
  const n = Number((await state.get(keys.slots)) ?? 0);
  const counts: BucketCounts = new Map();
  const ips = new Map<string, Set<string>>();
  let unreadable = 0;
  const slots = Array.from({ length: Number.isSafeInteger(n) ? n : 0 }, (_, i) => i + 1);
  // A bounded number of reads in flight (Redis pipelines them; memory answers at once).
  for (let i = 0; i < slots.length; i += 64) {
    const texts = await Promise.all(slots.slice(i, i + 64).map((slot) => state.get(keys.chunk(slot))));
    for (const text of texts) {
      const chunk = parseChunk(text);
      if (chunk === undefined) {
        unreadable++;
        continue;
      }
      for (const [id, c] of Object.entries(chunk.c)) {
        const sum = counts.get(id) ?? { requests: 0, authFailures: 0, errors: 0, limited: 0, ips: 0 };
        sum.requests += c[0];
        sum.authFailures += c[1];
        sum.errors += c[2];
        sum.limited += c[3];
        counts.set(id, sum);
      }
      for (const [id, list] of Object.entries(chunk.p)) {
        let set = ips.get(id);
        if (set === undefined) {
          set = new Set();
          ips.set(id, set);
        }
        for (const ip of list) set.add(ip);
      }
    }
  }
  for (const [id, set] of ips) {
    const sum = counts.get(id);
    if (sum) sum.ips = set.size;
  }
  return { counts, chunks: slots.length, unreadable };
}

function parseChunk(text: string | null): Chunk | undefined {
  if (text === null) return undefined;
  try {
    const chunk = JSON.parse(text) as Chunk;
    if (chunk?.v !== CHUNK_VERSION || typeof chunk.c !== 'object' || typeof chunk.p !== 'object')
      return undefined;
    for (const c of Object.values(chunk.c))
      if (!Array.isArray(c) || c.length !== 4 || !c.every((n) => Number.isSafeInteger(n) && n >= 0))
        return undefined;
    for (const p of Object.values(chunk.p)) if (!Array.isArray(p)) return undefined;
    return chunk;
  } catch {
    return undefined;
  }
}
