/**
 * Turning measurements into the three outputs: the console report, the JSON file and the
 * Markdown section for docs/benchmarks.md. Pure functions over plain data.
 *
 * A run has up to two phases over the same targets: `throughput` (many connections, CPU
 * saturated: req/s is the figure, p50 is mostly queueing) and `latency` (few connections, the
 * machine mostly idle: p50/p99 show what one request costs). Ratios are taken within a phase.
 */
import type { LoadErrors, LoadResult } from './load.js';
import type { ForeignCpu } from './machine.js';

export type PhaseName = 'throughput' | 'latency';

export interface PhaseSettings {
  name: PhaseName;
  connections: number;
  threads: number;
}

export interface Measurement {
  phase: PhaseName;
  target: string;
  round: number;
  /** 1-based position of this target within its round (the order changes every round). */
  position: number;
  result: LoadResult;
  /** CPU used by processes the bench did not start, during the measured seconds (Linux only). */
  machine?: ForeignCpu;
}

/** Above this share of one core used by other processes, a measurement is flagged as disturbed. */
export const FOREIGN_CPU_LIMIT_PCT = 10;

export interface TargetSummary {
  name: string;
  description: string;
  /** Set when the target could not be started, failed its pre-flight request or failed under load. */
  failure?: string;
  rounds: number;
  /** Medians over the rounds (each metric on its own). */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Summed over the rounds: any non-zero value invalidates the target's numbers. */
  errors: LoadErrors;
  errorTotal: number;
}

export interface Ratio {
  target: string;
  /** Throughput of this target divided by the baseline's: 0.5 means half the req/s. */
  vsBare?: number;
  vsDirect?: number;
  /** Median latency of this target minus the bare proxy's median, in ms (same phase). */
  addedP50OverBareMs?: number;
  addedP99OverBareMs?: number;
  addedP999OverBareMs?: number;
}

export interface PhaseResult {
  settings: PhaseSettings;
  results: TargetSummary[];
  ratios: Ratio[];
  measurements: Measurement[];
}

/** An acceptance criterion, judged on one Portcullis target. */
export interface Criterion {
  target: string;
  /** Minimum throughput-phase req/s ratio over bare. */
  minVsBare: number;
  /** Maximum latency-phase p50 added over bare, in ms; unset when the criterion has no latency half. */
  maxAddedP50Ms?: number;
}

export interface CriterionResult extends Criterion {
  vsBare?: number;
  addedP50Ms?: number;
  /** undefined when a phase or target needed for the verdict is missing. */
  pass?: boolean;
}

export interface RunInfo {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  os: string;
  tool: string;
  settings: {
    targets: string[];
    durationS: number;
    warmupS: number;
    rounds: number;
    path: string;
    poolConnections: number;
    phases: PhaseSettings[];
  };
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(
  targets: { name: string; description: string; failure?: string }[],
  measurements: Measurement[],
): TargetSummary[] {
  return targets.map((target) => {
    const mine = measurements.filter((m) => m.target === target.name).map((m) => m.result);
    const errors: LoadErrors = { connect: 0, read: 0, write: 0, timeout: 0, status: 0 };
    for (const r of mine)
      for (const key of Object.keys(errors) as (keyof LoadErrors)[]) errors[key] += r.errors[key];
    return {
      name: target.name,
      description: target.description,
      ...(target.failure === undefined ? {} : { failure: target.failure }),
      rounds: mine.length,
      rps: median(mine.map((r) => r.rps)),
      p50Ms: median(mine.map((r) => r.p50Ms)),
      p99Ms: median(mine.map((r) => r.p99Ms)),
      p999Ms: median(mine.map((r) => r.p999Ms)),
      errors,
      errorTotal: mine.reduce((sum, r) => sum + r.errorTotal, 0),
    };
  });
}

export function ratios(summaries: TargetSummary[], baselines: readonly string[]): Ratio[] {
  const usable = (s: TargetSummary | undefined) => (s && s.rounds > 0 && !s.failure ? s : undefined);
  const bare = usable(summaries.find((s) => s.name === 'bare'));
  const direct = usable(summaries.find((s) => s.name === 'direct'));
  return summaries
    .filter((s) => !baselines.includes(s.name) && usable(s))
    .map((s) => ({
      target: s.name,
      ...(bare
        ? {
            vsBare: s.rps / bare.rps,
            addedP50OverBareMs: s.p50Ms - bare.p50Ms,
            addedP99OverBareMs: s.p99Ms - bare.p99Ms,
            addedP999OverBareMs: s.p999Ms - bare.p999Ms,
          }
        : {}),
      ...(direct ? { vsDirect: s.rps / direct.rps } : {}),
    }));
}

export function judge(criterion: Criterion, phases: PhaseResult[]): CriterionResult {
  const of = (name: PhaseName) =>
    phases.find((p) => p.settings.name === name)?.ratios.find((r) => r.target === criterion.target);
  const vsBare = of('throughput')?.vsBare;
  const needsLatency = criterion.maxAddedP50Ms !== undefined;
  const addedP50Ms = needsLatency ? of('latency')?.addedP50OverBareMs : undefined;
  const judgeable = vsBare !== undefined && (!needsLatency || addedP50Ms !== undefined);
  return {
    ...criterion,
    ...(vsBare === undefined ? {} : { vsBare }),
    ...(addedP50Ms === undefined ? {} : { addedP50Ms }),
    ...(judgeable
      ? {
          pass:
            vsBare >= criterion.minVsBare &&
            (criterion.maxAddedP50Ms === undefined || (addedP50Ms as number) <= criterion.maxAddedP50Ms),
        }
      : {}),
  };
}

export function describeErrors(errors: LoadErrors): string {
  const parts = (Object.keys(errors) as (keyof LoadErrors)[])
    .filter((key) => errors[key] > 0)
    .map((key) => `${key === 'status' ? 'bad status' : key} ${errors[key]}`);
  return parts.join(', ');
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fmtMs = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const fmtRatio = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)}×`);
const fmtDelta = (n: number | undefined, digits: number) =>
  n === undefined || !Number.isFinite(n) ? '-' : `${n >= 0 ? '+' : ''}${n.toFixed(digits)} ms`;
// Latency-phase figures are a few hundred µs and wrk measures in µs: show µs; 0.01 ms elsewhere.
const digitsFor = (phase: PhaseName) => (phase === 'latency' ? 3 : 2);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function errorCell(s: TargetSummary): string {
  if (s.failure) return 'FAILED';
  return s.errorTotal === 0 ? '0' : `!! ${s.errorTotal} (${describeErrors(s.errors)})`;
}

function table(headers: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (alignRight[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable(headers: string[], rows: string[][], alignRight: boolean[]): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `|${alignRight.map((r) => (r ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

/** One line per phase describing what it is, shared by the console and Markdown output. */
function phaseTitle(p: PhaseSettings): string {
  const load = `${plural(p.connections, 'connection')}, ${plural(p.threads, 'thread')}`;
  return p.name === 'throughput'
    ? `Phase 1, throughput: ${load}. CPU-saturated, so req/s is the figure; p50 here is mostly queueing`
    : `Phase 2, latency: ${load}. Not saturated, so p50/p99 show what one request costs`;
}

interface Tables {
  targets: { headers: string[]; rows: string[][]; right: boolean[] };
  ratios?: { headers: string[]; rows: string[][]; right: boolean[] };
  hop?: string;
}

function phaseTables(phase: PhaseResult): Tables {
  const name = phase.settings.name;
  const d = digitsFor(name);
  const s = phase.results;
  const latency = name === 'latency';
  const out: Tables = {
    targets: {
      headers: ['target', 'req/s', 'p50 ms', 'p99 ms', ...(latency ? ['p99.9 ms'] : []), 'errors'],
      rows: s.map((t) => [
        t.name,
        fmtInt(t.rps),
        fmtMs(t.p50Ms, d),
        fmtMs(t.p99Ms, d),
        ...(latency ? [fmtMs(t.p999Ms, d)] : []),
        errorCell(t),
      ]),
      right: [false, true, true, true, ...(latency ? [true] : []), false],
    },
  };
  if (phase.ratios.length > 0) {
    out.ratios = latency
      ? {
          headers: ['Portcullis target', 'p50 added over bare', 'p99 added over bare'],
          rows: phase.ratios.map((r) => [
            r.target,
            fmtDelta(r.addedP50OverBareMs, d),
            fmtDelta(r.addedP99OverBareMs, d),
          ]),
          right: [false, true, true],
        }
      : {
          headers: ['Portcullis target', 'req/s vs bare', 'req/s vs direct'],
          rows: phase.ratios.map((r) => [r.target, fmtRatio(r.vsBare), fmtRatio(r.vsDirect)]),
          right: [false, true, true],
        };
  }
  const bare = s.find((t) => t.name === 'bare' && t.rounds > 0 && !t.failure);
  const direct = s.find((t) => t.name === 'direct' && t.rounds > 0 && !t.failure);
  if (bare && direct) {
    out.hop = latency
      ? `proxy hop cost (bare over direct): ${fmtDelta(bare.p50Ms - direct.p50Ms, d)} p50, ` +
        `${fmtDelta(bare.p99Ms - direct.p99Ms, d)} p99`
      : `proxy hop cost (bare vs direct): ${fmtRatio(bare.rps / direct.rps)} throughput`;
  }
  return out;
}

/** Measurements taken while other processes were busy on this machine, for the report. */
export function disturbances(phases: PhaseResult[]): string[] {
  const out: string[] = [];
  for (const phase of phases) {
    for (const m of phase.measurements) {
      const cpu = m.machine;
      if (cpu && (cpu.foreignPct > FOREIGN_CPU_LIMIT_PCT || cpu.stealPct > FOREIGN_CPU_LIMIT_PCT)) {
        out.push(
          `${m.target} ${phase.settings.name} round ${m.round}: other processes ${Math.round(cpu.foreignPct)}%, ` +
            `hypervisor steal ${Math.round(cpu.stealPct)}% of a core`,
        );
      }
    }
  }
  return out;
}

function machineLine(phases: PhaseResult[]): string | undefined {
  const readings = phases.flatMap((p) => p.measurements.flatMap((m) => (m.machine ? [m.machine] : [])));
  if (readings.length === 0) return undefined;
  const max = (f: (c: ForeignCpu) => number) => Math.round(Math.max(...readings.map(f)));
  const med = (f: (c: ForeignCpu) => number) => Math.round(median(readings.map(f)));
  return (
    `machine noise during measurements (% of one core): other processes median ${med((c) => c.foreignPct)}%, ` +
    `max ${max((c) => c.foreignPct)}%; hypervisor steal median ${med((c) => c.stealPct)}%, max ${max((c) => c.stealPct)}%`
  );
}

function noiseBlock(phases: PhaseResult[]): string[] {
  const flagged = disturbances(phases);
  if (flagged.length === 0) return [];
  return [
    `!! ${flagged.length} measurement(s) ran while other work used > ${FOREIGN_CPU_LIMIT_PCT}% of a core; ` +
      'their targets are penalised unevenly. Rerun on a quiet machine before trusting small differences:',
    ...flagged.map((f) => `!!   ${f}`),
  ];
}

/** The verdict is shown whenever its target was part of the run (even if it could not be judged). */
/** Two targets of one run compared by throughput (`--workers 2` against one process). */
export interface Comparison {
  target: string;
  baseline: string;
  /** Minimum throughput-phase req/s of `target` over `baseline`. */
  minRatio: number;
}

export interface ComparisonResult extends Comparison {
  ratio?: number;
  /** undefined when either target has no throughput figure. */
  pass?: boolean;
}

export function compare(comparison: Comparison, phases: PhaseResult[]): ComparisonResult {
  const throughput = phases.find((p) => p.settings.name === 'throughput');
  const of = (name: string) =>
    throughput?.results.find((r) => r.name === name && r.rounds > 0 && r.failure === undefined);
  const target = of(comparison.target);
  const baseline = of(comparison.baseline);
  if (!target || !baseline) return { ...comparison };
  const ratio = target.rps / baseline.rps;
  return { ...comparison, ratio, pass: ratio >= comparison.minRatio };
}

export function comparisonLine(c: ComparisonResult, valid: boolean): string {
  const verdict =
    c.pass === undefined ? 'not judged (both targets need a throughput figure)' : c.pass ? 'MET' : 'NOT MET';
  const ratio = c.ratio === undefined ? '-' : `${c.ratio.toFixed(3)}×`;
  return (
    `comparison (${c.target} vs ${c.baseline}): ${verdict}${valid ? '' : ' (BUT THE RESULTS ARE NOT VALID)'}. ` +
    `req/s ratio ${ratio} (needs ≥ ${c.minRatio.toFixed(2)}×, throughput phase, same run)`
  );
}

function judged(c: Criterion, phases: PhaseResult[]): boolean {
  return phases.some((p) => p.results.some((r) => r.name === c.target));
}

function criterionLine(c: CriterionResult, valid: boolean): string {
  const needsLatency = c.maxAddedP50Ms !== undefined;
  const verdict =
    c.pass === undefined
      ? `not judged (needs ${needsLatency ? 'both phases' : 'the throughput phase'}, and bare and the target measured without failure)`
      : c.pass
        ? 'MET'
        : 'NOT MET';
  const part = (value: string, ok: boolean | undefined) =>
    `${value}${ok === undefined ? '' : ok ? ' ok' : ' FAIL'}`;
  const throughput =
    `req/s vs bare ${part(c.vsBare === undefined ? '-' : `${c.vsBare.toFixed(3)}×`, c.vsBare === undefined ? undefined : c.vsBare >= c.minVsBare)} ` +
    `(needs ≥ ${c.minVsBare.toFixed(2)}×, throughput phase)`;
  const latency =
    c.maxAddedP50Ms === undefined
      ? ''
      : `; p50 added over bare ${part(
          fmtDelta(c.addedP50Ms, 3),
          c.addedP50Ms === undefined ? undefined : c.addedP50Ms <= c.maxAddedP50Ms,
        )} (needs ≤ ${c.maxAddedP50Ms.toFixed(2)} ms, latency phase)`;
  return `acceptance criterion (${c.target}): ${verdict}${valid ? '' : ' (BUT THE RESULTS ARE NOT VALID)'}. ${throughput}${latency}`;
}

function timingLine(info: RunInfo): string {
  const s = info.settings;
  return (
    `${s.warmupS} s warmup + ${s.durationS} s measured per target, ${plural(s.rounds, 'round')} per phase; ` +
    'the target order changes every round (A B C, B C A, B A C, C B A, …); each figure is the median over rounds'
  );
}

export function consoleReport(
  phases: PhaseResult[],
  criteria: CriterionResult[],
  info: RunInfo,
  warnings: string[],
): string {
  const out: string[] = [];
  out.push(`${info.tool}, keep-alive, GET ${info.settings.path}; ${timingLine(info)}`);
  for (const phase of phases) {
    const t = phaseTables(phase);
    out.push(
      '',
      `== ${phaseTitle(phase.settings)} ==`,
      '',
      table(t.targets.headers, t.targets.rows, t.targets.right),
    );
    if (t.ratios) out.push('', table(t.ratios.headers, t.ratios.rows, t.ratios.right));
    if (t.hop) out.push('', t.hop);
  }
  const shown = criteria.filter((c) => judged(c, phases));
  if (shown.length > 0) out.push('', ...shown.map((c) => criterionLine(c, warnings.length === 0)));
  const noise = machineLine(phases);
  if (noise) out.push('', noise);
  const flagged = noiseBlock(phases);
  if (flagged.length > 0) out.push(...flagged);
  if (warnings.length > 0) {
    const bar = '!'.repeat(78);
    out.push(
      '',
      bar,
      '!! RESULTS NOT VALID: errors or failures during the run',
      ...warnings.map((w) => `!! ${w}`),
      bar,
    );
  }
  return out.join('\n');
}

export function markdownReport(
  phases: PhaseResult[],
  criteria: CriterionResult[],
  info: RunInfo,
  warnings: string[],
): string {
  const s = info.settings;
  const out = [
    `### ${info.date.slice(0, 10)}: ${s.targets.join(' vs ')}`,
    '',
    `- Date: ${info.date}`,
    `- Machine: ${info.cpu}, ${info.cores} cores, ${info.os}. All processes (load generator, upstream, ` +
      'proxy under test) share these cores; nothing is pinned.',
    `- Node: ${info.node}`,
    `- Load: ${info.tool}, keep-alive, GET ${s.path} (small fixed JSON body)`,
    `- Phases: ${s.phases.map((p) => `${p.name} at ${plural(p.connections, 'connection')} and ${plural(p.threads, 'thread')}`).join('; ')}`,
    `- Timing: ${timingLine(info)}`,
    `- Bare proxy upstream pool: ${s.poolConnections} connections, pipelining 1`,
  ];
  for (const phase of phases) {
    const t = phaseTables(phase);
    out.push(
      '',
      `#### ${phaseTitle(phase.settings)}`,
      '',
      ...markdownTable(
        [...t.targets.headers.slice(0, 1), 'what it is', ...t.targets.headers.slice(1)],
        t.targets.rows.map((r, i) => [r[0]!, phase.results[i]!.description, ...r.slice(1)]),
        [false, false, ...t.targets.right.slice(1)],
      ),
    );
    if (t.ratios) out.push('', ...markdownTable(t.ratios.headers, t.ratios.rows, t.ratios.right));
    if (t.hop) out.push('', `${t.hop.charAt(0).toUpperCase()}${t.hop.slice(1)}.`);
  }
  const shown = criteria.filter((c) => judged(c, phases));
  if (shown.length > 0) {
    out.push(
      '',
      ...shown.map(
        (c) => `- ${criterionLine(c, warnings.length === 0).replace(/^acceptance/, 'Acceptance')}.`,
      ),
    );
  }
  const noise = machineLine(phases);
  if (noise) out.push('', `${noise.replace(/^machine/, 'Machine')}.`);
  const flagged = disturbances(phases);
  if (flagged.length > 0) {
    out.push(
      '',
      `> **Disturbed:** ${flagged.length} measurement(s) ran while other work used > ${FOREIGN_CPU_LIMIT_PCT}% ` +
        `of a core: ${flagged.join('; ')}.`,
    );
  }
  if (warnings.length > 0) out.push('', '> **Not valid:** ' + warnings.join('; '));
  const latency = s.phases.find((p) => p.name === 'latency');
  const throughput = s.phases.find((p) => p.name === 'throughput');
  out.push(
    '',
    `Reproduce: \`npm run bench -- --targets ${s.targets.join(',')} --duration ${s.durationS} --warmup ${s.warmupS} ` +
      `--rounds ${s.rounds} --path ${s.path}` +
      (throughput ? ` --connections ${throughput.connections} --threads ${throughput.threads}` : '') +
      (latency ? ` --latency-connections ${latency.connections}` : ' --no-latency') +
      ' --markdown`',
  );
  return out.join('\n');
}
