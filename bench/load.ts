/**
 * Load generation. wrk is preferred when on PATH: it is C and spends far less CPU per request
 * than a Node load generator, which matters on a 2-core machine where the load tool, the proxy
 * under test and the upstream all compete for the same cores. autocannon (Node) is the fallback
 * so the harness works anywhere `npm install` does, but its own CPU use lowers every number.
 */
import { accessSync, constants, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { spawnTracked, waitForExit } from './child.js';

export type LoadTool = 'wrk' | 'autocannon';

export interface LoadSettings {
  tool: LoadTool;
  connections: number;
  /** wrk only: autocannon runs in this process. */
  threads: number;
  /** Request path appended to each target's URL. */
  path: string;
  /** Directory for the wrk Lua script. */
  workDir: string;
}

export interface LoadErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
  /** wrk: responses with status ≥ 400; autocannon: every non-2xx. */
  status: number;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** wrk: exact from its µs histogram; autocannon: whole milliseconds. */
  p999Ms: number;
  errors: LoadErrors;
  errorTotal: number;
}

export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** A human-readable tool version for the results ("wrk debian/4.1.0-3+b2", "autocannon 9.0.0"). */
export async function toolVersion(tool: LoadTool): Promise<string> {
  if (tool === 'autocannon') {
    const require = createRequire(import.meta.url);
    return `autocannon ${(require('autocannon/package.json') as { version: string }).version}`;
  }
  // `wrk --version` prints its banner and exits non-zero; the first line is all we want.
  const child = spawnTracked('wrk', ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await waitForExit(child, 5000, 'wrk --version');
  return /^wrk \S+/.exec(out)?.[0] ?? 'wrk (unknown version)';
}

// wrk reports through this Lua `done()` hook: one line we can parse, in microseconds
// (latency:percentile over wrk's µs histogram).
// errors.status counts responses with status > 399 (wrk's definition); 3xx are caught by the
// harness's pre-flight request instead, because a per-response Lua hook would slow wrk down.
const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "PORTCULLIS_BENCH requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f p999_us=%.1f connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.connect, e.read, e.write, e.status, e.timeout))
end
`;

const WRK_LINE =
  /PORTCULLIS_BENCH requests=(\d+) duration_us=(\d+) p50_us=([\d.]+) p99_us=([\d.]+) p999_us=([\d.]+) connect=(\d+) read=(\d+) write=(\d+) status=(\d+) timeout=(\d+)/;

function total(errors: LoadErrors): number {
  return errors.connect + errors.read + errors.write + errors.timeout + errors.status;
}

/** Request headers as wrk arguments. They may hold a credential: wrk's argv is never printed. */
function wrkHeaderArgs(headers: Record<string, string>): string[] {
  return Object.entries(headers).flatMap(([name, value]) => ['--header', `${name}: ${value}`]);
}

async function runWrk(
  url: string,
  durationS: number,
  settings: LoadSettings,
  headers: Record<string, string>,
): Promise<LoadResult> {
  const script = join(settings.workDir, 'report.lua');
  writeFileSync(script, WRK_SCRIPT);
  const args = [
    ...wrkHeaderArgs(headers),
    `--threads=${settings.threads}`,
    `--connections=${settings.connections}`,
    `--duration=${durationS}s`,
    // A request slower than this counts as a timeout error instead of silently stretching p99.
    '--timeout=5s',
    `--script=${script}`,
    url + settings.path,
  ];
  const child = spawnTracked('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // wrk stops itself after --duration; the margin only guards against a wedged process.
  const code = await waitForExit(child, (durationS + 15) * 1000, 'wrk');
  const match = WRK_LINE.exec(stdout);
  if (code !== 0 || !match) {
    throw new Error(`wrk failed (exit ${code}): ${(stderr || stdout).trim().slice(0, 1000)}`);
  }
  const [, requests, durationUs, p50Us, p99Us, p999Us, connect, read, write, status, timeout] = match.map(
    Number,
  ) as number[];
  const errors: LoadErrors = {
    connect: connect!,
    read: read!,
    write: write!,
    timeout: timeout!,
    status: status!,
  };
  const seconds = durationUs! / 1e6;
  return {
    requests: requests!,
    durationS: seconds,
    rps: requests! / seconds,
    p50Ms: p50Us! / 1000,
    p99Ms: p99Us! / 1000,
    p999Ms: p999Us! / 1000,
    errors,
    errorTotal: total(errors),
  };
}

// Only the fields we read; autocannon ships no type declarations.
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p99: number; p99_9: number };
  requests: { total: number };
}
type Autocannon = (
  options: Record<string, unknown>,
  callback: (error: Error | null, result: AutocannonResult) => void,
) => unknown;

function runAutocannon(
  url: string,
  durationS: number,
  settings: LoadSettings,
  headers: Record<string, string>,
): Promise<LoadResult> {
  // Loaded lazily: only needed when wrk is absent.
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  return new Promise((resolve, reject) => {
    // autocannon stops itself after `duration`; the guard only covers a wedged run.
    const guard = setTimeout(
      () => {
        instance.stop();
        reject(new Error('autocannon did not finish in time'));
      },
      (durationS + 15) * 1000,
    );
    const instance = autocannon(
      {
        url: url + settings.path,
        connections: settings.connections,
        duration: durationS,
        pipelining: 1,
        timeout: 5,
        headers,
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) {
          reject(error);
          return;
        }
        // autocannon's `errors` already includes timeouts.
        const errors: LoadErrors = {
          connect: 0,
          read: result.errors - result.timeouts,
          write: 0,
          timeout: result.timeouts,
          status: result.non2xx,
        };
        resolve({
          requests: result.requests.total,
          durationS: result.duration,
          rps: result.requests.total / result.duration,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          p999Ms: result.latency.p99_9,
          errors,
          errorTotal: total(errors),
        });
      },
    ) as { stop(): void };
  });
}

/**
 * Load `url + settings.path` for `durationS` seconds. `headers` go on every request (a target's
 * credential); error messages never include them.
 */
export function runLoad(
  url: string,
  durationS: number,
  settings: LoadSettings,
  headers: Record<string, string> = {},
): Promise<LoadResult> {
  return settings.tool === 'wrk'
    ? runWrk(url, durationS, settings, headers)
    : runAutocannon(url, durationS, settings, headers);
}
