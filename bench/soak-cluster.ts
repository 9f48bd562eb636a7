/**
 * The soak's cluster: a throwaway PostgreSQL database, the Portcullis CLI pointed at it, and
 * `portcullis start` processes sharing that database, Redis and one secret key. What the soak
 * does to an instance (SIGKILL, restart on the same ports, graceful stop) and what it reads
 * from one (RSS from /proc, counters from /metrics) live here. Every process goes through
 * child.ts's tracking, so nothing outlives the run.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'pg';
import { request } from 'undici';
import { spawnTracked, stopChild, tailOfFile } from './child.js';
import { capture } from './targets.js';

// dist/bench/ → project root, where bin/portcullis.js lives.
const BIN = fileURLToPath(new URL('../../bin/portcullis.js', import.meta.url));

export interface SoakDatabase {
  name: string;
  /** postgres://… of the throwaway database (no password: the soak uses trust auth). */
  url: string;
  drop(): Promise<void>;
}

/**
 * A database of its own, named at random, so a soak never touches a developer's or a test's
 * data and two soaks cannot collide. `drop()` forces out connections a killed gateway left.
 */
export async function createSoakDatabase(serverUrl: string): Promise<SoakDatabase> {
  const name = `portcullis_soak_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** The environment without any PORTCULLIS_* of the user's: the soak's settings are all there is. */
export function isolatedEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('PORTCULLIS_')) env[key] = value;
  return { ...env, ...extra };
}

/**
 * `node bin/portcullis.js <args>` to completion; its stdout. On failure the error carries the
 * command's stderr only: stdout may hold a secret (`keys create` prints the key).
 */
export function portcullisCli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return capture(
    process.execPath,
    [BIN, ...args],
    { env, cwd },
    `portcullis ${args.slice(0, 2).join(' ')}`,
    60_000,
  );
}

export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One gateway: fixed proxy and admin ports for its whole life, so a restart comes back where
 * the load generator (and a real load balancer) expects it. Each start is a new generation.
 */
export class GatewayInstance {
  readonly name: string;
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #dir: string;
  readonly #logFile: string;
  #child: ChildProcess | undefined;
  #logFd: number | undefined;
  #generation = 0;
  #exits: InstanceExit[] = [];
  #exitListeners: Array<(exit: InstanceExit) => void> = [];

  constructor(options: {
    name: string;
    proxyPort: number;
    adminPort: number;
    env: NodeJS.ProcessEnv;
    dir: string;
  }) {
    this.name = options.name;
    this.proxyUrl = `http://127.0.0.1:${options.proxyPort}`;
    this.adminUrl = `http://127.0.0.1:${options.adminPort}`;
    this.#dir = options.dir;
    mkdirSync(this.#dir, { recursive: true });
    this.#logFile = join(this.#dir, 'portcullis.log');
    this.#env = {
      ...options.env,
      PORTCULLIS_PROXY_LISTEN: `127.0.0.1:${options.proxyPort}`,
      PORTCULLIS_ADMIN_LISTEN: `127.0.0.1:${options.adminPort}`,
      PORTCULLIS_DATA_DIR: this.#dir,
    };
  }

  get generation(): number {
    return this.#generation;
  }

  get pid(): number | undefined {
    return this.#running() ? this.#child?.pid : undefined;
  }

  get logFile(): string {
    return this.#logFile;
  }

  /** Exits seen so far, in order (a SIGKILL shows as signal SIGKILL). */
  get exits(): readonly InstanceExit[] {
    return this.#exits;
  }

  onExit(listener: (exit: InstanceExit) => void): void {
    this.#exitListeners.push(listener);
  }

  #running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Start (or restart) and wait for `/readyz`; resolves with the new generation number. */
  async start(timeoutMs = 30_000): Promise<number> {
    if (this.#running()) throw new Error(`${this.name} is already running`);
    // Appending: the log of a killed generation stays above its successor's.
    this.#logFd ??= openSync(this.#logFile, 'a');
    const child = spawnTracked(process.execPath, [BIN, 'start'], {
      env: this.#env,
      cwd: this.#dir,
      stdio: ['ignore', this.#logFd, this.#logFd],
    });
    this.#child = child;
    let early: string | undefined;
    child.once('exit', (code, signal) => {
      early = `exited (code ${code}, signal ${signal})`;
      const exit = { code, signal };
      this.#exits.push(exit);
      for (const listener of this.#exitListeners) listener(exit);
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (early) throw new Error(`${this.name} ${early} before ready\n${tailOfFile(this.#logFile)}`);
      try {
        const res = await request(`${this.adminUrl}/readyz`, { headersTimeout: 1000, bodyTimeout: 1000 });
        await res.body.dump();
        if (res.statusCode === 200) break;
      } catch {}
      if (Date.now() > deadline) {
        await stopChild(child);
        throw new Error(`${this.name} not ready within ${timeoutMs} ms\n${tailOfFile(this.#logFile)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.#generation += 1;
    return this.#generation;
  }

  /** SIGKILL: no drain, no flush — what a crash or an OOM kill looks like. Resolves on exit. */
  kill(): Promise<void> {
    const child = this.#child;
    if (!child || !this.#running()) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /**
   * SIGTERM and wait: the gateway drains, then writes every queued record. The grace is long
   * (the gateway's own shutdown_timeout_ms is 10 s, plus the final flush); a SIGKILL after it
   * shows in `exits` and fails the soak's zero-loss check for this instance.
   */
  async stop(graceMs = 60_000): Promise<InstanceExit | undefined> {
    const child = this.#child;
    if (!child) return undefined;
    if (this.#running()) await stopChild(child, graceMs);
    return this.#exits.at(-1);
  }

  close(): void {
    if (this.#logFd !== undefined) closeSync(this.#logFd);
    this.#logFd = undefined;
  }
}

/**
 * Resident memory of a live process in KiB (Linux): VmRSS, and its anonymous part (heap, stacks:
 * where a leak shows) and file-backed part (mapped code: the kernel may reclaim and refault it,
 * so it moves without the process doing anything). Undefined when it has gone.
 */
export function residentKb(pid: number): { rss: number; anon: number; file: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status)?.[1]);
    const rss = field('VmRSS');
    return Number.isFinite(rss) ? { rss, anon: field('RssAnon'), file: field('RssFile') } : undefined;
  } catch {
    return undefined;
  }
}

/** Prometheus text → the unlabelled samples asked for (`name` → value). */
export async function scrapeMetrics(
  adminUrl: string,
  names: readonly string[],
): Promise<Record<string, number> | undefined> {
  try {
    const res = await request(`${adminUrl}/metrics`, { headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    if (res.statusCode !== 200) return undefined;
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const space = line.indexOf(' ');
      if (space <= 0 || line.startsWith('#')) continue;
      const name = line.slice(0, space);
      if (names.includes(name)) out[name] = Number(line.slice(space + 1));
    }
    return out;
  } catch {
    return undefined;
  }
}
