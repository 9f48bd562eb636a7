/**
 * The detector's arithmetic, pure and synchronous so the evaluation harness, the tests and the
 * running service share it: per identity and metric an exponentially weighted mean and
 * variance (EWMA, Finch's incremental form) of its own history, compared with what it did in
 * the interval just ended.
 *
 * Why EWMA and not a seasonal model: a daily cycle moves a rate by a few percent per interval,
 * which an EWMA with α = 0.05 follows within some intervals, while a burst of 3×–50×
 * lands in one. Bursts must not teach the baseline that they are normal, so an observation is
 * learned as at most `ratio` × the usual level. Identities with too little history
 * (fewer than `warmup` intervals) are compared with a global floor instead of their own short
 * past. Intervals an identity was silent are learned as zeros when it next appears.
 */
import {
  type BucketCounts,
  type Counts,
  type IdentityKind,
  parseIdentityId,
  SIGNALS_FOR,
  type Signal,
} from './signals.js';

/** Thresholds are counts per interval (not per minute): they do not scale with ANOMALY_INTERVAL. */
export interface DetectorParams {
  /** EWMA weight of the newest interval. */
  alpha: number;
  /** Intervals of history before an identity's own baseline is trusted. */
  warmup: number;
  /** Least z-score (standard deviations above the baseline, Poisson noise included) to report. */
  minScore: number;
  burst: { minRequests: number; ratio: number; newIdentityFloor: number };
  authFailures: { min: number; ratio: number; floor: number };
  errorRate: { minRequests: number; minErrors: number; increase: number };
  keySharing: { minIps: number; ratio: number; floor: number };
  rateLimited: { min: number; ratio: number; floor: number };
  /** Identities with a baseline kept at most; the longest silent is forgotten first. */
  maxIdentities: number;
}

export const DEFAULT_PARAMS: DetectorParams = {
  alpha: 0.05,
  warmup: 5,
  minScore: 5,
  burst: { minRequests: 60, ratio: 3, newIdentityFloor: 100 },
  authFailures: { min: 20, ratio: 5, floor: 4 },
  errorRate: { minRequests: 20, minErrors: 10, increase: 0.3 },
  keySharing: { minIps: 10, ratio: 3, floor: 3 },
  rateLimited: { min: 30, ratio: 5, floor: 5 },
  maxIdentities: 50_000,
};

// Metric slots in a track: counts first, then the error ratio.
const REQUESTS = 0;
const AUTH = 1;
const LIMITED = 2;
const IPS = 3;
const ERROR_RATIO = 4;
/** Requests per interval, learned only from intervals with traffic: what an identity that is not always on (an hourly job) does when it runs. */
const ACTIVE = 5;
const METRICS = 6;
/** Slots a silent interval teaches zeros: the counts, not the error ratio or the active level. */
const COUNTS = 4;
/** Intervals of observations kept per identity for the evidence chart. */
export const SERIES_LENGTH = 12;
/** Silent intervals learned as zeros at most (after 60, α = 0.05 keeps under 5% of the old mean). */
const MAX_GAP = 60;

/** One identity's history: what the detector remembers between intervals. */
export interface Track {
  /** Last interval (bucket number) learned. */
  last: number;
  /** Intervals learned. */
  n: number;
  mean: number[];
  variance: number[];
  /** Recent requests per interval, oldest first (for evidence). */
  series: number[];
}

export interface Finding {
  signal: Signal;
  kind: IdentityKind;
  value: string;
  /** The compact identity id (`k:…`). */
  identity: string;
  bucket: number;
  observed: number;
  expected: number;
  /** Standard deviations above the expectation (for error_rate: of the ratio). */
  score: number;
  explanation: string;
  evidence: {
    metric: string;
    observed: number;
    expected: number;
    stddev: number;
    threshold: number;
    history: 'own' | 'floor';
    requests: number;
    series: number[];
  };
}

/** Baselines of every identity seen, bounded; serialisable so a new leader can take them over. */
export class Baselines {
  readonly tracks = new Map<string, Track>();
  readonly #max: number;

  constructor(maxIdentities: number = DEFAULT_PARAMS.maxIdentities) {
    this.#max = maxIdentities;
  }

  get size(): number {
    return this.tracks.size;
  }

  /** The track as of the interval before `bucket` (silent intervals learned as zeros). */
  current(id: string, bucket: number, alpha: number): Track | undefined {
    const track = this.tracks.get(id);
    if (!track) return undefined;
    const gap = Math.min(bucket - track.last - 1, MAX_GAP);
    for (let i = 0; i < gap; i++) learn(track, ZERO, alpha, COUNTS);
    if (gap > 0) {
      track.last = bucket - 1;
      for (let i = 0; i < Math.min(gap, SERIES_LENGTH); i++) pushSeries(track, 0);
    }
    return track;
  }

  /** Learn `observed` (already clipped) for `bucket`. */
  learn(id: string, bucket: number, observed: readonly number[], requests: number, alpha: number): void {
    let track = this.tracks.get(id);
    if (track === undefined) {
      if (this.tracks.size >= this.#max) this.#forgetOldest();
      track = {
        last: bucket,
        n: 0,
        mean: new Array(METRICS).fill(0),
        variance: new Array(METRICS).fill(0),
        series: [],
      };
      // The first observation is the mean, not a step from zero.
      for (let m = 0; m < METRICS; m++) track.mean[m] = observed[m] as number;
      track.n = 1;
    } else {
      learn(track, observed, alpha);
      this.tracks.delete(id); // re-inserted last: Map order is recency order
    }
    track.last = bucket;
    pushSeries(track, requests);
    this.tracks.set(id, track);
  }

  #forgetOldest(): void {
    const oldest = this.tracks.keys().next();
    if (oldest.done !== true) this.tracks.delete(oldest.value);
  }

  /**
   * A deep copy (run-now judges on a copy so it learns nothing). Copying the tracks directly
   * costs a fraction of a JSON round trip, which held the event loop about half a second with
   * 50,000 identities.
   */
  clone(): Baselines {
    const copy = new Baselines(this.#max);
    for (const [id, t] of this.tracks)
      copy.tracks.set(id, {
        last: t.last,
        n: t.n,
        mean: t.mean.slice(),
        variance: t.variance.slice(),
        series: t.series.slice(),
      });
    return copy;
  }

  toJSON(): Array<[string, Track]> {
    return [...this.tracks];
  }

  static fromJSON(entries: unknown, maxIdentities?: number): Baselines {
    const baselines = new Baselines(maxIdentities);
    if (!Array.isArray(entries)) return baselines;
    for (const entry of entries) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') continue;
      const t = entry[1] as Partial<Track> | null;
      if (!t || !isNumbers(t.mean, METRICS) || !isNumbers(t.variance, METRICS) || !isNumbers(t.series))
        continue;
      if (!Number.isSafeInteger(t.last) || !Number.isSafeInteger(t.n)) continue;
      baselines.tracks.set(entry[0], {
        last: t.last as number,
        n: t.n as number,
        mean: t.mean,
        variance: t.variance,
        series: t.series.slice(-SERIES_LENGTH),
      });
    }
    return baselines;
  }
}

function isNumbers(value: unknown, length?: number): value is number[] {
  return (
    Array.isArray(value) &&
    (length === undefined || value.length === length) &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v))
  );
}

const ZERO: readonly number[] = new Array(METRICS).fill(0);

function learn(track: Track, observed: readonly number[], alpha: number, slots = METRICS): void {
  for (let m = 0; m < slots; m++) {
    const mean = track.mean[m] as number;
    const diff = (observed[m] as number) - mean;
    const increment = alpha * diff;
    track.mean[m] = mean + increment;
    track.variance[m] = (1 - alpha) * ((track.variance[m] as number) + diff * increment);
  }
  track.n++;
}

function pushSeries(track: Track, requests: number): void {
  track.series.push(requests);
  if (track.series.length > SERIES_LENGTH) track.series.shift();
}

interface CountCheck {
  observed: number;
  mean: number;
  variance: number;
  /** The expectation used: the own mean, or the floor for identities without enough history. */
  level: number;
  history: 'own' | 'floor';
  stddev: number;
  threshold: number;
  score: number;
  flagged: boolean;
}

function checkCount(
  observed: number,
  track: Track | undefined,
  metric: number,
  rule: { min: number; ratio: number; floor: number },
  params: DetectorParams,
  /** A second history to take when it is higher (requests: the level of active intervals). */
  alternative?: number,
): CountCheck {
  let slot = metric;
  if (
    track &&
    alternative !== undefined &&
    (track.mean[alternative] as number) > (track.mean[metric] as number)
  )
    slot = alternative;
  const mean = track ? (track.mean[slot] as number) : 0;
  const variance = track ? (track.variance[slot] as number) : 0;
  const trusted = track !== undefined && track.n >= params.warmup;
  const level = trusted ? mean : Math.max(mean, rule.floor);
  // Poisson noise (variance = mean) is the least a count varies by, whatever the history says.
  const stddev = Math.sqrt(Math.max(variance, 0) + level + 1);
  const threshold = Math.max(rule.min, rule.ratio * Math.max(level, 1), level + params.minScore * stddev);
  const score = (observed - level) / stddev;
  return {
    observed,
    mean,
    variance,
    level,
    history: trusted ? 'own' : 'floor',
    stddev,
    threshold,
    score,
    flagged: observed >= threshold,
  };
}

/** The most of an observation the baseline learns. */
function clipOf(check: CountCheck, ratio: number): number {
  return Math.min(check.threshold, ratio * Math.max(check.level, 1));
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const count = (n: number) => Math.round(n).toLocaleString('en-US');

function label(kind: IdentityKind, value: string): string {
  return kind === 'ip' ? `address ${value}` : `${kind} ${value}`;
}

function usual(check: CountCheck, unit: string): string {
  if (check.history === 'floor')
    return `more than ${round(check.threshold / Math.max(check.level, 1), 1)}× the floor of ${count(check.level)} ${unit} for identities without history`;
  return `${round(check.observed / Math.max(check.level, 1), 1)}× its usual ${count(check.level)} (±${count(check.stddev)})`;
}

/**
 * Compare one interval's counts with the baselines and report what stands out. With `learn`,
 * the interval is then learned (clipped, so an anomaly does not become the new normal); a
 * partial interval (run-now) is judged but not learned.
 */
export function evaluate(
  bucket: number,
  intervalMs: number,
  counts: BucketCounts,
  baselines: Baselines,
  params: DetectorParams = DEFAULT_PARAMS,
  /** `elapsedMs`: the interval is still running (run-now); explanations say how much of it was seen. */
  options: { learn: boolean; elapsedMs?: number } = { learn: true },
): Finding[] {
  const findings: Finding[] = [];
  const seconds =
    options.elapsedMs === undefined
      ? `${round(intervalMs / 1000, 1)} s`
      : `the first ${round(options.elapsedMs / 1000, 1)} s of a ${round(intervalMs / 1000, 1)} s interval`;
  for (const [id, c] of counts) {
    const parsed = parseIdentityId(id);
    if (!parsed) continue;
    const { kind, value } = parsed;
    const track = baselines.current(id, bucket, params.alpha);
    const series = track ? [...track.series, c.requests] : [c.requests];
    const who = label(kind, value);
    const found = (signal: Signal, check: CountCheck, metric: string, explanation: string) =>
      findings.push({
        signal,
        kind,
        value,
        identity: id,
        bucket,
        observed: check.observed,
        expected: round(check.level),
        score: round(check.score),
        explanation,
        evidence: {
          metric,
          observed: check.observed,
          expected: round(check.level),
          stddev: round(check.stddev),
          threshold: round(check.threshold),
          history: check.history,
          requests: c.requests,
          series,
        },
      });

    const signals = SIGNALS_FOR[kind];
    const burst = checkCount(
      c.requests,
      track,
      REQUESTS,
      { min: params.burst.minRequests, ratio: params.burst.ratio, floor: params.burst.newIdentityFloor },
      params,
      ACTIVE,
    );
    if (signals.includes('burst') && burst.flagged)
      found(
        'burst',
        burst,
        'requests',
        `${who} made ${count(c.requests)} requests in ${seconds}, ${usual(burst, 'requests')}`,
      );

    const auth = checkCount(c.authFailures, track, AUTH, params.authFailures, params);
    if (signals.includes('auth_failures') && auth.flagged)
      found(
        'auth_failures',
        auth,
        'auth_failures',
        `${who} failed authentication ${count(c.authFailures)} times in ${seconds}, ${usual(auth, 'failures')}: credential stuffing or a misconfigured client`,
      );

    const limited = checkCount(c.limited, track, LIMITED, params.rateLimited, params);
    if (signals.includes('rate_limited') && limited.flagged)
      found(
        'rate_limited',
        limited,
        'rate_limited',
        `${who} was refused by rate limits ${count(c.limited)} times in ${seconds}, ${usual(limited, 'refusals')}`,
      );

    const ips = checkCount(
      c.ips,
      track,
      IPS,
      { min: params.keySharing.minIps, ratio: params.keySharing.ratio, floor: params.keySharing.floor },
      params,
    );
    if (signals.includes('key_sharing') && ips.flagged)
      found(
        'key_sharing',
        ips,
        'distinct_ips',
        `${who} was used from ${count(c.ips)} addresses in ${seconds}, ${usual(ips, 'addresses')}: the key may be shared or stolen`,
      );

    // Error rate: a ratio, judged only with enough requests and errors to mean something.
    const ratio = c.requests > 0 ? c.errors / c.requests : 0;
    const usualRatio = track ? Math.min(Math.max(track.mean[ERROR_RATIO] as number, 0), 1) : 0;
    if (
      signals.includes('error_rate') &&
      c.requests >= params.errorRate.minRequests &&
      c.errors >= params.errorRate.minErrors &&
      ratio >= usualRatio + params.errorRate.increase &&
      ratio >= 2 * usualRatio
    ) {
      const stddev = Math.sqrt((usualRatio * (1 - usualRatio)) / c.requests + 0.0025);
      findings.push({
        signal: 'error_rate',
        kind,
        value,
        identity: id,
        bucket,
        observed: round(ratio, 4),
        expected: round(usualRatio, 4),
        score: round((ratio - usualRatio) / stddev),
        explanation: `${Math.round(ratio * 100)}% of ${who}'s ${count(c.requests)} requests in ${seconds} failed (usually ${Math.round(usualRatio * 100)}%)`,
        evidence: {
          metric: 'error_ratio',
          observed: round(ratio, 4),
          expected: round(usualRatio, 4),
          stddev: round(stddev, 4),
          threshold: round(Math.max(usualRatio + params.errorRate.increase, 2 * usualRatio), 4),
          history: track && track.n >= params.warmup ? 'own' : 'floor',
          requests: c.requests,
          series,
        },
      });
    }

    if (options.learn) {
      // Clipped: an anomaly is remembered as at most `ratio` × the usual level, so a sustained
      // change is learned step by step (about 10% more per interval) while a short burst barely
      // moves the baseline. Clipping at the full threshold instead let each burst inflate the
      // variance, hence the next threshold, and three bursts doubled the mean.
      const learned = [
        Math.min(c.requests, clipOf(burst, params.burst.ratio)),
        Math.min(c.authFailures, clipOf(auth, params.authFailures.ratio)),
        Math.min(c.limited, clipOf(limited, params.rateLimited.ratio)),
        Math.min(c.ips, clipOf(ips, params.keySharing.ratio)),
        // Too few requests say little about a ratio: keep the usual one.
        c.requests >= 5 ? Math.min(ratio, usualRatio + params.errorRate.increase) : usualRatio,
        // The active level moves only when there was traffic.
        c.requests > 0 ? Math.min(c.requests, clipOf(burst, params.burst.ratio)) : (track?.mean[ACTIVE] ?? 0),
      ];
      baselines.learn(id, bucket, learned, c.requests, params.alpha);
    }
  }
  return findings;
}

export type { Counts };
