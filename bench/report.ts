/**
 * Turning measurements into the three outputs: the console table with ratios, the JSON file and
 * the Markdown section for docs/benchmarks.md. Pure functions over plain data.
 */
import type { LoadErrors, LoadResult } from './load.js';

export interface Measurement {
  target: string;
  round: number;
  result: LoadResult;
}

export interface TargetSummary {
  name: string;
  description: string;
  /** Set when the target could not be started or failed its pre-flight request. */
  failure?: string;
  rounds: number;
  /** Medians over the rounds (each metric on its own). */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Summed over the rounds: any non-zero value invalidates the target's numbers. */
  errors: LoadErrors;
  errorTotal: number;
}

export interface Ratio {
  target: string;
  /** Throughput of this target divided by the baseline's: 0.5 means half the req/s. */
  vsBare?: number;
  vsDirect?: number;
  /** Median p50 of this target minus the bare proxy's, in ms. */
  addedP50OverBareMs?: number;
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
    connections: number;
    threads: number;
    rounds: number;
    path: string;
    poolConnections: number;
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
      ...(bare ? { vsBare: s.rps / bare.rps, addedP50OverBareMs: s.p50Ms - bare.p50Ms } : {}),
      ...(direct ? { vsDirect: s.rps / direct.rps } : {}),
    }));
}

export function describeErrors(errors: LoadErrors): string {
  const parts = (Object.keys(errors) as (keyof LoadErrors)[])
    .filter((key) => errors[key] > 0)
    .map((key) => `${key === 'status' ? 'bad status' : key} ${errors[key]}`);
  return parts.join(', ');
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fmtMs = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const fmtRatio = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)}×`);
const fmtDelta = (n: number | undefined) =>
  n === undefined ? '-' : `${n >= 0 ? '+' : ''}${n.toFixed(2)} ms`;

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

export function consoleReport(
  summaries: TargetSummary[],
  rs: Ratio[],
  info: RunInfo,
  warnings: string[],
): string {
  const out: string[] = [];
  const s = info.settings;
  out.push(
    `${info.tool}, ${s.connections} connections, ${s.threads} thread(s), ${s.warmupS} s warmup + ${s.durationS} s measured, ` +
      `${s.rounds} round(s) interleaved (median shown), GET ${s.path}`,
    '',
    table(
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
      summaries.map((t) => [t.name, fmtInt(t.rps), fmtMs(t.p50Ms), fmtMs(t.p99Ms), errorCell(t)]),
      [false, true, true, true, false],
    ),
  );
  if (rs.length > 0) {
    out.push(
      '',
      table(
        ['ratio', 'req/s vs bare', 'req/s vs direct', 'p50 over bare'],
        rs.map((r) => [r.target, fmtRatio(r.vsBare), fmtRatio(r.vsDirect), fmtDelta(r.addedP50OverBareMs)]),
        [false, true, true, true],
      ),
    );
  }
  const bare = summaries.find((t) => t.name === 'bare' && t.rounds > 0);
  const direct = summaries.find((t) => t.name === 'direct' && t.rounds > 0);
  if (bare && direct) {
    out.push(
      '',
      `proxy hop cost (bare vs direct): ${fmtRatio(bare.rps / direct.rps)} throughput, ` +
        `${fmtDelta(bare.p50Ms - direct.p50Ms)} p50`,
    );
  }
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
  summaries: TargetSummary[],
  rs: Ratio[],
  info: RunInfo,
  warnings: string[],
): string {
  const s = info.settings;
  const out = [
    `### ${info.date.slice(0, 10)}: ${summaries.map((t) => t.name).join(' vs ')}`,
    '',
    `- Date: ${info.date}`,
    `- Machine: ${info.cpu}, ${info.cores} cores, ${info.os}. All processes (load generator, upstream, ` +
      'proxy under test) share these cores; nothing is pinned.',
    `- Node: ${info.node}`,
    `- Load: ${info.tool}, ${s.connections} connections, ${s.threads} thread(s), keep-alive, GET ${s.path} ` +
      '(small fixed JSON body)',
    `- Timing: ${s.warmupS} s warmup + ${s.durationS} s measured per target, ${s.rounds} round(s) run interleaved ` +
      '(A B C A B C …); each figure is the median over rounds',
    `- Bare proxy upstream pool: ${s.poolConnections} connections, pipelining 1`,
    '',
    '| target | what it is | req/s | p50 ms | p99 ms | errors |',
    '|---|---|---:|---:|---:|---|',
    ...summaries.map(
      (t) =>
        `| ${t.name} | ${t.description} | ${fmtInt(t.rps)} | ${fmtMs(t.p50Ms)} | ${fmtMs(t.p99Ms)} | ${errorCell(t)} |`,
    ),
  ];
  if (rs.length > 0) {
    out.push(
      '',
      '| Portcullis target | req/s vs bare | req/s vs direct | p50 added over bare |',
      '|---|---:|---:|---:|',
      ...rs.map(
        (r) =>
          `| ${r.target} | ${fmtRatio(r.vsBare)} | ${fmtRatio(r.vsDirect)} | ${fmtDelta(r.addedP50OverBareMs)} |`,
      ),
    );
  }
  if (warnings.length > 0) out.push('', '> **Not valid:** ' + warnings.join('; '));
  out.push(
    '',
    `Reproduce: \`npm run bench -- --targets ${s.targets.join(',')} --duration ${s.durationS} --warmup ${s.warmupS} ` +
      `--connections ${s.connections} --threads ${s.threads} --rounds ${s.rounds} --path ${s.path} --markdown\``,
  );
  return out.join('\n');
}
