/**
 * `npm run eval:anomaly`: replays synthetic traffic through the anomaly detector's `evaluate()`
 * and scores its findings against labelled, injected incidents.
 *
 *   node dist/bench/anomaly-eval.js [--seed 1] [--identities 2000] [--days 3] [--incidents N]
 *     [--json results.json] [--markdown]
 *
 * Every identity has its own base rate, a daily cycle and noise; incidents (bursts of 3×–50×,
 * credential stuffing, key sharing, error storms, rate-limit pile-ups) are injected at random
 * times, often starting part-way through an interval. Every interval is evaluated in time order
 * with one shared `Baselines` that learns, exactly as the running service does. The first day is
 * warm-up: learned, never scored, and free of incidents. Everything random comes from one seeded
 * generator, so a seed names a dataset and its results. docs/anomaly.md ("Evaluation") states
 * the model and the scoring rules; keep the two in step.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Baselines, DEFAULT_PARAMS, type DetectorParams, evaluate } from '../src/anomaly/detector.js';
import {
  type BucketCounts,
  type Counts,
  type IdentityKind,
  identityId,
  SIGNALS,
  type Signal,
} from '../src/anomaly/signals.js';

export const INTERVAL_MS = 60_000;
export const INTERVALS_PER_DAY = 1440;
export const BURST_MULTIPLIERS = [3, 5, 10, 20, 50] as const;
/** The target: every burst at least this large (and above the detector's minimum) is caught. */
export const TARGET_MULTIPLIER = 5;
/** …within this many intervals of its start (time to detection, defined in `Incident`). */
export const TARGET_INTERVALS = 2;
/** …while at most this share of normal identity-intervals carries a finding. */
export const TARGET_FALSE_POSITIVE_RATE = 0.01;
/** Incidents per identity per scored day when `incidents` is not given. */
export const DEFAULT_INCIDENT_RATE = 0.15;

// ---------------------------------------------------------------------------------------------
// Randomness: sfc32 seeded through splitmix32, so a run is reproducible from one integer.

export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare: number | undefined;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix();
    this.#b = splitmix();
    this.#c = splitmix();
    this.#d = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Log-uniform in [lo, hi]: as many values between 15 and 30 as between 100 and 200. */
  logUniform(lo: number, hi: number): number {
    return Math.exp(this.uniform(Math.log(lo), Math.log(hi)));
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.#spare !== undefined) {
      const spare = this.#spare;
      this.#spare = undefined;
      return spare;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Multiplicative noise with mean 1 and log-standard-deviation `sigma`. */
  lognormal(sigma: number): number {
    return Math.exp(sigma * this.normal() - (sigma * sigma) / 2);
  }

  /** Poisson: exact below a mean of 30, the normal approximation above (plenty for counts). */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean >= 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** Binomial: exact for small n, the normal approximation otherwise; always within [0, n]. */
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (n < 40) {
      let k = 0;
      for (let i = 0; i < n; i++) if (this.next() < p) k++;
      return k;
    }
    const k = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * this.normal());
    return Math.min(n, Math.max(0, k));
  }
}

// ---------------------------------------------------------------------------------------------
// The synthetic population.

export interface Identity {
  id: string;
  kind: IdentityKind;
  /** Mean requests per interval over a day. */
  base: number;
  /** Daily cycle: rate = base × (1 + amplitude × sin(2π·t/day + phase)). */
  amplitude: number;
  phase: number;
  /** Share of requests that fail (5xx and non-gateway 4xx). */
  errorRatio: number;
  /** Addresses only: mean failed authentications per interval (typos, expired keys). */
  authFailures: number;
  /** Keys only: mean distinct client addresses per interval. */
  ips: number;
  /** Chance per interval of a few rate-limited requests, and their mean count. */
  limitedChance: number;
  limitedMean: number;
}

/** Share of each kind in the population. */
const KIND_MIX: ReadonlyArray<[IdentityKind, number]> = [
  ['key', 0.4],
  ['client', 0.15],
  ['user', 0.15],
  ['ip', 0.3],
];
const PREFIX: Record<IdentityKind, string> = { key: 'key', client: 'client', user: 'user', ip: '' };
/** Base rates: log-normal around the median, truncated to [MIN_BASE, MAX_BASE]. */
const MEDIAN_BASE = 150;
const BASE_LOG_SIGMA = 1;
const MIN_BASE = 20;
const MAX_BASE = 2000;
/** Multiplicative noise on every interval's rate, on top of Poisson noise. */
const RATE_NOISE = 0.1;

function address(n: number): string {
  // 198.18.0.0/15 is reserved for benchmarking (RFC 2544): room for 131,072 addresses.
  return `198.${18 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
}

export function makePopulation(count: number, random: Random): Identity[] {
  const identities: Identity[] = [];
  const serial: Record<IdentityKind, number> = { key: 0, client: 0, user: 0, ip: 0 };
  for (let i = 0; i < count; i++) {
    // Kinds are dealt in proportion, not drawn, so small populations still hold every kind.
    const kind = kindFor(i, count);
    const n = serial[kind]++;
    const value = kind === 'ip' ? address(n) : `${PREFIX[kind]}_${n}`;
    let base: number;
    do base = MEDIAN_BASE * Math.exp(BASE_LOG_SIGMA * random.normal());
    while (base < MIN_BASE || base > MAX_BASE);
    const limited = random.next() < 0.3;
    identities.push({
      id: identityId(kind, value),
      kind,
      base,
      amplitude: random.uniform(0.3, 0.7),
      phase: random.uniform(0, 2 * Math.PI),
      errorRatio: random.uniform(0, 0.03),
      authFailures: kind === 'ip' ? random.uniform(0.2, 1) : 0,
      ips: kind === 'key' ? random.int(1, 5) : 0,
      limitedChance: limited ? random.uniform(0.01, 0.1) : 0,
      limitedMean: limited ? random.uniform(1, 10) : 0,
    });
  }
  return identities;
}

function kindFor(i: number, count: number): IdentityKind {
  let edge = 0;
  for (const [kind, share] of KIND_MIX) {
    edge += share * count;
    if (i < edge) return kind;
  }
  return 'ip';
}

/** Expected requests in interval `bucket` (the rate at its midpoint), before noise. */
export function expectedRate(identity: Identity, bucket: number): number {
  const t = (bucket + 0.5) / INTERVALS_PER_DAY;
  return identity.base * (1 + identity.amplitude * Math.sin(2 * Math.PI * t + identity.phase));
}

// ---------------------------------------------------------------------------------------------
// Incidents.

export type Scenario = 'burst' | 'credential_stuffing' | 'key_sharing' | 'error_storm' | 'rate_limit_pileup';

export const SCENARIOS: readonly Scenario[] = [
  'burst',
  'credential_stuffing',
  'key_sharing',
  'error_storm',
  'rate_limit_pileup',
];

/** The signal a scenario should raise. */
export const SIGNAL_OF: Record<Scenario, Signal> = {
  burst: 'burst',
  credential_stuffing: 'auth_failures',
  key_sharing: 'key_sharing',
  error_storm: 'error_rate',
  rate_limit_pileup: 'rate_limited',
};

export interface Incident {
  index: number;
  scenario: Scenario;
  signal: Signal;
  identity: string;
  kind: IdentityKind;
  /**
   * Start, in intervals since the beginning of the run (fractional: interval ⌊start⌋ is only
   * partly affected). Time to detection = (end of the interval whose evaluation flagged it) −
   * start, in intervals; so a flag in the first full interval means 1–2 intervals.
   */
  start: number;
  /** Whole intervals the incident lasts (2–10); it ends at start + duration. */
  duration: number;
  /** Bursts: rate multiplier. */
  multiplier: number | null;
  /**
   * Bursts: requests per interval; credential stuffing: failed authentications per interval;
   * key sharing: extra distinct addresses per interval; error storm: error ratio; pile-up: share
   * of requests refused by rate limits.
   */
  magnitude: number;
  /** The identity's expected normal requests in its first full interval. */
  expectedRequests: number;
  /**
   * Bursts whose expected count in a full interval (multiplier × expected requests) is below
   * `burst.minRequests`: the detector does not look at so few requests by design. Reported on
   * their own and left out of the burst target, never dropped.
   */
  belowMinimum: boolean;
  /** First and last interval the incident touches (scored: up to last + 1). */
  firstBucket: number;
  lastBucket: number;
  /** Interval whose evaluation first flagged it with its own signal, or null. */
  detectedBucket: number | null;
}

/** Scenarios are dealt round-robin over these slots: bursts are five ninths of all incidents. */
const SLOTS: ReadonlyArray<[Scenario, number | null]> = [
  ...BURST_MULTIPLIERS.map((m): [Scenario, number] => ['burst', m]),
  ['credential_stuffing', null],
  ['key_sharing', null],
  ['error_storm', null],
  ['rate_limit_pileup', null],
];
/** Quiet intervals kept between two incidents on one identity, so each is judged on its own. */
const INCIDENT_SPACING = 120;
/** Error storms need requests for a ratio to mean anything; pile-ups need requests to refuse. */
const ERROR_STORM_MIN_EXPECTED = 50;
const PILEUP_MIN_EXPECTED = 100;

function eligible(scenario: Scenario, identity: Identity, expected: number): boolean {
  switch (scenario) {
    case 'burst':
      return true;
    case 'credential_stuffing':
      return identity.kind === 'ip';
    case 'key_sharing':
      return identity.kind === 'key';
    case 'error_storm':
      return identity.kind !== 'ip' && expected >= ERROR_STORM_MIN_EXPECTED;
    case 'rate_limit_pileup':
      return expected >= PILEUP_MIN_EXPECTED;
  }
}

export function makeIncidents(
  population: readonly Identity[],
  count: number,
  firstScored: number,
  total: number,
  params: DetectorParams,
  random: Random,
): Incident[] {
  const incidents: Incident[] = [];
  const taken = new Map<string, Incident[]>();
  for (let i = 0; i < count; i++) {
    const [scenario, multiplier] = SLOTS[i % SLOTS.length] as [Scenario, number | null];
    for (let attempt = 0; attempt < 1000; attempt++) {
      const identity = random.pick(population);
      const duration = random.int(2, 10);
      // Whole incident, and the interval after it, inside the scored days.
      const start = random.uniform(firstScored, total - duration - 1);
      const firstBucket = Math.floor(start);
      const lastBucket = Math.ceil(start + duration) - 1;
      const expected = expectedRate(identity, firstBucket + 1);
      if (!eligible(scenario, identity, expected)) continue;
      const others = taken.get(identity.id) ?? [];
      const clash = others.some(
        (o) =>
          firstBucket <= o.lastBucket + INCIDENT_SPACING && o.firstBucket <= lastBucket + INCIDENT_SPACING,
      );
      if (clash) continue;
      const incident: Incident = {
        index: i,
        scenario,
        signal: SIGNAL_OF[scenario],
        identity: identity.id,
        kind: identity.kind,
        start,
        duration,
        multiplier,
        magnitude: magnitudeFor(scenario, multiplier, random),
        expectedRequests: expected,
        belowMinimum: multiplier !== null && multiplier * expected < params.burst.minRequests,
        firstBucket,
        lastBucket,
        detectedBucket: null,
      };
      others.push(incident);
      taken.set(identity.id, others);
      incidents.push(incident);
      break;
    }
  }
  return incidents;
}

function magnitudeFor(scenario: Scenario, multiplier: number | null, random: Random): number {
  switch (scenario) {
    case 'burst':
      return multiplier as number;
    case 'credential_stuffing':
      return random.logUniform(50, 2000);
    case 'key_sharing':
      return random.logUniform(15, 200);
    case 'error_storm':
      return random.uniform(0.4, 1);
    case 'rate_limit_pileup':
      return random.uniform(0.3, 0.9);
  }
}

/** Share of interval `bucket` the incident covers (0 when it does not touch it). */
function overlap(incident: Incident, bucket: number): number {
  const from = Math.max(bucket, incident.start);
  const to = Math.min(bucket + 1, incident.start + incident.duration);
  return Math.max(0, to - from);
}

/** One identity's counts in one interval, with the incident (if any) mixed in by its overlap. */
function generate(
  identity: Identity,
  bucket: number,
  incident: Incident | undefined,
  random: Random,
): Counts {
  const f = incident ? overlap(incident, bucket) : 0;
  const scenario = f > 0 ? incident?.scenario : undefined;
  const magnitude = incident?.magnitude ?? 0;
  const rate = expectedRate(identity, bucket) * (scenario === 'burst' ? 1 + f * (magnitude - 1) : 1);
  let requests = random.poisson(rate * random.lognormal(RATE_NOISE));

  let authFailures = identity.kind === 'ip' ? random.poisson(identity.authFailures) : 0;
  if (scenario === 'credential_stuffing') {
    // Every failed attempt is a request too.
    const stuffing = random.poisson(magnitude * f);
    authFailures += stuffing;
    requests += stuffing;
  }

  let ips = 0;
  if (identity.kind === 'key') {
    ips = random.poisson(identity.ips);
    if (scenario === 'key_sharing') {
      ips += random.poisson(magnitude * f);
      requests = Math.max(requests, ips);
    }
    ips = Math.min(requests, Math.max(ips, requests > 0 ? 1 : 0));
  }

  const errorRatio =
    scenario === 'error_storm' ? (1 - f) * identity.errorRatio + f * magnitude : identity.errorRatio;
  const errors = random.binomial(requests, errorRatio);

  let limited = random.next() < identity.limitedChance ? random.poisson(identity.limitedMean) : 0;
  if (scenario === 'rate_limit_pileup') limited += random.binomial(requests, magnitude * f);
  limited = Math.min(limited, requests);

  return { requests, authFailures, errors, limited, ips };
}

// ---------------------------------------------------------------------------------------------
// The run and its scoring.

export interface EvaluationOptions {
  seed: number;
  identities: number;
  /** Days simulated; the first is warm-up (learned, not scored), so at least 2. */
  days: number;
  /** Incidents injected; default DEFAULT_INCIDENT_RATE per identity per scored day. */
  incidents?: number;
  params?: DetectorParams;
}

export interface SignalResult {
  signal: Signal;
  scenario: Scenario;
  incidents: number;
  detected: number;
  recall: number | null;
  /** Detected within TARGET_INTERVALS of the start. */
  detectedInTime: number;
  /** Findings of this signal inside a matching incident's window. */
  truePositives: number;
  /** Findings of this signal on an identity-interval with no incident window. */
  falsePositives: number;
  precision: number | null;
  ttdMedian: number | null;
  ttdMax: number | null;
}

export interface BurstResult {
  multiplier: number;
  /** At or above the detector's minimum: the ones the burst target is judged on. */
  incidents: number;
  detected: number;
  detectedInTime: number;
  recallInTime: number | null;
  ttdMedian: number | null;
  ttdMax: number | null;
  belowMinimum: number;
  belowMinimumDetected: number;
}

export interface EvaluationResult {
  settings: {
    seed: number;
    identities: number;
    days: number;
    warmupIntervals: number;
    scoredIntervals: number;
    intervalMs: number;
    incidents: number;
    kinds: Record<IdentityKind, number>;
    params: DetectorParams;
  };
  signals: SignalResult[];
  bursts: BurstResult[];
  falsePositives: {
    /** Scored identity-intervals with traffic and no incident window on them. */
    normalIdentityIntervals: number;
    /** …of which carried at least one finding. */
    falsePositiveIdentityIntervals: number;
    rate: number;
    bySignal: Record<Signal, number>;
  };
  /** Findings of another signal than the incident's, inside its window (e.g. a burst of requests during credential stuffing). Neither TP nor FP. */
  collateral: Record<Signal, number>;
  /** Every incident injected, with the interval that detected it. */
  incidents: Incident[];
  /** Bursts ≥ TARGET_MULTIPLIER above the minimum not caught within TARGET_INTERVALS. */
  missedBursts: Incident[];
  targets: {
    burstRecall: { pass: boolean; judged: number; missed: number };
    falsePositiveRate: { pass: boolean; rate: number; limit: number };
  };
  elapsedMs: number;
}

function validate(options: EvaluationOptions): void {
  const check = (name: string, value: number, min: number) => {
    if (!Number.isSafeInteger(value) || value < min)
      throw new Error(`options.${name} must be an integer ≥ ${min} (got ${value})`);
  };
  check('seed', options.seed, 0);
  check('identities', options.identities, 10);
  check('days', options.days, 2);
  if (options.incidents !== undefined) check('incidents', options.incidents, 0);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const ratio = (a: number, b: number) => (b === 0 ? null : a / b);

/** Time to detection in intervals: incident start to the end of the flagging interval. */
export function timeToDetection(incident: Incident): number | null {
  return incident.detectedBucket === null ? null : incident.detectedBucket + 1 - incident.start;
}

export function runEvaluation(options: EvaluationOptions): EvaluationResult {
  validate(options);
  const started = performance.now();
  const params = options.params ?? DEFAULT_PARAMS;
  const warmup = INTERVALS_PER_DAY;
  const total = options.days * INTERVALS_PER_DAY;
  // Separate streams: the population, the incidents and the traffic do not shift each other.
  const population = makePopulation(options.identities, new Random(options.seed * 3 + 1));
  const incidentCount =
    options.incidents ?? Math.round(options.identities * (options.days - 1) * DEFAULT_INCIDENT_RATE);
  const incidents = makeIncidents(
    population,
    incidentCount,
    warmup,
    total,
    params,
    new Random(options.seed * 3 + 2),
  );
  const traffic = new Random(options.seed * 3 + 3);

  const byIdentity = new Map<string, Incident[]>();
  for (const incident of incidents) {
    const list = byIdentity.get(incident.identity) ?? [];
    list.push(incident);
    byIdentity.set(incident.identity, list);
  }
  /** The incident whose scored window (first … last + 1) covers `bucket`. */
  const windowAt = (id: string, bucket: number) =>
    byIdentity.get(id)?.find((i) => i.firstBucket <= bucket && bucket <= i.lastBucket + 1);

  const zero = () => Object.fromEntries(SIGNALS.map((s) => [s, 0])) as Record<Signal, number>;
  const truePositives = zero();
  const falsePositives = zero();
  const collateral = zero();
  let normal = 0;
  let falsePositiveIntervals = 0;
  const baselines = new Baselines(params.maxIdentities);

  for (let bucket = 0; bucket < total; bucket++) {
    const counts: BucketCounts = new Map();
    for (const identity of population) {
      const c = generate(identity, bucket, windowAt(identity.id, bucket), traffic);
      // The aggregator only knows identities that made a request.
      if (c.requests > 0) counts.set(identity.id, c);
    }
    const findings = evaluate(bucket, INTERVAL_MS, counts, baselines, params, { learn: true });
    if (bucket < warmup) continue;

    const flagged = new Set<string>();
    for (const finding of findings) {
      const incident = windowAt(finding.identity, bucket);
      if (incident === undefined) {
        falsePositives[finding.signal]++;
        flagged.add(finding.identity);
      } else if (incident.signal === finding.signal) {
        truePositives[finding.signal]++;
        if (incident.detectedBucket === null) incident.detectedBucket = bucket;
      } else {
        collateral[finding.signal]++;
      }
    }
    for (const id of counts.keys()) if (windowAt(id, bucket) === undefined) normal++;
    falsePositiveIntervals += flagged.size;
  }

  const inTime = (i: Incident) => {
    const ttd = timeToDetection(i);
    return ttd !== null && ttd <= TARGET_INTERVALS;
  };
  const ttds = (list: readonly Incident[]) =>
    list.map(timeToDetection).filter((t): t is number => t !== null);

  const signals: SignalResult[] = SCENARIOS.map((scenario) => {
    const signal = SIGNAL_OF[scenario];
    const list = incidents.filter((i) => i.scenario === scenario);
    const detected = list.filter((i) => i.detectedBucket !== null);
    const times = ttds(detected);
    const tp = truePositives[signal];
    const fp = falsePositives[signal];
    return {
      signal,
      scenario,
      incidents: list.length,
      detected: detected.length,
      recall: ratio(detected.length, list.length),
      detectedInTime: list.filter(inTime).length,
      truePositives: tp,
      falsePositives: fp,
      precision: ratio(tp, tp + fp),
      ttdMedian: median(times),
      ttdMax: times.length === 0 ? null : Math.max(...times),
    };
  });

  const bursts: BurstResult[] = BURST_MULTIPLIERS.map((multiplier) => {
    const all = incidents.filter((i) => i.multiplier === multiplier);
    const judged = all.filter((i) => !i.belowMinimum);
    const below = all.filter((i) => i.belowMinimum);
    const times = ttds(judged);
    return {
      multiplier,
      incidents: judged.length,
      detected: judged.filter((i) => i.detectedBucket !== null).length,
      detectedInTime: judged.filter(inTime).length,
      recallInTime: ratio(judged.filter(inTime).length, judged.length),
      ttdMedian: median(times),
      ttdMax: times.length === 0 ? null : Math.max(...times),
      belowMinimum: below.length,
      belowMinimumDetected: below.filter((i) => i.detectedBucket !== null).length,
    };
  });

  const targetBursts = incidents.filter(
    (i) => i.multiplier !== null && i.multiplier >= TARGET_MULTIPLIER && !i.belowMinimum,
  );
  const missedBursts = targetBursts.filter((i) => !inTime(i));
  const rate = normal === 0 ? 0 : falsePositiveIntervals / normal;
  const kinds: Record<IdentityKind, number> = { key: 0, client: 0, user: 0, ip: 0 };
  for (const identity of population) kinds[identity.kind]++;

  return {
    settings: {
      seed: options.seed,
      identities: options.identities,
      days: options.days,
      warmupIntervals: warmup,
      scoredIntervals: total - warmup,
      intervalMs: INTERVAL_MS,
      incidents: incidents.length,
      kinds,
      params,
    },
    signals,
    bursts,
    falsePositives: {
      normalIdentityIntervals: normal,
      falsePositiveIdentityIntervals: falsePositiveIntervals,
      rate,
      bySignal: falsePositives,
    },
    collateral,
    incidents,
    missedBursts,
    targets: {
      burstRecall: {
        pass: missedBursts.length === 0,
        judged: targetBursts.length,
        missed: missedBursts.length,
      },
      falsePositiveRate: {
        pass: rate <= TARGET_FALSE_POSITIVE_RATE,
        rate,
        limit: TARGET_FALSE_POSITIVE_RATE,
      },
    },
    elapsedMs: performance.now() - started,
  };
}

// ---------------------------------------------------------------------------------------------
// Reports.

const pct = (v: number | null, digits = 1) => (v === null ? '–' : `${(v * 100).toFixed(digits)}%`);
const num = (v: number | null, digits = 2) => (v === null ? '–' : v.toFixed(digits));
const int = (v: number) => v.toLocaleString('en-US');

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, markdown: boolean): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    markdown
      ? `| ${cells.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`
      : cells.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ');
  const rule = markdown
    ? `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`
    : widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function formatReport(result: EvaluationResult, markdown: boolean): string {
  const s = result.settings;
  const out: string[] = [];
  const kinds = Object.entries(s.kinds)
    .map(([k, n]) => `${n} ${k}s`)
    .join(', ');
  out.push(
    `seed ${s.seed}, ${s.identities} identities (${kinds}), ${s.days} days of ${INTERVALS_PER_DAY} × ${s.intervalMs / 1000} s intervals; ` +
      `day 1 (${s.warmupIntervals} intervals) is warm-up, learned and not scored; ${s.scoredIntervals} intervals scored; ` +
      `${s.incidents} incidents injected`,
  );
  out.push(
    'Time to detection (TTD): from the incident start to the end of the interval whose evaluation flagged it, in intervals ' +
      '(a flag in the first full interval is 1–2 intervals, depending on how much of the first interval the incident covered).',
  );
  out.push('');
  out.push(
    table(
      [
        'signal',
        'scenario',
        'incidents',
        'detected',
        'recall',
        `≤ ${TARGET_INTERVALS} intervals`,
        'TTD median',
        'TTD max',
        'TP findings',
        'FP findings',
        'precision',
      ],
      result.signals.map((r) => [
        r.signal,
        r.scenario,
        int(r.incidents),
        int(r.detected),
        pct(r.recall),
        int(r.detectedInTime),
        num(r.ttdMedian),
        num(r.ttdMax),
        int(r.truePositives),
        int(r.falsePositives),
        pct(r.precision),
      ]),
      markdown,
    ),
  );
  out.push('');
  out.push(
    `Bursts by multiplier (judged: multiplier × expected requests ≥ burst.minRequests = ${s.params.burst.minRequests}; ` +
      'below that the detector does not look, by design, and those are counted on their own):',
  );
  out.push('');
  out.push(
    table(
      [
        'multiplier',
        'judged',
        'detected',
        `detected ≤ ${TARGET_INTERVALS} intervals`,
        `recall ≤ ${TARGET_INTERVALS}`,
        'TTD median',
        'TTD max',
        'below minimum',
        'below minimum detected',
      ],
      result.bursts.map((b) => [
        `${b.multiplier}×`,
        int(b.incidents),
        int(b.detected),
        int(b.detectedInTime),
        pct(b.recallInTime),
        num(b.ttdMedian),
        num(b.ttdMax),
        int(b.belowMinimum),
        int(b.belowMinimumDetected),
      ]),
      markdown,
    ),
  );
  out.push('');
  const fp = result.falsePositives;
  out.push(
    `False positives: ${int(fp.falsePositiveIdentityIntervals)} of ${int(fp.normalIdentityIntervals)} normal identity-intervals ` +
      `(${pct(fp.rate, 3)}); by signal: ${SIGNALS.map((sig) => `${sig} ${fp.bySignal[sig]}`).join(', ')}.`,
  );
  out.push(
    `Collateral findings (another signal, inside an incident's window; neither TP nor FP): ${SIGNALS.map((sig) => `${sig} ${result.collateral[sig]}`).join(', ')}.`,
  );
  out.push('');
  const t = result.targets;
  out.push(
    `${t.burstRecall.pass ? 'PASS' : 'FAIL'}  every burst ≥ ${TARGET_MULTIPLIER}× (above the minimum) detected within ${TARGET_INTERVALS} intervals: ` +
      `${t.burstRecall.judged - t.burstRecall.missed} of ${t.burstRecall.judged}`,
  );
  out.push(
    `${t.falsePositiveRate.pass ? 'PASS' : 'FAIL'}  false positives ≤ ${pct(t.falsePositiveRate.limit, 0)} of normal identity-intervals: ${pct(t.falsePositiveRate.rate, 3)}`,
  );
  for (const miss of result.missedBursts.slice(0, 10)) {
    out.push(
      `  missed: ${miss.identity} ${miss.multiplier}× from interval ${miss.start.toFixed(2)} for ${miss.duration}, ` +
        `expected ${miss.expectedRequests.toFixed(0)} requests/interval, ` +
        (miss.detectedBucket === null
          ? 'never flagged'
          : `flagged after ${num(timeToDetection(miss))} intervals`),
    );
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI.

const HELP = `Usage: node dist/bench/anomaly-eval.js [options]
  --seed <n>         PRNG seed: one seed, one dataset (default 1)
  --identities <n>   identities simulated: 40% keys, 15% clients, 15% users, 30% addresses (default 2000)
  --days <n>         days of 1440 one-minute intervals; the first is warm-up, not scored (default 3)
  --incidents <n>    incidents injected (default ${DEFAULT_INCIDENT_RATE} per identity per scored day)
  --json <file>      also write the results as JSON
  --markdown         print the tables as Markdown (for docs/anomaly.md)
Exit status 1 when a target is not met.
`;

function main(): number {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      identities: { type: 'string', default: '2000' },
      days: { type: 'string', default: '3' },
      incidents: { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const integer = (name: string, raw: string, min: number) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min)
      throw new Error(`--${name} must be an integer ≥ ${min} (got ${raw})`);
    return value;
  };
  const result = runEvaluation({
    seed: integer('seed', values.seed, 0),
    identities: integer('identities', values.identities, 10),
    days: integer('days', values.days, 2),
    incidents: values.incidents === undefined ? undefined : integer('incidents', values.incidents, 0),
  });
  process.stdout.write(`${formatReport(result, values.markdown)}\n`);
  process.stdout.write(`(${(result.elapsedMs / 1000).toFixed(1)} s, Node ${process.version})\n`);
  if (values.json !== undefined) {
    const json = { ...result, node: process.version, createdAt: new Date().toISOString() };
    writeFileSync(values.json, `${JSON.stringify(json, null, 2)}\n`);
  }
  return result.targets.burstRecall.pass && result.targets.falsePositiveRate.pass ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = main();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
