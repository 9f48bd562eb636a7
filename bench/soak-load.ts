/**
 * The soak's load generator: an open-loop, fixed-rate stream of mixed requests spread over the
 * gateways that are up, each with a unique X-Request-Id, every answer kept as a `Sample` for
 * the checks. Open loop on purpose: a closed loop slows down when a gateway stalls and hides
 * the stall; here a request is due at its time whatever happened before (up to a cap on
 * requests in flight, past which due requests are skipped and counted).
 *
 * It runs inside the soak process: at a few hundred requests per second undici costs a few
 * percent of a core, and the soak measures correctness and memory, not saturation.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { BLOCKED_SOURCE, type OutgoingRequest, type TrafficKind } from './soak-traffic.js';

export interface Endpoint {
  index: number;
  name: string;
  url: string;
  /** Incremented on every (re)start; samples carry the generation that answered. */
  generation: number;
  /** Whether the load balancer in front sends traffic here. */
  up: boolean;
}

export interface Sample {
  /** Index into the kinds list. */
  kind: number;
  instance: number;
  generation: number;
  requestId: string;
  /** Epoch ms when sent and when the answer (or the failure) was complete. */
  sentAt: number;
  doneAt: number;
  /** 0 when no answer arrived (connection refused or reset, timeout). */
  status: number;
  code?: string;
  error?: string;
  keyIndex?: number;
  /** Limited route: X-RateLimit-Reset (s) and X-RateLimit-Remaining of the answer. */
  resetS?: number;
  remaining?: number;
  degraded?: string;
  /** The answer's X-Request-Id was not the one sent. */
  idMismatch?: boolean;
}

export interface LoadOptions {
  /** Requests per second, all kinds together. */
  rate: number;
  maxInFlight: number;
  /** Upstream connections per gateway and source address. */
  connections: number;
}

/**
 * Smooth weighted round-robin (as nginx balances weighted upstreams): every kind gets its share
 * spread evenly through the cycle instead of in runs, so a short stretch of time still carries
 * every kind.
 */
function weightedCycle(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const order: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    order.push(best);
  }
  return order;
}

export class SoakLoad {
  readonly samples: Sample[] = [];
  readonly runId = `soak${randomBytes(4).toString('hex')}`;
  readonly #kinds: readonly TrafficKind[];
  readonly #endpoints: readonly Endpoint[];
  readonly #options: LoadOptions;
  readonly #pools: Array<{ main: Pool; blocked: Pool }>;
  readonly #order: number[];
  readonly #turn: number[];
  #seq = 0;
  #issued = 0;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  /** Due requests not sent: the in-flight cap was reached, or no gateway was up. */
  skipped = { inFlightCap: 0, noGatewayUp: 0 };

  constructor(kinds: readonly TrafficKind[], endpoints: readonly Endpoint[], options: LoadOptions) {
    this.#kinds = kinds;
    this.#endpoints = endpoints;
    this.#options = options;
    this.#order = weightedCycle(kinds.map((k) => k.weight));
    this.#turn = kinds.map(() => 0);
    this.#pools = endpoints.map((e) => ({
      main: new Pool(e.url, { connections: options.connections }),
      blocked: new Pool(e.url, { connections: 2, localAddress: BLOCKED_SOURCE }),
    }));
  }

  get kinds(): readonly TrafficKind[] {
    return this.#kinds;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  start(): void {
    this.#startedAt = performance.now();
    this.#issued = 0;
    // 5 ms ticks: at 300 req/s one or two requests per tick, so sends stay evenly spaced; a
    // late tick (GC, a busy machine) catches up on what came due meanwhile.
    this.#timer = setInterval(() => this.#tick(), 5);
  }

  /** Stop issuing, then wait for every request in flight to finish. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  async close(): Promise<void> {
    await Promise.all(this.#pools.flatMap((p) => [p.main.close(), p.blocked.close()]));
  }

  #tick(): void {
    const due = Math.floor(((performance.now() - this.#startedAt) * this.#options.rate) / 1000);
    while (this.#issued < due) {
      const kind = this.#order[this.#issued % this.#order.length]!;
      this.#issued++;
      if (this.#inFlight >= this.#options.maxInFlight) {
        this.skipped.inFlightCap++;
        continue;
      }
      const up = this.#endpoints.filter((e) => e.up);
      if (up.length === 0) {
        this.skipped.noGatewayUp++;
        continue;
      }
      // Per kind round-robin: every kind is spread evenly over the gateways that are up.
      const endpoint = up[this.#turn[kind]!++ % up.length]!;
      void this.send(kind, endpoint);
    }
  }

  /** One request of `kind` to `endpoint`; the sample is kept (also used for pre-flight checks). */
  async send(kind: number, endpoint: Endpoint): Promise<Sample> {
    const outgoing: OutgoingRequest = this.#kinds[kind]!.next();
    const requestId = `${this.runId}-${(this.#seq++).toString(36)}`;
    const sample: Sample = {
      kind,
      instance: endpoint.index,
      generation: endpoint.generation,
      requestId,
      sentAt: Date.now(),
      doneAt: 0,
      status: 0,
      ...(outgoing.keyIndex === undefined ? {} : { keyIndex: outgoing.keyIndex }),
    };
    this.samples.push(sample);
    this.#inFlight++;
    const pools = this.#pools[endpoint.index]!;
    try {
      const res = await (outgoing.from === 'blocked' ? pools.blocked : pools.main).request({
        method: outgoing.method,
        path: outgoing.path,
        headers: { ...outgoing.headers, 'x-request-id': requestId },
        ...(outgoing.body === undefined ? {} : { body: outgoing.body }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const h = res.headers;
      if (h['x-request-id'] !== requestId) sample.idMismatch = true;
      if (res.statusCode >= 400) {
        const text = await res.body.text();
        try {
          const code = (JSON.parse(text) as { code?: unknown }).code;
          if (typeof code === 'string') sample.code = code;
        } catch {}
      } else {
        await res.body.dump();
      }
      // Only once the body is complete is the request answered.
      sample.status = res.statusCode;
      if (typeof h['x-ratelimit-reset'] === 'string') sample.resetS = Number(h['x-ratelimit-reset']);
      if (typeof h['x-ratelimit-remaining'] === 'string')
        sample.remaining = Number(h['x-ratelimit-remaining']);
      if (typeof h['x-portcullis-degraded'] === 'string') sample.degraded = h['x-portcullis-degraded'];
    } catch (error) {
      const e = error as { code?: string; message?: string };
      sample.error = e.code ?? e.message ?? String(error);
    } finally {
      sample.doneAt = Date.now();
      this.#inFlight--;
      if (this.#inFlight === 0 && this.#timer === undefined)
        for (const resolve of this.#idle.splice(0)) resolve();
    }
    return sample;
  }
}
