/**
 * Real nginx processes for the forward-auth suites. `startNginx` renders the SHIPPED example
 * (examples/nginx/portcullis-auth.conf) with its addresses substituted, so a green suite means
 * the file users copy really works. Each nginx runs in the foreground in its own temporary
 * prefix (pid file, logs, temp paths) on a free loopback port, and is stopped by its own pid.
 *
 * On a developer's machine a missing nginx skips its suite with a message; with CI=true it
 * fails the run (a green CI must mean the suite really ran).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from './gateway.js';
import { inCI, type ServiceGate } from './services.js';

export const EXAMPLE_CONFIG = join(ROOT, 'examples', 'nginx', 'portcullis-auth.conf');

const HOW_TO = 'apt-get install nginx to enable (or set PORTCULLIS_TEST_NGINX to its path)';

/** The nginx binary: PORTCULLIS_TEST_NGINX, else `nginx` on PATH or in the usual sbin folders. */
export function findNginx(): string | undefined {
  const configured = process.env['PORTCULLIS_TEST_NGINX'];
  if (configured) return existsSync(configured) ? configured : undefined;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nginx');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** `nginx -V` output (nginx prints it on stderr). */
function buildInfo(binary: string): { ok: boolean; text: string } {
  const result = spawnSync(binary, ['-V'], { encoding: 'utf8', timeout: 10_000 });
  return { ok: result.status === 0, text: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/**
 * Decide whether a suite needing nginx can run: pass `skip` to `describe`. Await at module top
 * level before `describe` so the decision precedes test registration.
 */
export async function nginxGate(): Promise<ServiceGate> {
  const binary = findNginx();
  let problem: string | undefined;
  if (binary === undefined) {
    problem = `nginx not found; ${HOW_TO}`;
  } else {
    const info = buildInfo(binary);
    if (!info.ok) problem = `nginx at ${binary} does not run (${info.text.trim()}); ${HOW_TO}`;
    else if (!info.text.includes('--with-http_auth_request_module'))
      problem = `nginx at ${binary} is built without ngx_http_auth_request_module; ${HOW_TO}`;
  }
  if (problem === undefined) return { skip: false };
  const message = problem;
  if (inCI) {
    // Register a failing test so the run goes red and says why.
    test('nginx is required in CI', () => {
      throw new Error(message);
    });
    return { skip: message };
  }
  process.stderr.write(`[skip] ${message}\n`);
  return { skip: message };
}

/** `host:port` of an http:// URL, for an nginx `server` line. */
function hostPort(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:') throw new Error(`only http:// URLs are supported: ${url}`);
  if (parsed.pathname !== '/' || parsed.search) throw new Error(`URL must have no path: ${url}`);
  return `${parsed.hostname}:${parsed.port || '80'}`;
}

/** Replace exactly one occurrence, so a drifting example breaks the suite instead of passing silently. */
function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  const global = new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`);
  const count = [...text.matchAll(global)].length;
  if (count !== 1)
    throw new Error(`examples/nginx/portcullis-auth.conf: expected exactly one ${what}, found ${count}`);
  return text.replace(pattern, replacement);
}

/**
 * The example with the test's addresses in place of its three "EDIT" lines. Nothing else in
 * the file changes.
 */
export function renderExample(options: { portcullisUrl: string; upstreamUrl: string; port: number }): string {
  let text = readFileSync(EXAMPLE_CONFIG, 'utf8');
  text = replaceOnce(
    text,
    /^(\s*)server 127\.0\.0\.1:8080;/m,
    `$1server ${hostPort(options.portcullisUrl)};`,
    'Portcullis `server 127.0.0.1:8080;` line',
  );
  text = replaceOnce(
    text,
    /^(\s*)server 127\.0\.0\.1:3000;/m,
    `$1server ${hostPort(options.upstreamUrl)};`,
    'API `server 127.0.0.1:3000;` line',
  );
  text = replaceOnce(text, /^(\s*)listen 80;/m, `$1listen 127.0.0.1:${options.port};`, '`listen 80;` line');
  return text;
}

/**
 * The test wrapper around the example: everything an nginx needs to run unprivileged-style in a
 * temporary prefix. `user root;` only when the tests run as root (workers would otherwise run as
 * `nobody` and could not write the temp paths inside a 0700 temp dir); the example has no `user`.
 */
function wrapperConfig(dir: string, extra: string): string {
  const runningAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const p = (name: string) => JSON.stringify(join(dir, name));
  return [
    runningAsRoot ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} info;`,
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${p('access.log')};`,
    `  client_body_temp_path ${p('temp/client_body')};`,
    `  proxy_temp_path ${p('temp/proxy')};`,
    `  fastcgi_temp_path ${p('temp/fastcgi')};`,
    `  uwsgi_temp_path ${p('temp/uwsgi')};`,
    `  scgi_temp_path ${p('temp/scgi')};`,
    '  default_type application/octet-stream;',
    `  include ${p('portcullis-auth.conf')};`,
    extra,
    '}',
    '',
  ].join('\n');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface NginxProcess {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The rendered example, as nginx loaded it. */
  readonly config: string;
  /** Stop gracefully (SIGQUIT), then harder if it does not exit in time. Idempotent. */
  stop(): Promise<void>;
  /** nginx's own output, error log and access log so far. */
  logs(): string;
}

export interface StartNginxOptions {
  /** Portcullis proxy listener, e.g. gw.proxyUrl. */
  portcullisUrl: string;
  /** The API nginx forwards allowed requests to. */
  upstreamUrl: string;
  /** Extra directives for the `http { }` block (after the example). */
  extra?: string;
  startTimeoutMs?: number;
}

/** Check a configuration with `nginx -t` (same wrapper and rendering as `startNginx`). */
export function checkExampleSyntax(options: { portcullisUrl: string; upstreamUrl: string }): {
  ok: boolean;
  output: string;
} {
  const binary = findNginx();
  if (binary === undefined) throw new Error(`nginx not found; ${HOW_TO}`);
  const dir = prepare({ ...options, port: 1 }, '');
  try {
    const result = spawnSync(
      binary,
      ['-t', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')],
      { encoding: 'utf8', timeout: 10_000 },
    );
    return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function prepare(
  options: { portcullisUrl: string; upstreamUrl: string; port: number },
  extra: string,
): string {
  const dir = tempDir('pcl-nginx-');
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, 'temp', sub), { recursive: true });
  writeFileSync(join(dir, 'portcullis-auth.conf'), renderExample(options));
  writeFileSync(join(dir, 'nginx.conf'), wrapperConfig(dir, extra));
  return dir;
}

/** Start nginx with the example config in front of `upstreamUrl`, asking `portcullisUrl`. */
export async function startNginx(options: StartNginxOptions): Promise<NginxProcess> {
  const binary = findNginx();
  if (binary === undefined) throw new Error(`nginx not found; ${HOW_TO}`);
  // The port is free when chosen but another process could take it before nginx binds:
  // retry a few times on "Address already in use".
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      return await launch(binary, port, options);
    } catch (error) {
      lastError = error;
      if (!String(error).includes('Address already in use')) throw error;
    }
  }
  throw lastError;
}

async function launch(binary: string, port: number, options: StartNginxOptions): Promise<NginxProcess> {
  const dir = prepare({ ...options, port }, options.extra ?? '');
  const config = readFileSync(join(dir, 'portcullis-auth.conf'), 'utf8');
  const child: ChildProcess = spawn(
    binary,
    ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', (error) => {
    out += `spawn error: ${String(error)}\n`;
  });
  const readFile = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  // Once stopped, the logs are kept in memory and the temporary prefix is removed.
  let finalLogs: string | undefined;
  const logs = () =>
    finalLogs ??
    `--- nginx output ---\n${out}--- error.log ---\n${readFile('error.log')}--- access.log ---\n${readFile('access.log')}`;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGQUIT: graceful shutdown of master and workers; escalate if it hangs.
      child.kill('SIGQUIT');
      const timeout = (ms: number) =>
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
      if ((await Promise.race([exited.then(() => 'exited' as const), timeout(5_000)])) === 'timeout') {
        child.kill('SIGTERM');
        if ((await Promise.race([exited.then(() => 'exited' as const), timeout(3_000)])) === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
      }
    })().finally(() => {
      finalLogs = logs();
      rmSync(dir, { recursive: true, force: true });
    });
    return stopping;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  let exitedEarly = false;
  void exited.then(() => {
    exitedEarly = true;
  });
  for (;;) {
    if (exitedEarly) {
      await stop();
      throw new Error(`nginx exited before listening (port ${port}):\n${logs()}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not listen on 127.0.0.1:${port} in time:\n${logs()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, port, dir, config, stop, logs };
}
