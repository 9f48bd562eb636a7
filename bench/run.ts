/**
 * `npm run bench`: direct upstream vs bare undici proxy vs Portcullis, measured in one run.
 *
 *   node dist/bench/run.js [--targets direct,bare,portcullis] [--duration 10] [--warmup 3]
 *     [--connections 50] [--threads 1] [--rounds 3] [--path /hello] [--tool auto|wrk|autocannon]
 *     [--pool-connections N] [--json results.json] [--markdown]
 *
 * Targets run interleaved round-robin (A B C A B C …) and the median per target is reported, so
 * slow drift (thermal, other load) affects every target alike. Everything listens on and talks
 * to 127.0.0.1 only. The run is bounded by a watchdog and stops every process it started.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { killAllChildrenSync, startNodeService, stopAllChildren } from './child.js';
import { findOnPath, type LoadSettings, type LoadTool, runLoad, toolVersion } from './load.js';
import {
  consoleReport,
  describeErrors,
  type Measurement,
  markdownReport,
  type RunInfo,
  ratios,
  summarize,
} from './report.js';
import { BASELINES, type BenchTarget, createTargets, type RunningTarget } from './targets.js';

const HELP = `Usage: node dist/bench/run.js [options]
  --targets <list>          comma-separated (default: all: direct,bare,portcullis)
  --duration <s>            measured seconds per target per round (default 10)
  --warmup <s>              unmeasured seconds before each measurement (default 3)
  --connections <n>         concurrent keep-alive connections (default 50)
  --threads <n>             wrk threads (default 1)
  --rounds <n>              interleaved rounds; the median is reported (default 3)
  --path <path>             request path (default /hello)
  --tool <auto|wrk|autocannon>  load generator (default auto: wrk if on PATH)
  --pool-connections <n>    bare proxy upstream pool size (default max(64, connections))
  --json <file>             also write machine-readable results
  --markdown                also print a section for docs/benchmarks.md
`;

function positiveInt(name: string, raw: string, min = 1): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`--${name} must be an integer ≥ ${min} (got ${raw})`);
  }
  return value;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      threads: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      path: { type: 'string', default: '/hello' },
      tool: { type: 'string', default: 'auto' },
      'pool-connections': { type: 'string' },
      json: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const connections = positiveInt('connections', values.connections);
  const threads = positiveInt('threads', values.threads);
  if (threads > connections) throw new Error('--threads cannot exceed --connections');
  if (!values.path.startsWith('/')) throw new Error('--path must start with /');
  let tool: LoadTool;
  if (values.tool === 'auto') tool = findOnPath('wrk') ? 'wrk' : 'autocannon';
  else if (values.tool === 'wrk' || values.tool === 'autocannon') tool = values.tool;
  else throw new Error(`--tool must be auto, wrk or autocannon (got ${values.tool})`);
  if (tool === 'wrk' && !findOnPath('wrk')) throw new Error('--tool wrk: wrk is not on PATH');
  return {
    targets: values.targets
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean),
    durationS: positiveInt('duration', values.duration),
    warmupS: positiveInt('warmup', values.warmup, 0),
    connections,
    threads,
    rounds: positiveInt('rounds', values.rounds),
    path: values.path,
    tool,
    poolConnections: values['pool-connections']
      ? positiveInt('pool-connections', values['pool-connections'])
      : Math.max(64, connections),
    json: values.json,
    markdown: values.markdown,
  };
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

function assertLoopback(url: string, target: string) {
  // The harness must never generate load against anything but this machine.
  if (new URL(url).hostname !== '127.0.0.1') throw new Error(`target ${target} is not on 127.0.0.1: ${url}`);
}

/** One plain request first: a target answering 3xx/4xx/5xx would otherwise be "benchmarked". */
async function preflight(url: string): Promise<void> {
  const res = await request(url, { headersTimeout: 5000, bodyTimeout: 5000 });
  const body = await res.body.text();
  if (res.statusCode < 200 || res.statusCode > 299) {
    throw new Error(`pre-flight GET ${url} answered ${res.statusCode}: ${body.slice(0, 200)}`);
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const options = parseOptions();

  const workDir = mkdtempSync(join(os.tmpdir(), 'portcullis-bench-'));
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= stopAllChildren().finally(() => rmSync(workDir, { recursive: true, force: true }));
    return cleaning;
  };
  let stopping = false;
  const abort = (reason: string, code: number) => {
    stopping = true;
    log(`\nbench: ${reason}; stopping every process it started`);
    void cleanup().finally(() => process.exit(code));
  };
  // Synchronous last resort (uncaught error, process.exit elsewhere): nothing may outlive us.
  process.on('exit', () => {
    killAllChildrenSync();
    rmSync(workDir, { recursive: true, force: true });
  });
  process.once('SIGINT', () => abort('interrupted (SIGINT)', 130));
  process.once('SIGTERM', () => abort('terminated (SIGTERM)', 143));

  // Names are static, so validate the selection before starting anything.
  const allNames = createTargets({ upstreamUrl: '', workDir, poolConnections: 0 }).map((t) => t.name);
  const selectedNames = options.targets ?? allNames;
  const unknown = selectedNames.filter((n) => !allNames.includes(n));
  if (unknown.length > 0)
    throw new Error(`unknown target(s) ${unknown.join(', ')}; available: ${allNames.join(', ')}`);

  // Bounded: startup allowance + every measurement with generous slack; then give up loudly.
  const perMeasurementS = options.warmupS + options.durationS + 20;
  const budgetS = 30 + selectedNames.length * 60 + options.rounds * selectedNames.length * perMeasurementS;
  const watchdog = setTimeout(() => abort(`exceeded its time budget of ${budgetS} s`, 1), budgetS * 1000);

  const info: RunInfo = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    os: `${os.type()} ${os.release()}`,
    tool: await toolVersion(options.tool),
    settings: {
      targets: selectedNames,
      durationS: options.durationS,
      warmupS: options.warmupS,
      connections: options.connections,
      threads: options.threads,
      rounds: options.rounds,
      path: options.path,
      poolConnections: options.poolConnections,
    },
  };
  if (options.tool === 'autocannon') {
    log(
      'bench: wrk not found; using autocannon, which shares the CPU with the targets (numbers will be lower)',
    );
  }

  const upstreamScript = fileURLToPath(new URL('./upstream.js', import.meta.url));
  const upstream = await startNodeService('bench upstream', upstreamScript, []);
  assertLoopback(upstream.url, 'upstream');
  log(`bench: upstream at ${upstream.url}`);

  const selected = createTargets({
    upstreamUrl: upstream.url,
    workDir,
    poolConnections: options.poolConnections,
  }).filter((t) => selectedNames.includes(t.name));
  const states: { target: BenchTarget; running?: RunningTarget; failure?: string }[] = [];
  for (const target of selected) {
    try {
      log(`bench: starting ${target.name}`);
      const running = await target.start();
      states.push({ target, running });
      assertLoopback(running.url, target.name);
      await preflight(running.url + options.path);
    } catch (error) {
      const failure = (error as Error).message;
      log(`bench: ${target.name} FAILED: ${failure}`);
      const state = states.find((s) => s.target === target) ?? { target };
      state.failure = failure.split('\n')[0];
      if (!states.includes(state)) states.push(state);
    }
  }

  const settings: LoadSettings = {
    tool: options.tool,
    connections: options.connections,
    threads: options.threads,
    path: options.path,
    workDir,
  };
  const measurements: Measurement[] = [];
  const warnings: string[] = [];
  for (const s of states) if (s.failure) warnings.push(`${s.target.name}: ${s.failure}`);

  for (let round = 1; round <= options.rounds; round++) {
    for (const state of states) {
      // Shutting down: abort() finishes the cleanup and exits; just stop issuing load.
      if (stopping) return new Promise<number>(() => {});
      if (state.failure || !state.running) continue;
      const name = state.target.name;
      try {
        if (options.warmupS > 0) await runLoad(state.running.url, options.warmupS, settings);
        const result = await runLoad(state.running.url, options.durationS, settings);
        measurements.push({ target: name, round, result });
        const flag = result.errorTotal > 0 ? `  !! ERRORS: ${describeErrors(result.errors)}` : '';
        log(
          `[round ${round}/${options.rounds}] ${name.padEnd(12)} ${Math.round(result.rps).toString().padStart(7)} req/s` +
            `  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms${flag}`,
        );
        if (result.errorTotal > 0) {
          warnings.push(
            `${name} round ${round}: ${result.errorTotal} errors (${describeErrors(result.errors)})`,
          );
        }
      } catch (error) {
        // A load run killed by our own shutdown is not a target failure.
        if (stopping) return new Promise<number>(() => {});
        state.failure = (error as Error).message.split('\n')[0];
        warnings.push(`${name} round ${round}: ${state.failure}`);
        log(`bench: ${name} FAILED during load: ${(error as Error).message}`);
      }
    }
  }

  for (const state of states) await state.running?.stop();
  await upstream.stop();
  await cleanup();
  clearTimeout(watchdog);

  const summaries = summarize(
    states.map((s) => ({
      name: s.target.name,
      description: s.target.description,
      ...(s.failure === undefined ? {} : { failure: s.failure }),
    })),
    measurements,
  );
  const rs = ratios(summaries, BASELINES);
  process.stdout.write(`\n${consoleReport(summaries, rs, info, warnings)}\n`);
  if (options.markdown) process.stdout.write(`\n${markdownReport(summaries, rs, info, warnings)}\n`);
  if (options.json) {
    writeFileSync(
      options.json,
      `${JSON.stringify({ ...info, results: summaries, ratios: rs, measurements, warnings }, null, 2)}\n`,
    );
    log(`bench: wrote ${options.json}`);
  }
  return warnings.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench: ${(error as Error).message ?? error}`);
    // The 'exit' handler kills any child still running.
    process.exit(1);
  },
);
