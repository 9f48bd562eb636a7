/**
 * What the soak concludes from what it saw: pure functions of the samples the load generator
 * kept, the rows PostgreSQL holds, the RSS readings and the timeline. Each check returns its
 * figures and a verdict; soak.ts prints them and writes them to the JSON report.
 */
import type { Sample } from './soak-load.js';
import type { TrafficKind } from './soak-traffic.js';

export interface RecordRow {
  requestId: string;
  status: number;
  count: number;
}

export interface KillEvent {
  instance: number;
  /** The generation that was killed. */
  generation: number;
  /** Epoch ms of the SIGKILL. */
  at: number;
  /** Epoch ms when the next generation was ready (traffic resumed to it). */
  backAt?: number;
}

export interface IncarnationRecords {
  instance: number;
  generation: number;
  /** Killed with SIGKILL (its in-memory queue may be lost) or stopped with SIGTERM at the end. */
  ending: 'sigkill' | 'graceful';
  answered: number;
  recorded: number;
  lost: number;
  /** Rows whose status is not the one the client received. */
  statusMismatch: number;
  /** Request ids recorded more than once. */
  duplicated: number;
  /** For a killed generation: how long before the kill its lost answers arrived (ms). */
  lostBeforeKillMs?: { earliest: number; latest: number };
}

export interface RecordsCheck {
  pass: boolean;
  incarnations: IncarnationRecords[];
  /** Requests that got no answer (connection refused/reset) but have a row anyway. */
  unansweredButRecorded: number;
  /** Rows with one of this run's request ids that no request of this run was sent with. */
  unknownRows: number;
  idEchoMismatches: number;
}

export function checkRecords(
  samples: readonly Sample[],
  rows: readonly RecordRow[],
  kills: readonly KillEvent[],
): RecordsCheck {
  const byId = new Map<string, { statuses: number[]; count: number }>();
  for (const row of rows) {
    const entry = byId.get(row.requestId) ?? { statuses: [], count: 0 };
    entry.statuses.push(row.status);
    entry.count += row.count;
    byId.set(row.requestId, entry);
  }
  const incarnations = new Map<string, IncarnationRecords>();
  const lostTimes = new Map<string, number[]>();
  let unansweredButRecorded = 0;
  let idEchoMismatches = 0;
  const sent = new Set<string>();
  for (const s of samples) {
    sent.add(s.requestId);
    if (s.idMismatch) idEchoMismatches++;
    const row = byId.get(s.requestId);
    if (s.status === 0) {
      if (row) unansweredButRecorded++;
      continue;
    }
    const key = `${s.instance}/${s.generation}`;
    const killed = kills.some((k) => k.instance === s.instance && k.generation === s.generation);
    const inc = incarnations.get(key) ?? {
      instance: s.instance,
      generation: s.generation,
      ending: killed ? 'sigkill' : 'graceful',
      answered: 0,
      recorded: 0,
      lost: 0,
      statusMismatch: 0,
      duplicated: 0,
    };
    incarnations.set(key, inc);
    inc.answered++;
    if (!row) {
      inc.lost++;
      const times = lostTimes.get(key) ?? [];
      times.push(s.doneAt);
      lostTimes.set(key, times);
      continue;
    }
    inc.recorded++;
    if (row.count > 1) inc.duplicated++;
    if (!row.statuses.includes(s.status)) inc.statusMismatch++;
  }
  for (const [key, times] of lostTimes) {
    const inc = incarnations.get(key)!;
    const kill = kills.find((k) => k.instance === inc.instance && k.generation === inc.generation);
    if (kill)
      inc.lostBeforeKillMs = {
        earliest: kill.at - Math.min(...times),
        latest: kill.at - Math.max(...times),
      };
  }
  let unknownRows = 0;
  for (const id of byId.keys()) if (!sent.has(id)) unknownRows++;
  const list = [...incarnations.values()].sort(
    (a, b) => a.instance - b.instance || a.generation - b.generation,
  );
  const pass =
    list.every(
      (i) => (i.ending === 'sigkill' || i.lost === 0) && i.statusMismatch === 0 && i.duplicated === 0,
    ) &&
    unknownRows === 0 &&
    idEchoMismatches === 0;
  return { pass, incarnations: list, unansweredButRecorded, unknownRows, idEchoMismatches };
}

export interface LimitWindow {
  keyIndex: number;
  /** Epoch ms where the window starts. */
  start: number;
  allowed: number;
  denied: number;
  /** Requests of this key in this window's time that got no answer or an unexpected one. */
  unanswered: number;
  /** X-RateLimit-Remaining values of allowed answers that came twice (double admission). */
  repeatedRemaining: number;
  /** Answers decided in a degraded mode (X-Portcullis-Degraded: Redis did not answer in time). */
  degraded: number;
}

export interface LimitsCheck {
  pass: boolean;
  limit: number;
  windowMs: number;
  windows: number;
  /** Windows where the key was refused at least once: exactly `limit` must have been allowed. */
  saturated: number;
  /** Saturated windows that also had unanswered requests (the kill): reported, not judged. */
  excluded: LimitWindow[];
  exact: number;
  maxDeviationPct: number;
  allowedInJudged: number;
  expectedInJudged: number;
  /** Windows that allowed more than the limit, judged or not. */
  overLimit: LimitWindow[];
  /** Windows with answers decided in a degraded mode (the limit is local, hence looser, then). */
  degradedWindows: number;
  /** The judged windows without any degraded answer: what the shared (Redis) limit did by itself. */
  clean: { judged: number; exact: number; maxDeviationPct: number };
  offWindows: LimitWindow[];
  degradedAnswers: number;
}

/**
 * Fixed windows are aligned to the epoch in Redis server time. An answer is placed in its window
 * from its own headers (reset seconds after the answer arrived: the window's end, ceiled to a
 * second), not from when it was sent, so a request sent just before a boundary and counted just
 * after it lands where Redis counted it.
 */
export function checkLimits(
  samples: readonly Sample[],
  limitedKind: number,
  limit: number,
  windowMs: number,
  tolerance = 0.01,
): LimitsCheck {
  const windows = new Map<string, LimitWindow>();
  const windowOf = (keyIndex: number, start: number) => {
    const key = `${keyIndex}/${start}`;
    let w = windows.get(key);
    if (!w) {
      w = { keyIndex, start, allowed: 0, denied: 0, unanswered: 0, repeatedRemaining: 0, degraded: 0 };
      windows.set(key, w);
    }
    return w;
  };
  const seen = new Map<string, Set<number>>();
  let degradedAnswers = 0;
  for (const s of samples) {
    if (s.kind !== limitedKind || s.keyIndex === undefined) continue;
    if (s.degraded) degradedAnswers++;
    if ((s.status === 200 || s.status === 429) && s.resetS !== undefined) {
      const end = Math.round((s.doneAt + s.resetS * 1000) / windowMs) * windowMs;
      const w = windowOf(s.keyIndex, end - windowMs);
      if (s.degraded) w.degraded++;
      if (s.status === 200) {
        w.allowed++;
        const key = `${s.keyIndex}/${w.start}`;
        const set = seen.get(key) ?? new Set<number>();
        if (s.remaining !== undefined) {
          if (set.has(s.remaining)) w.repeatedRemaining++;
          set.add(s.remaining);
        }
        seen.set(key, set);
      } else w.denied++;
    } else {
      windowOf(s.keyIndex, Math.floor(s.sentAt / windowMs) * windowMs).unanswered++;
    }
  }
  const all = [...windows.values()].sort((a, b) => a.start - b.start || a.keyIndex - b.keyIndex);
  const saturated = all.filter((w) => w.denied > 0);
  const excluded = saturated.filter((w) => w.unanswered > 0);
  const judged = saturated.filter((w) => w.unanswered === 0);
  const deviation = (w: LimitWindow) => Math.abs(w.allowed - limit) / limit;
  const offWindows = judged.filter((w) => deviation(w) > 0);
  const overLimit = all.filter((w) => w.allowed > limit);
  const maxDeviationPct = judged.reduce((m, w) => Math.max(m, deviation(w) * 100), 0);
  const pass =
    judged.length > 0 &&
    judged.every((w) => deviation(w) <= tolerance) &&
    all.every((w) => w.allowed <= limit * (1 + tolerance));
  return {
    pass,
    limit,
    windowMs,
    windows: all.length,
    saturated: saturated.length,
    excluded,
    exact: judged.length - offWindows.length,
    maxDeviationPct,
    allowedInJudged: judged.reduce((n, w) => n + w.allowed, 0),
    expectedInJudged: judged.length * limit,
    overLimit,
    offWindows,
    degradedWindows: all.filter((w) => w.degraded > 0).length,
    clean: {
      judged: judged.filter((w) => w.degraded === 0).length,
      exact: judged.filter((w) => w.degraded === 0 && w.allowed === limit).length,
      maxDeviationPct: judged
        .filter((w) => w.degraded === 0)
        .reduce((m, w) => Math.max(m, deviation(w) * 100), 0),
    },
    degradedAnswers,
  };
}

export interface RssReading {
  /** ms since the load started. */
  t: number;
  instance: number;
  generation: number;
  /** VmRSS, and its anonymous and file-backed parts (RssAnon, RssFile), KiB. */
  kb: number;
  anonKb: number;
  fileKb: number;
}

export interface RssSeries {
  instance: number;
  generation: number;
  survivor: boolean;
  samples: number;
  /** Mean over the first `averageMs` after warm-up, and over the last `averageMs` of load. */
  afterWarmupKb: number;
  finalKb: number;
  minKb: number;
  maxKb: number;
  growthPct: number;
  /** The same growth for RssAnon alone (heap and stacks, without file-backed pages). */
  anonGrowthPct: number;
  /** Mean VmRSS per minute of load (KiB), to see the shape and not just two windows. */
  perMinuteKb: number[];
}

export interface RssCheck {
  pass: boolean;
  warmupMs: number;
  averageMs: number;
  maxGrowthPct: number;
  series: RssSeries[];
}

export function checkRss(
  readings: readonly RssReading[],
  survivors: ReadonlyArray<{ instance: number; generation: number }>,
  warmupMs: number,
  loadMs: number,
  averageMs: number,
  maxGrowthPct = 10,
): RssCheck {
  const groups = new Map<string, RssReading[]>();
  for (const r of readings) {
    const key = `${r.instance}/${r.generation}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  const series: RssSeries[] = [];
  for (const list of groups.values()) {
    const { instance, generation } = list[0]!;
    const survivor = survivors.some((s) => s.instance === instance && s.generation === generation);
    // A restarted generation warms up from its own start.
    const from = survivor ? warmupMs : list[0]!.t + warmupMs;
    const early = list.filter((r) => r.t >= from && r.t < from + averageMs);
    const late = list.filter((r) => r.t > loadMs - averageMs && r.t <= loadMs);
    const afterWarmupKb = mean(early.map((r) => r.kb));
    const finalKb = mean(late.map((r) => r.kb));
    const anonGrowthPct = (mean(late.map((r) => r.anonKb)) / mean(early.map((r) => r.anonKb)) - 1) * 100;
    const minutes = new Map<number, number[]>();
    for (const r of list) {
      const minute = Math.floor(r.t / 60_000);
      minutes.set(minute, [...(minutes.get(minute) ?? []), r.kb]);
    }
    const perMinuteKb = [...minutes.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, kbs]) => Math.round(mean(kbs)));
    series.push({
      instance,
      generation,
      survivor,
      samples: list.length,
      afterWarmupKb,
      finalKb,
      minKb: Math.min(...list.map((r) => r.kb)),
      maxKb: Math.max(...list.map((r) => r.kb)),
      growthPct: (finalKb / afterWarmupKb - 1) * 100,
      anonGrowthPct,
      perMinuteKb,
    });
  }
  series.sort((a, b) => a.instance - b.instance || a.generation - b.generation);
  const judged = series.filter((s) => s.survivor);
  const maxGrowthPctSeen = judged.reduce((m, s) => Math.max(m, s.growthPct), Number.NEGATIVE_INFINITY);
  const pass =
    judged.length > 0 && judged.every((s) => Number.isFinite(s.growthPct) && s.growthPct < maxGrowthPct);
  return { pass, warmupMs, averageMs, maxGrowthPct: maxGrowthPctSeen, series };
}

export interface KindSummary {
  kind: string;
  sent: number;
  answered: number;
  /** Answers per status (and code for refusals), e.g. "200", "429 rate_limited". */
  outcomes: Record<string, number>;
  /** Answers outside the kind's expected list. */
  unexpected: number;
  /** No answer, per error code. */
  noAnswer: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

export interface TrafficCheck {
  pass: boolean;
  sent: number;
  answered: number;
  /** Answered requests per second over the load duration. */
  answeredPerS: number;
  /** Requests that got no answer: to the killed instance around its kill, and anywhere else. */
  noAnswerAtKill: number;
  noAnswerElsewhere: number;
  kinds: KindSummary[];
  unexpectedExamples: string[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Per kind: what was sent and answered. An answer outside the kind's expected list fails the
 * soak; so does a request without an answer, unless it went to the killed instance between
 * just before its kill and its return.
 */
export function checkTraffic(
  samples: readonly Sample[],
  kinds: readonly TrafficKind[],
  kills: readonly KillEvent[],
  loadMs: number,
): TrafficCheck {
  const summaries = kinds.map<KindSummary & { latencies: number[] }>((k) => ({
    kind: k.name,
    sent: 0,
    answered: 0,
    outcomes: {},
    unexpected: 0,
    noAnswer: {},
    p50Ms: 0,
    p99Ms: 0,
    latencies: [],
  }));
  const examples: string[] = [];
  let noAnswerAtKill = 0;
  let noAnswerElsewhere = 0;
  for (const s of samples) {
    const sum = summaries[s.kind]!;
    const kind = kinds[s.kind]!;
    sum.sent++;
    if (s.status === 0) {
      const error = s.error ?? 'unknown';
      sum.noAnswer[error] = (sum.noAnswer[error] ?? 0) + 1;
      // In flight at the kill (sent before it, failed after it), or sent before the balancer
      // took the dead instance out.
      const atKill = kills.some(
        (k) => k.instance === s.instance && k.generation === s.generation && s.doneAt >= k.at - 50,
      );
      if (atKill) noAnswerAtKill++;
      else {
        noAnswerElsewhere++;
        if (examples.length < 20)
          examples.push(`${kind.name} → instance ${s.instance}: no answer (${error})`);
      }
      continue;
    }
    sum.answered++;
    sum.latencies.push(s.doneAt - s.sentAt);
    const outcome = s.code ? `${s.status} ${s.code}` : String(s.status);
    sum.outcomes[outcome] = (sum.outcomes[outcome] ?? 0) + 1;
    if (kind.expected.length === 0) continue;
    const ok = kind.expected.some(
      (e) => e.status === s.status && (e.code === undefined || e.code === s.code),
    );
    if (!ok) {
      sum.unexpected++;
      if (examples.length < 20)
        examples.push(`${kind.name} → instance ${s.instance}: ${outcome} (request ${s.requestId})`);
    }
  }
  const kindsOut: KindSummary[] = summaries.map(({ latencies, ...rest }) => {
    latencies.sort((a, b) => a - b);
    return { ...rest, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
  });
  const answered = kindsOut.reduce((n, k) => n + k.answered, 0);
  return {
    pass: noAnswerElsewhere === 0 && kindsOut.every((k) => k.unexpected === 0),
    sent: samples.length,
    answered,
    answeredPerS: answered / (loadMs / 1000),
    noAnswerAtKill,
    noAnswerElsewhere,
    kinds: kindsOut,
    unexpectedExamples: examples,
  };
}

export interface RevocationCheck {
  pass: boolean;
  /** Epoch ms: the `keys revoke` command started and returned, and its audit entry (the commit). */
  commandStartedAt: number;
  commandDoneAt: number;
  committedAt: number;
  budgetMs: number;
  /**
   * Per gateway, from request_logs (`at` − `total_ms`: when the request reached the gateway):
   * the last request allowed after the commit and the first `key_revoked`, in ms after it.
   */
  gateways: Record<string, { lastAllowedAfterMs: number | null; firstRefusalAfterMs: number | null }>;
  /** Allowed answers more than `budgetMs` after the commit (must be none). */
  allowedLate: number;
  /** `key_revoked` answers to requests that arrived before the commit (must be none). */
  refusedBefore: number;
  /** Answers that are neither 200 nor 401 key_revoked. */
  other: number;
}

export interface KeyRow {
  requestId: string;
  status: number;
  code: string | null;
  /** When the answer completed, epoch ms. */
  at: number;
  totalMs: number;
}

/**
 * The key revoked mid-run: allowed until the revocation commits, refused (`key_revoked`) on every
 * gateway within a second of it (PRODUCT §13: changes reach all instances within a second).
 * Judged on when each request reached its gateway (the record's completion time minus its total
 * time), not on when the load generator sent it (it may wait in the generator's connection queue)
 * nor on when it completed (a request admitted just before the change may finish after it).
 */
export function checkRevocation(
  samples: readonly Sample[],
  rows: readonly KeyRow[],
  times: { startedAt: number; doneAt: number; committedAt: number },
  budgetMs = 1000,
): RevocationCheck {
  const instanceOf = new Map<string, number>();
  for (const s of samples) instanceOf.set(s.requestId, s.instance);
  const gateways: RevocationCheck['gateways'] = {};
  let allowedLate = 0;
  let refusedBefore = 0;
  let other = 0;
  for (const row of rows) {
    const instance = instanceOf.get(row.requestId);
    if (instance === undefined) continue;
    gateways[String(instance)] ??= { lastAllowedAfterMs: null, firstRefusalAfterMs: null };
    const g = gateways[String(instance)]!;
    const after = row.at - row.totalMs - times.committedAt;
    if (row.status === 200) {
      if (after > 0) g.lastAllowedAfterMs = Math.max(g.lastAllowedAfterMs ?? 0, after);
      if (after > budgetMs) allowedLate++;
    } else if (row.status === 401 && row.code === 'key_revoked') {
      if (after < 0) refusedBefore++;
      else if (g.firstRefusalAfterMs === null || after < g.firstRefusalAfterMs) g.firstRefusalAfterMs = after;
    } else other++;
  }
  return {
    pass: allowedLate === 0 && refusedBefore === 0 && other === 0,
    commandStartedAt: times.startedAt,
    commandDoneAt: times.doneAt,
    committedAt: times.committedAt,
    budgetMs,
    gateways,
    allowedLate,
    refusedBefore,
    other,
  };
}
