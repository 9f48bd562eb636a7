/**
 * Prometheus metrics (`portcullis_*`) on a registry of their own.
 *
 * `observe()` runs once per request on the hot path. prom-client's own `inc`/`observe` cost
 * about 0.5 µs each (label validation and a label-hash string per call), so the per-request
 * series are counted here instead, in plain "cells" (a number, or bucket counts, sum and
 * count) that prom-client reads at scrape time: counters receive the increments made since
 * the last scrape in their `collect` hook, histograms export their cells directly. Method,
 * status class, decision and door are small indexes; each route keeps its cells in a slot
 * keyed by those indexes, so a request seen before allocates nothing and formats no string.
 * Anything sampled — dependency health, degraded mode, recorder queue depth — is read at
 * scrape time, never on the request path.
 *
 * Label cardinality is bounded by construction: route ids (from configuration, checked
 * against the route id pattern; `other` if one does not match, `none` when no route
 * matched), the standard HTTP methods (`OTHER` for the rest), status classes, doors, and
 * catalog error codes (`other` for anything the catalog does not list). Never a path, a
 * key, an IP or a client name.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type LabelValues, Registry } from 'prom-client';
import { type ErrorCode, errorCatalog } from '../errors/catalog.js';
import type { Outcome } from '../gateway/proxy-server.js';
import { ROUTE_ID_PATTERN } from '../routing/spec.js';
import { DURATION_BUCKETS } from './latency-buckets.js';

export const METRICS_PREFIX = 'portcullis_';

export { DURATION_BUCKETS } from './latency-buckets.js';

/**
 * Route ids whose slots are cached for the hot path; past it the cache starts over. Counts
 * are never lost (cells live on in their metric); this only bounds memory held per raw id.
 */
export const ROUTE_CACHE_LIMIT = 4096;

export interface HealthSample {
  /** Bounded, code-chosen name, e.g. 'store:sqlite', 'state:redis', 'rate-limits'. */
  name: string;
  ok: boolean;
}

export interface MetricsOptions {
  /** Portcullis version, for `portcullis_build_info`. */
  version: string;
  /** Dependency health, sampled at scrape time (never on the request path). */
  health?: () => Promise<HealthSample[]>;
  /** Bound on `health()` per scrape; past it every dependency seen before reads 0. Default 2000. */
  healthTimeoutMs?: number;
  /** Degraded rate-limit mode in force now ('local' | 'open' | 'closed') or undefined; sampled at scrape. */
  degradedMode?: () => string | undefined;
  /** Recorder queue depth, sampled at scrape (can also be set later with `setQueueDepthSource`). */
  queueDepth?: () => number;
  /** The configuration version this instance serves; sampled at scrape. Omitted: no gauge. */
  configVersion?: () => number;
  /** Whether this instance runs the anomaly detector now; sampled at scrape. Omitted: detection is off (no gauge). */
  anomalyLeader?: () => boolean;
  /** prom-client's default process and Node.js metrics, with the same prefix. Default true. */
  defaultMetrics?: boolean;
}

export interface Metrics {
  /** This instance's own registry (not prom-client's global one). */
  readonly registry: Registry;
  /** Count one finished request. Hot path: no allocation for a label set seen before; never throws. */
  observe(outcome: Outcome): void;
  /** The recorder wrote `n` records (default 1). */
  recordsWritten(n?: number): void;
  /** The recorder dropped `n` records (default 1): queue full or write failure. */
  recordsDropped(n?: number): void;
  /** The anomaly detector of this instance recorded a new incident. */
  anomalyRecorded(signal: string, action: string): void;
  /** Where `portcullis_recorder_queue_depth` is read at scrape (undefined: reads 0). */
  setQueueDepthSource(source: (() => number) | undefined): void;
  /** Text exposition for GET /metrics (Prometheus text format 0.0.4). */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** Route ids holding a cached slot now (diagnostics and tests; at most ROUTE_CACHE_LIMIT). */
  readonly cachedRoutes: number;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
const METHOD_LABELS: readonly string[] = [...METHODS, 'OTHER'];
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length;

const STATUS_CLASSES: readonly string[] = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];
const DECISIONS: readonly string[] = ['allowed', 'denied', 'error'];
const ALLOWED = 0;
const DENIED = 1;
const ERROR = 2;
/** `unknown`: the request failed before its facts were read (malformed request head). */
const DOORS: readonly string[] = ['gateway', 'forward_auth', 'verify', 'unknown'];
const DOOR_INDEX: ReadonlyMap<string, number> = new Map(DOORS.map((d, i) => [d, i]));
const UNKNOWN_DOOR = 3;

const UPSTREAM_ERRORS: readonly ErrorCode[] = ['upstream_unavailable', 'upstream_timeout'];
const DEGRADED_MODES: readonly string[] = ['local', 'open', 'closed'];

export const RATE_LIMIT_CODES: readonly ErrorCode[] = ['rate_limited', 'quota_exceeded', 'failsafe_closed'];
/** Refusals decided by the caller's address (untrusted_proxy: forward-auth from an untrusted peer). */
export const IP_CODES: readonly ErrorCode[] = [
  'ip_not_allowed',
  'ip_binding_violation',
  'blocked',
  'untrusted_proxy',
];
/** Every other 401/403 of the catalog: credential and identity refusals. */
export const AUTH_CODES: readonly ErrorCode[] = (Object.keys(errorCatalog) as ErrorCode[]).filter(
  (code) =>
    (errorCatalog[code].status === 401 || errorCatalog[code].status === 403) && !IP_CODES.includes(code),
);

const ROUTE_ID = new RegExp(ROUTE_ID_PATTERN);
const HEALTH_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const MAX_DEPENDENCIES = 64;

function statusClass(status: number): number {
  const c = Math.trunc(status / 100);
  return c >= 1 && c <= 5 ? c - 1 : 5;
}

type Labels = Record<string, string>;

/** One counter series: incremented on the hot path, handed to prom-client at scrape. */
interface CounterCell {
  readonly labels: Labels;
  value: number;
  pushed: number;
}

/** Counter series counted here; `collect` adds what was counted since the last scrape. */
class CounterCells<L extends string> {
  readonly #byKey = new Map<string, CounterCell>();
  readonly #counter: Counter<L>;

  constructor(counter: Counter<L>) {
    this.#counter = counter;
  }

  /** The cell for a label set (created at 0, so the series exists from the next scrape). */
  cell(labels: Record<L, string>): CounterCell {
    const key = Object.values<string>(labels).join('\u0000');
    let cell = this.#byKey.get(key);
    if (cell === undefined) {
      cell = { labels, value: 0, pushed: 0 };
      this.#byKey.set(key, cell);
      this.#counter.inc(labels as LabelValues<L>, 0);
    }
    return cell;
  }

  flush(): void {
    for (const cell of this.#byKey.values()) {
      const delta = cell.value - cell.pushed;
      if (delta > 0) {
        this.#counter.inc(cell.labels as LabelValues<L>, delta);
        cell.pushed = cell.value;
      }
    }
  }
}

/** One histogram series: per-bucket counts (last slot: above every bound), sum and count. */
interface HistogramCell {
  readonly labels: Labels;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

function observeCell(cell: HistogramCell, bounds: readonly number[], value: number): void {
  let i = 0;
  const n = bounds.length;
  while (i < n && value > bounds[i]!) i++;
  cell.counts[i]!++;
  cell.sum += value;
  cell.count++;
}

type HistogramExport = Awaited<ReturnType<Histogram['get']>>;

/**
 * A prom-client Histogram whose series are cells counted here: it registers and exports
 * like any Histogram (text and JSON), but an observation is a few additions. Observe through
 * `cell()` only: the inherited `observe`/`labels` write to a map this class never exports.
 */
class CellHistogram<L extends string> extends Histogram<L> {
  // Set after super(): the base constructor calls reset() before subclass fields exist.
  cells: Map<string, HistogramCell> | undefined;
  readonly bounds: readonly number[];
  readonly metricName: string;
  readonly metricHelp: string;

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    bounds: readonly number[],
    registry: Registry,
  ) {
    super({ name, help, labelNames, buckets: [...bounds], registers: [registry] });
    this.cells = new Map();
    this.bounds = bounds;
    this.metricName = name;
    this.metricHelp = help;
  }

  cell(labels: Record<L, string>): HistogramCell {
    const key = Object.values<string>(labels).join('\u0000');
    let cell = this.cells!.get(key);
    if (cell === undefined) {
      cell = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.cells!.set(key, cell);
    }
    return cell;
  }

  override reset(): void {
    if (this.cells === undefined) return;
    for (const cell of this.cells.values()) {
      cell.counts.fill(0);
      cell.sum = 0;
      cell.count = 0;
    }
  }

  override async get(): Promise<HistogramExport> {
    return this.export();
  }

  /** What the registry reads for the text format (prom-client's Histogram defines it too). */
  async getForPromString(): Promise<HistogramExport> {
    return this.export();
  }

  export(): HistogramExport {
    const bucket = `${this.metricName}_bucket`;
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const cell of this.cells!.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += cell.counts[i]!;
        values.push({
          labels: { ...cell.labels, le: this.bounds[i]! },
          value: cumulative,
          metricName: bucket,
        });
      }
      values.push({ labels: { ...cell.labels, le: '+Inf' }, value: cell.count, metricName: bucket });
      values.push({ labels: cell.labels, value: cell.sum, metricName: `${this.metricName}_sum` });
      values.push({ labels: cell.labels, value: cell.count, metricName: `${this.metricName}_count` });
    }
    return {
      name: this.metricName,
      help: this.metricHelp,
      type: 'histogram',
      values,
      aggregator: 'sum',
    } as unknown as HistogramExport;
  }
}

/** One route's cells, created on first use. */
interface RouteSlot {
  readonly label: string;
  /** requests_total cells by ((method × status class) × decision) × door index. */
  readonly requests: Map<number, CounterCell>;
  readonly duration: Array<HistogramCell | undefined>;
  upstream: HistogramCell | undefined;
  readonly upstreamErrors: Array<CounterCell | undefined>;
}

function newSlot(label: string): RouteSlot {
  return {
    label,
    requests: new Map(),
    duration: new Array<HistogramCell | undefined>(DOORS.length).fill(undefined),
    upstream: undefined,
    upstreamErrors: [undefined, undefined],
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // Not unref'd: a scrape waiting on it is pending work, and the timer is short.
    timer = setTimeout(() => reject(new Error('health check timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function positive(n: number | undefined): number {
  if (n === undefined) return 1;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const p = METRICS_PREFIX;
  const registers = [registry];

  // Counters fed from cells: each flushes its cells when the registry collects it.
  let requestCells: CounterCells<'route' | 'method' | 'status_class' | 'decision' | 'door'>;
  const requests = new Counter({
    name: `${p}requests_total`,
    help: 'Requests answered, by route id (none: no route matched), method, status class, decision and door.',
    labelNames: ['route', 'method', 'status_class', 'decision', 'door'] as const,
    registers,
    collect: () => requestCells.flush(),
  });
  requestCells = new CounterCells(requests);

  let upstreamErrorCells: CounterCells<'route' | 'code'>;
  const upstreamErrors = new Counter({
    name: `${p}upstream_errors_total`,
    help: 'Upstream exchanges that failed (unreachable or timed out), by route.',
    labelNames: ['route', 'code'] as const,
    registers,
    collect: () => upstreamErrorCells.flush(),
  });
  upstreamErrorCells = new CounterCells(upstreamErrors);

  const requestDuration = new CellHistogram(
    `${p}request_duration_seconds`,
    'Time from the request head to the complete answer, in seconds.',
    ['route', 'door'] as const,
    DURATION_BUCKETS,
    registry,
  );
  const upstreamDuration = new CellHistogram(
    `${p}upstream_duration_seconds`,
    "Time until the upstream's response headers, in seconds.",
    ['route'] as const,
    DURATION_BUCKETS,
    registry,
  );

  // Refusal counters by catalog code. Every known code's series exists at 0 from the start.
  const denyCells = new Map<string, CounterCell>();
  const refusalCounter = (
    name: string,
    help: string,
    label: 'reason' | 'code',
    codes: readonly ErrorCode[],
  ): ((code: string) => CounterCell) => {
    let cells: CounterCells<string>;
    const counter = new Counter<string>({
      name: `${p}${name}`,
      help,
      labelNames: [label],
      registers,
      collect: () => cells.flush(),
    });
    cells = new CounterCells(counter);
    const cellFor = (code: string) => cells.cell({ [label]: code });
    for (const code of codes) denyCells.set(code, cellFor(code));
    return cellFor;
  };
  const authCell = refusalCounter(
    'auth_failures_total',
    'Requests refused for their credentials or identity (401/403 catalog codes; other: not in the catalog).',
    'reason',
    AUTH_CODES,
  );
  const rateLimitCell = refusalCounter(
    'rate_limit_denials_total',
    'Requests refused by rate limits, quotas or a closed failsafe.',
    'code',
    RATE_LIMIT_CODES,
  );
  refusalCounter(
    'ip_denials_total',
    "Requests refused for the caller's address (allow-lists, key IP bindings, blocklist, untrusted proxy).",
    'code',
    IP_CODES,
  );
  const knownCodes: ReadonlySet<string> = new Set(Object.keys(errorCatalog));
  let otherAuth: CounterCell | undefined;
  let otherRateLimit: CounterCell | undefined;

  let queueDepthSource = options.queueDepth;
  const queueDepth: Gauge = new Gauge({
    name: `${p}recorder_queue_depth`,
    help: 'Request records waiting to be written.',
    registers,
    collect() {
      let depth = 0;
      try {
        depth = queueDepthSource?.() ?? 0;
      } catch {
        depth = 0;
      }
      queueDepth.set(Number.isFinite(depth) ? depth : 0);
    },
  });
  const recordsWritten = new Counter({
    name: `${p}records_written_total`,
    help: 'Request records written by the recorder.',
    registers,
  });
  const recordsDropped = new Counter({
    name: `${p}records_dropped_total`,
    help: 'Request records dropped by the recorder (queue full or write failure).',
    registers,
  });

  const healthTimeoutMs = options.healthTimeoutMs ?? 2000;
  const seenDependencies = new Set<string>();
  const dependencyUp: Gauge<'name'> = new Gauge({
    name: `${p}dependency_up`,
    help: 'Whether a dependency passed its health check at scrape time (1) or not (0).',
    labelNames: ['name'] as const,
    registers,
    // Under `start --workers` the primary merges the workers' metrics: up only if up in each.
    aggregator: 'min',
    async collect() {
      const health = options.health;
      if (!health) return;
      let samples: HealthSample[] | undefined;
      try {
        samples = await withTimeout(health(), healthTimeoutMs);
      } catch {
        samples = undefined;
      }
      dependencyUp.reset();
      if (!Array.isArray(samples)) {
        // Unknown is not up: every dependency reported before reads 0.
        for (const name of seenDependencies) dependencyUp.set({ name }, 0);
        return;
      }
      for (const sample of samples) {
        const name = HEALTH_NAME.test(sample.name) ? sample.name : 'other';
        if (seenDependencies.size < MAX_DEPENDENCIES) seenDependencies.add(name);
        dependencyUp.set({ name }, sample.ok ? 1 : 0);
      }
    },
  });

  const degraded: Gauge<'mode'> = new Gauge({
    name: `${p}ratelimit_degraded`,
    help: 'The degraded rate-limit mode in force (1) while the limit store is unreachable; 0 for the others.',
    labelNames: ['mode'] as const,
    registers,
    // Merged across workers: a mode is in force if one worker uses it.
    aggregator: 'max',
    collect() {
      let mode: string | undefined;
      try {
        mode = options.degradedMode?.();
      } catch {
        mode = undefined;
      }
      degraded.reset();
      for (const m of DEGRADED_MODES) degraded.set({ mode: m }, m === mode ? 1 : 0);
      if (mode !== undefined && !DEGRADED_MODES.includes(mode)) degraded.set({ mode: 'other' }, 1);
    },
  });

  const anomalies = new Counter({
    name: `${p}anomalies_total`,
    help: 'Anomaly incidents recorded by the detector on this instance, by signal and action (recorded, shadow, alerted, blocked).',
    labelNames: ['signal', 'action'] as const,
    registers,
  });
  const leaderSource = options.anomalyLeader;
  if (leaderSource) {
    const anomalyLeader: Gauge = new Gauge({
      name: `${p}anomaly_leader`,
      help: 'Whether this instance holds the anomaly detector lease (1) or not (0); absent when detection is off.',
      registers,
      collect() {
        anomalyLeader.set(leaderSource() === true ? 1 : 0);
      },
    });
  }

  const versionSource = options.configVersion;
  if (versionSource) {
    const configVersion: Gauge = new Gauge({
      name: `${p}config_version`,
      help: 'The configuration version this instance serves (the store counter at its last reload). Across workers, the lowest.',
      registers,
      // Summing versions across workers would mean nothing; the laggard is what matters.
      aggregator: 'min',
      collect() {
        configVersion.set(versionSource());
      },
    });
  }

  const buildInfo = new Gauge({
    name: `${p}build_info`,
    help: 'Build information; always 1.',
    labelNames: ['version', 'node'] as const,
    registers,
    aggregator: 'first',
  });
  buildInfo.set({ version: options.version, node: process.version }, 1);

  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: p });

  const noneSlot = newSlot('none');
  const otherSlot = newSlot('other');
  const slots = new Map<string, RouteSlot>();

  const slotFor = (routeId: string | undefined): RouteSlot => {
    if (routeId === undefined) return noneSlot;
    let slot = slots.get(routeId);
    if (slot === undefined) {
      if (slots.size >= ROUTE_CACHE_LIMIT) slots.clear();
      slot = typeof routeId === 'string' && ROUTE_ID.test(routeId) ? newSlot(routeId) : otherSlot;
      slots.set(routeId, slot);
    }
    return slot;
  };

  const countRefusal = (code: string, status: number) => {
    const cell = denyCells.get(code);
    if (cell !== undefined) {
      cell.value++;
      return;
    }
    if (knownCodes.has(code)) return; // a catalog code without a counter of its own (no_route, 5xx…)
    if (status === 401 || status === 403) {
      otherAuth ??= authCell('other');
      otherAuth.value++;
    } else if (status === 429) {
      otherRateLimit ??= rateLimitCell('other');
      otherRateLimit.value++;
    }
  };

  const observe = (outcome: Outcome): void => {
    const { facts, decision, status } = outcome;
    let routeId: string | undefined;
    let decided: number;
    let upstreamError = -1;
    if (decision === undefined) {
      decided = status >= 500 ? ERROR : status >= 400 ? DENIED : ALLOWED;
    } else if (decision.kind === 'allow') {
      routeId = decision.match.route.id;
      // The forwarder names the failure (also one after the upstream's headers); a relayed
      // WebSocket does not, so a 502/504 with no upstream answer is read as one.
      const reported = outcome.upstreamError;
      if (reported === 'upstream_unavailable') upstreamError = 0;
      else if (reported === 'upstream_timeout') upstreamError = 1;
      else if (outcome.upstreamMs === undefined) upstreamError = status === 502 ? 0 : status === 504 ? 1 : -1;
      decided = upstreamError >= 0 ? ERROR : ALLOWED;
    } else {
      routeId = decision.routeId;
      decided = status >= 500 ? ERROR : DENIED;
      countRefusal(decision.code, decision.status);
    }

    const slot = slotFor(routeId);
    const method = facts === undefined ? OTHER_METHOD : (METHOD_INDEX.get(facts.method) ?? OTHER_METHOD);
    const door = facts === undefined ? UNKNOWN_DOOR : (DOOR_INDEX.get(facts.door) ?? UNKNOWN_DOOR);
    const klass = statusClass(status);

    const key = ((method * STATUS_CLASSES.length + klass) * DECISIONS.length + decided) * DOORS.length + door;
    let counter = slot.requests.get(key);
    if (counter === undefined) {
      counter = requestCells.cell({
        route: slot.label,
        method: METHOD_LABELS[method]!,
        status_class: STATUS_CLASSES[klass]!,
        decision: DECISIONS[decided]!,
        door: DOORS[door]!,
      });
      slot.requests.set(key, counter);
    }
    counter.value++;

    const totalMs = outcome.totalMs;
    if (totalMs >= 0 && totalMs < Number.POSITIVE_INFINITY) {
      let duration = slot.duration[door];
      if (duration === undefined) {
        duration = requestDuration.cell({ route: slot.label, door: DOORS[door]! });
        slot.duration[door] = duration;
      }
      observeCell(duration, DURATION_BUCKETS, totalMs / 1000);
    }

    const upstreamMs = outcome.upstreamMs;
    if (upstreamMs !== undefined && upstreamMs >= 0 && upstreamMs < Number.POSITIVE_INFINITY) {
      slot.upstream ??= upstreamDuration.cell({ route: slot.label });
      observeCell(slot.upstream, DURATION_BUCKETS, upstreamMs / 1000);
    }

    if (upstreamError >= 0) {
      let errors = slot.upstreamErrors[upstreamError];
      if (errors === undefined) {
        errors = upstreamErrorCells.cell({ route: slot.label, code: UPSTREAM_ERRORS[upstreamError]! });
        slot.upstreamErrors[upstreamError] = errors;
      }
      errors.value++;
    }
  };

  return {
    registry,
    observe,
    recordsWritten(n) {
      recordsWritten.inc(positive(n));
    },
    recordsDropped(n) {
      recordsDropped.inc(positive(n));
    },
    anomalyRecorded(signal, action) {
      anomalies.inc({ signal, action });
    },
    setQueueDepthSource(source) {
      queueDepthSource = source;
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    get cachedRoutes() {
      return slots.size;
    },
  };
}
