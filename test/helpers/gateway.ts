/**
 * Real gateway processes for integration tests: `bin/portcullis.js start` in a temporary
 * working directory, configured through environment variables, on loopback ports chosen by
 * the OS. Routes are applied with the real CLI (`portcullis apply`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'portcullis.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion. */
export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; input?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { ...baseEnv(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Environment for child processes: no inherited PORTCULLIS_* settings from the developer's shell. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('PORTCULLIS_')) env[k] = v;
  env['PORTCULLIS_LOG_FORMAT'] = 'json';
  env['PORTCULLIS_PROXY_LISTEN'] = '127.0.0.1:0';
  env['PORTCULLIS_ADMIN_LISTEN'] = '127.0.0.1:0';
  env['PORTCULLIS_DEMO'] = 'off';
  return env;
}

export function tempDir(prefix = 'pcl-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface GatewayProcess {
  readonly dir: string;
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly proxyPort: number;
  readonly child: ChildProcess;
  readonly env: Record<string, string>;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  cli(args: string[]): Promise<CliResult>;
  /** Apply a declarative document and wait until the running gateway serves it. */
  apply(document: unknown, flags?: string[]): Promise<CliResult>;
  /** Send a signal and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Routes (and other sections) applied before start. */
  document?: unknown;
  dir?: string;
  startTimeoutMs?: number;
  /** Extra arguments of `portcullis start` (e.g. `--workers 2`). */
  args?: string[];
  /** The log message that says it serves (default 'portcullis started'; with --workers, 'portcullis workers started'). */
  readyMessage?: string;
}

export async function startGateway(options: StartOptions = {}): Promise<GatewayProcess> {
  const dir = options.dir ?? tempDir();
  const env = { PORTCULLIS_CONFIG_POLL_MS: '200', ...options.env };
  if (options.document !== undefined) {
    writeFileSync(join(dir, 'initial.yaml'), stringify(options.document));
    const applied = await runCli(['apply', '-f', 'initial.yaml'], { cwd: dir, env });
    if (applied.code !== 0)
      throw new Error(`apply failed (${applied.code}): ${applied.stderr}${applied.stdout}`);
  }
  const child = spawn(process.execPath, [BIN, 'start', ...(options.args ?? [])], {
    cwd: dir,
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const readyMessage =
    options.readyMessage ??
    (options.args?.includes('--workers') ? 'portcullis workers started' : 'portcullis started');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = new Promise<{ proxy: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gateway did not start in time:\n${out}`)),
      options.startTimeoutMs ?? 15_000,
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes(`"${readyMessage}"`)) continue;
        try {
          const parsed = JSON.parse(line) as { proxy: string; admin: string };
          clearTimeout(timer);
          resolve(parsed);
        } catch {
          // partial line; wait for more
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before starting:\n${out}`));
    });
  });
  const { proxy, admin } = await started;
  const proxyPort = Number(proxy.split(':').pop());
  const adminPort = Number(admin.split(':').pop());
  const gateway: GatewayProcess = {
    dir,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    proxyPort,
    child,
    env,
    exited,
    output: () => out,
    cli: (args) => runCli(args, { cwd: dir, env }),
    async apply(document, flags = []) {
      writeFileSync(join(dir, 'apply.yaml'), stringify(document));
      const result = await runCli(['apply', '-f', 'apply.yaml', ...flags], { cwd: dir, env });
      // The running gateway picks the change up through its config-version poll.
      await new Promise((r) => setTimeout(r, Number(env.PORTCULLIS_CONFIG_POLL_MS) * 2 + 100));
      return result;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  return gateway;
}

export function routeDoc(routes: unknown[]): { routes: unknown[] } {
  return { routes };
}
