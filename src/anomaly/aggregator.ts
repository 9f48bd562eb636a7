/**
 * Per-identity counts per interval, summed across instances through the hot state.
 *
 * The request path only touches a Map in this process (`observe`: a few array increments, no
 * I/O). Every `flushMs` the counts gathered so far are written to the state as one chunk per
 * interval: an atomic counter hands each chunk a slot number, so the detector reads slots
 * 1..n and sums them — instances never overwrite one another and nothing is counted twice.
 * Chunks live a few intervals, then expire by themselves (memory or Redis alike).
 *
 * Bounded whatever the traffic: at most `maxIdentities` identities per interval per instance
 * (later ones are counted as overflow, logged, and not watched that interval) and at most
 * `MAX_IPS_PER_KEY` addresses remembered per key and chunk.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Outcome } from '../gateway/proxy-server.js';
import { ipIdentity } from '../pipeline/stages/limits.js';
import type { HotState } from '../state/types.js';
import { type BucketCounts, classify, identityId } from './signals.js';

export const MAX_IPS_PER_KEY = 500;
const CHUNK_VERSION = 1;

/** One instance's counts for one interval: [requests, authFailures, errors, limited] per identity. */
interface Pending {
  counts: Map<string, [number, number, number, number]>;
  /** Addresses per key identity (for key sharing). */
  ips: Map<string, Set<string>>;
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
  /** How often counts are written to the state. Default: a tenth of the interval, 250 ms to 2 s. */
  flushMs?: number;
  maxIdentities?: number;
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
  readonly #ipv6Prefix: number;
  readonly #pending = new Map<number, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #lost = 0;

  constructor(options: AggregatorOptions) {
    this.#state = options.state;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.intervalMs = options.intervalMs;
    this.flushMs = options.flushMs ?? Math.min(2_000, Math.max(250, Math.floor(options.intervalMs / 10)));
    this.#maxIdentities = options.maxIdentities ?? 20_000;
    this.#ipv6Prefix = options.ipv6Prefix ?? 64;
  }

  /** Chunks that could not be written (state unreachable); their counts are lost, requests are not. */
  get lost(): number {
    return this.#lost;
  }

  /** Count one answered request. Synchronous and allocation-light: this is the request path. */
  observe(outcome: Outcome): void {
    const facts = outcome.facts;
    if (facts === undefined) return;
    const decision = outcome.decision;
    const code = decision?.kind === 'deny' ? decision.code : (outcome.upstreamError ?? null);
    const kind = classify(outcome.status, code);
    const bucket = Math.floor(this.#clock.now() / this.intervalMs);
    let pending = this.#pending.get(bucket);
    if (pending === undefined) {
      pending = { counts: new Map(), ips: new Map(), overflow: 0 };
      this.#pending.set(bucket, pending);
    }
    const slot = kind === 'auth' ? 1 : kind === 'error' ? 2 : kind === 'limited' ? 3 : -1;
    const ip = ipIdentity(facts.clientIp, this.#ipv6Prefix);
    this.#add(pending, identityId('ip', ip), slot);
    const principal = decision?.principal;
    if (principal === undefined) return;
    if (principal.keyId !== undefined) {
      const id = identityId('key', principal.keyId);
      if (this.#add(pending, id, slot)) {
        let ips = pending.ips.get(id);
        if (ips === undefined) {
          ips = new Set();
          pending.ips.set(id, ips);
        }
        if (ips.size < MAX_IPS_PER_KEY) ips.add(ip);
      }
    }
    if (principal.clientId !== undefined) this.#add(pending, identityId('client', principal.clientId), slot);
    if (principal.userId !== undefined) this.#add(pending, identityId('user', principal.userId), slot);
  }

  #add(pending: Pending, id: string, slot: number): boolean {
    let counts = pending.counts.get(id);
    if (counts === undefined) {
      if (pending.counts.size >= this.#maxIdentities) {
        pending.overflow++;
        return false;
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
      const ready = [...this.#pending];
      this.#pending.clear();
      for (const [bucket, pending] of ready) await this.#write(bucket, pending);
    };
    const next = (this.#flushing ?? Promise.resolve()).then(run);
    this.#flushing = next;
    return next;
  }

  async #write(bucket: number, pending: Pending): Promise<void> {
    if (pending.overflow > 0) {
      this.#logger.warn(
        { overflow: pending.overflow, identities: pending.counts.size },
        'anomaly aggregates full for this interval: further identities not watched',
      );
    }
    if (pending.counts.size === 0) return;
    const chunk: Chunk = { v: CHUNK_VERSION, c: Object.fromEntries(pending.counts), p: {} };
    for (const [id, ips] of pending.ips) chunk.p[id] = [...ips];
    const keys = chunkKeys(this.intervalMs, bucket);
    const ttlMs = this.intervalMs * 4 + 30_000;
    try {
      const slot = await this.#state.incr(keys.slots, 1, ttlMs);
      await this.#state.set(keys.chunk(slot), JSON.stringify(chunk), ttlMs);
    } catch (error) {
      this.#lost++;
      this.#logger.warn(
        { err: error, bucket },
        'anomaly aggregates not written; this interval is under-counted',
      );
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
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
