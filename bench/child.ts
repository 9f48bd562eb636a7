/**
 * Child process bookkeeping for the harness. Every process the bench starts goes through
 * `spawnTracked`, so that on normal exit, on error and on Ctrl-C all of them are stopped by pid:
 * a benchmark that leaves a proxy running would skew the next run on a 2-core machine.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';

const tracked = new Set<ChildProcess>();

export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, options);
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  // A spawn failure (e.g. ENOENT) is reported through 'exit'/'error'; never crash the harness.
  child.once('error', () => tracked.delete(child));
  return child;
}

/** Pids of every tracked child still running (for the foreign-CPU accounting in machine.ts). */
export function trackedPids(): number[] {
  return [...tracked].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...tracked].map((child) => stopChild(child)));
}

/** Last resort from a synchronous 'exit' handler: no waiting possible, so SIGKILL. */
export function killAllChildrenSync(): void {
  for (const child of tracked) if (isRunning(child)) child.kill('SIGKILL');
}

/** Resolves with the exit code; rejects (after killing it) if it runs longer than `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number, label: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/**
 * Start one of the harness's own node services (bench/upstream.js, bench/bare-proxy.js). They
 * listen on port 0 and print `{"ready":true,"url":...}`, so there is no free-port race.
 */
export function startNodeService(
  label: string,
  script: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawnTracked(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      void stopChild(child);
      reject(new Error(`${label}: ${reason}${stderr ? `\n${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    const onError = (error: Error) => fail(error.message);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited before ready (code ${code}, signal ${signal})`);
    child.once('error', onError);
    child.once('exit', onExit);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let message: { ready?: boolean; url?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      if (message.ready && message.url) {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('error', onError);
        lines.close();
        // Keep draining stdout so a chatty child never blocks on a full pipe.
        child.stdout?.resume();
        resolve({ url: message.url, stop: () => stopChild(child) });
      }
    });
  });
}

/**
 * Free TCP ports on 127.0.0.1 for processes that must be told their port up front (Portcullis
 * reads its listen addresses from env). All are held open together so they are distinct.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port assigned');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export function tailOfFile(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
