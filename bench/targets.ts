/**
 * What the harness measures, as data. Each target starts its own process(es) and hands back a
 * URL on 127.0.0.1 (and, for routes that require a credential, the request headers that carry
 * it); run.ts measures them interleaved. Adding a Portcullis configuration (limit + logging,
 * Redis-backed, …) is one more `portcullisTarget({...})` entry below.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePorts, spawnTracked, startNodeService, stopChild, tailOfFile, waitForExit } from './child.js';

export interface RunningTarget {
  url: string;
  /**
   * Headers every request to this target must carry (a credential: `Authorization: Bearer …`).
   * Secret: handed to the load generator and the pre-flight request only, never printed or
   * written to the results. A target with headers must refuse a request without them (401),
   * which the harness checks before measuring.
   */
  headers?: Record<string, string>;
  stop(): Promise<void>;
}

export interface BenchTarget {
  name: string;
  description: string;
  start(): Promise<RunningTarget>;
}

export interface TargetContext {
  /** The shared bench upstream every target forwards to (or, for `direct`, is). */
  upstreamUrl: string;
  /** Scratch directory owned by this run, removed at the end. */
  workDir: string;
  /** Upstream pool size for the bare proxy. */
  poolConnections: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
// dist/bench/ → project root, where bin/portcullis.js lives.
const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const JWT_ISSUER = 'https://bench.test';

interface PortcullisConfig {
  name: string;
  description: string;
  /** The declarative file applied before start; gets the upstream URL. */
  config(upstreamUrl: string): string;
  /** Extra env (e.g. a Redis URL) on top of the harness's isolated defaults. */
  env?: Record<string, string>;
  /** Extra arguments of `portcullis start` (e.g. `--workers 2`). */
  startArgs?: string[];
  /** After /readyz answers: wait until the target is wholly up (every worker serving). */
  ready?(adminUrl: string): Promise<void>;
  /**
   * After `apply`, before `start`: create what the route needs (clients, grants, keys, JWT
   * providers) with the real CLI, and return the headers every request must carry.
   */
  setup?(tools: SetupTools): Promise<Record<string, string>>;
}

interface SetupTools {
  /** The target's own directory (SQLite file, data dir, key files); the cwd of every command. */
  dir: string;
  /** `node bin/portcullis.js <args>` with the same env and cwd as `portcullis start`; its stdout. */
  portcullis(args: string[]): Promise<string>;
  /** Any other command (openssl) in `dir`; its stdout. */
  run(command: string, args: string[]): Promise<string>;
}

/**
 * Run a setup command to completion and return its stdout. On failure the error carries the
 * command's stderr only: stdout may hold a secret (`keys create` prints the key).
 */
export async function capture(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string },
  label: string,
  timeoutMs = 30_000,
): Promise<string> {
  const child = spawnTracked(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const code = await waitForExit(child, timeoutMs, label);
  if (code !== 0) throw new Error(`${label} exited ${code}\n${stderr.trim()}`);
  return stdout;
}

/** A command line without quoting (no argument here contains a space) as an argv. */
const args = (line: string) => line.split(' ').filter((word) => word !== '');

/** A credential goes into wrk's argv and an HTTP header: it must be one plain token. */
function bearer(credential: string, what: string): Record<string, string> {
  if (!/^[\w.~+/=-]+$/.test(credential)) throw new Error(`${what}: not a usable bearer credential`);
  return { authorization: `Bearer ${credential}` };
}

/** The environment without any PORTCULLIS_* the user may have set: every run is reproducible. */
function isolatedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('PORTCULLIS_')) env[key] = value;
  return env;
}

async function waitForReady(url: string, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = exited();
    if (exit) throw new Error(exit);
    try {
      const res = await request(url, { headersTimeout: 1000, bodyTimeout: 1000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} not 200 within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function portcullisTarget(spec: PortcullisConfig, ctx: TargetContext): BenchTarget {
  return {
    name: spec.name,
    description: spec.description,
    async start() {
      const dir = join(ctx.workDir, spec.name);
      mkdirSync(dir, { recursive: true });
      const [proxyPort, adminPort] = (await freePorts(2)) as [number, number];
      const env: NodeJS.ProcessEnv = {
        ...isolatedEnv(),
        PORTCULLIS_PROXY_LISTEN: `127.0.0.1:${proxyPort}`,
        PORTCULLIS_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        PORTCULLIS_DATABASE_URL: `sqlite:${join(dir, 'bench.db')}`,
        PORTCULLIS_DATA_DIR: dir,
        PORTCULLIS_LOG_LEVEL: 'warn',
        // Without it the first start prints a generated admin password, and the harness shows
        // whatever start printed. This one is never shown and dies with the temporary directory.
        PORTCULLIS_ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
        ...spec.env,
      };
      const bin = join(projectRoot, 'bin', 'portcullis.js');
      const configFile = join(dir, 'bench.yaml');
      writeFileSync(configFile, spec.config(ctx.upstreamUrl));
      // Every command runs in the target's own directory: Portcullis reads `.env` and
      // `portcullis.yaml` from its cwd, and a developer's copies in the project root must not
      // change what is measured.
      const options = { env, cwd: dir };
      const portcullis = (args: string[]) =>
        capture(process.execPath, [bin, ...args], options, `portcullis ${args.slice(0, 2).join(' ')}`);

      // The setup commands' output is captured (it may hold a key); the log file gets only what
      // `portcullis start` says: at warn level it should stay empty, and anything it does say is
      // shown when the target stops or fails.
      await portcullis(['apply', '-f', configFile]);
      const headers = spec.setup
        ? await spec.setup({
            dir,
            portcullis,
            run: (command, args) => capture(command, args, options, command),
          })
        : undefined;

      const logFile = join(dir, 'portcullis.log');
      const logFd = openSync(logFile, 'a');
      const stdio: ['ignore', number, number] = ['ignore', logFd, logFd];
      try {
        const child = spawnTracked(process.execPath, [bin, 'start', ...(spec.startArgs ?? [])], {
          ...options,
          stdio,
        });
        let exitInfo: string | undefined;
        child.once('exit', (code, signal) => {
          exitInfo = `portcullis start exited early (code ${code}, signal ${signal})\n${tailOfFile(logFile)}`;
        });
        try {
          await waitForReady(`http://127.0.0.1:${adminPort}/readyz`, 20_000, () => exitInfo);
          await spec.ready?.(`http://127.0.0.1:${adminPort}`);
        } catch (error) {
          await stopChild(child);
          throw new Error(`${(error as Error).message}\n${tailOfFile(logFile)}`);
        }
        return {
          url: `http://127.0.0.1:${proxyPort}`,
          ...(headers ? { headers } : {}),
          async stop() {
            await stopChild(child);
            closeSync(logFd);
            if (statSync(logFile).size > 0) {
              process.stderr.write(`[${spec.name}] log output (last lines):\n${tailOfFile(logFile)}\n`);
            }
          },
        };
      } catch (error) {
        closeSync(logFd);
        throw error;
      }
    },
  };
}

/** A client with a grant on route "bench" and one API key, sent as a Bearer credential. */
async function apiKeySetup(
  { portcullis }: { portcullis: (argv: string[]) => Promise<string> },
  keyFlags = '',
) {
  await portcullis(args('clients add --id bench --name Bench --json'));
  await portcullis(args('grants add --client bench --route bench --methods GET --json'));
  const out = await portcullis(args(`keys create --client bench --env live ${keyFlags} --json`));
  let key: unknown;
  try {
    key = (JSON.parse(out) as { key?: unknown }).key;
  } catch {}
  // The output itself is never shown: it holds the key.
  if (typeof key !== 'string') throw new Error('portcullis keys create: no `key` in its JSON output');
  return bearer(key, 'portcullis keys create');
}

/** One public catch-all route: no auth, no limits. */
function publicConfig(upstreamUrl: string): string {
  return [
    'routes:',
    '  - id: bench',
    '    path: "/*"',
    '    methods: { GET: public }',
    `    upstream: { url: "${upstreamUrl}" }`,
    '',
  ].join('\n');
}

/** An API-key route with a per-key token bucket generous enough never to deny under the load. */
function limitedConfig(upstreamUrl: string): string {
  return [
    'policies:',
    '  - id: bench-bucket',
    '    algorithm: token_bucket',
    '    rate: 1000000/s',
    '    burst: 1000000',
    '    key_by: [key]',
    'routes:',
    '  - id: bench',
    '    path: "/*"',
    '    methods: { GET: api_key }',
    '    policies: [bench-bucket]',
    `    upstream: { url: "${upstreamUrl}" }`,
    '',
  ].join('\n');
}

export function createTargets(ctx: TargetContext): BenchTarget[] {
  return [
    {
      name: 'direct',
      description: 'the bench upstream itself, no proxy: the ceiling',
      // The upstream is shared and owned by run.ts; nothing to start or stop here.
      start: async () => ({ url: ctx.upstreamUrl, stop: async () => {} }),
    },
    {
      name: 'bare',
      description:
        'node:http + one undici Pool, headers filtered, bodies streamed: the floor for a Node proxy',
      start: () =>
        startNodeService('bare proxy', join(here, 'bare-proxy.js'), [
          '--upstream',
          ctx.upstreamUrl,
          '--connections',
          String(ctx.poolConnections),
        ]),
    },
    portcullisTarget(
      {
        name: 'portcullis',
        description: 'Portcullis, public catch-all route (no auth, no limits)',
        config: publicConfig,
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-norec',
        description:
          'The public route with the request recorder off (request_log=false): what recording costs there',
        config: publicConfig,
        env: { PORTCULLIS_REQUEST_LOG: 'false' },
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-apikey',
        description: 'Portcullis, route requiring an API key (Bearer), client with a grant',
        config: (upstreamUrl) =>
          [
            'routes:',
            '  - id: bench',
            '    path: "/*"',
            '    methods: { GET: api_key }',
            `    upstream: { url: "${upstreamUrl}" }`,
            '',
          ].join('\n'),
        setup: apiKeySetup,
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-apikey-ip',
        description:
          'Portcullis, API key with first-use binding "single" and an IP allow-list (route allow-list too)',
        config: (upstreamUrl) =>
          [
            'routes:',
            '  - id: bench',
            '    path: "/*"',
            '    methods: { GET: api_key }',
            '    ip: { allow: ["127.0.0.0/8"] }',
            `    upstream: { url: "${upstreamUrl}" }`,
            '',
          ].join('\n'),
        setup: (tools) => apiKeySetup(tools, '--binding single --ip-allow 127.0.0.0/8'),
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-jwt',
        description: 'Portcullis, route requiring a JWT (RS256, static public key)',
        config: (upstreamUrl) =>
          [
            'routes:',
            '  - id: bench',
            '    path: "/*"',
            '    methods: { GET: jwt }',
            `    upstream: { url: "${upstreamUrl}" }`,
            '',
          ].join('\n'),
        async setup({ portcullis, run }) {
          await run('openssl', args('genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem'));
          await run('openssl', args('pkey -in rsa.pem -pubout -out rsa.pub.pem'));
          await portcullis(
            args(
              'jwt-providers add --id bench --public-key-file rsa.pub.pem --algorithms RS256 ' +
                `--issuer ${JWT_ISSUER} --audience bench --json`,
            ),
          );
          // 2 h: far longer than any run (the watchdog stops a run long before).
          const token = await portcullis(
            args(
              'jwt mint --algorithm RS256 --private-key-file rsa.pem ' +
                `--issuer ${JWT_ISSUER} --audience bench --subject bench-user --expires 2h`,
            ),
          );
          return bearer(token.trim(), 'portcullis jwt mint');
        },
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-limit-memory',
        description:
          'Portcullis full chain: API key + per-key token bucket in memory + request recorder + metrics (the defaults)',
        config: limitedConfig,
        setup: apiKeySetup,
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-limit-memory-norec',
        description: 'The same with the request recorder off (request_log=false): what recording costs',
        config: limitedConfig,
        env: { PORTCULLIS_REQUEST_LOG: 'false' },
        setup: apiKeySetup,
      },
      ctx,
    ),
    portcullisTarget(
      {
        name: 'portcullis-limit-redis',
        description: 'Portcullis, API key + per-key token bucket in Redis (one Lua script per request)',
        config: limitedConfig,
        env: { PORTCULLIS_REDIS_URL: process.env['PORTCULLIS_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379' },
        setup: apiKeySetup,
      },
      ctx,
    ),
    workersTarget(ctx),
  ];
}

/**
 * `--workers 2` on Redis: the same chain as portcullis-limit-redis in two processes. /readyz
 * answers as soon as one worker serves, so readiness waits until both list themselves.
 */
function workersTarget(ctx: TargetContext): BenchTarget {
  let viewerToken = '';
  return portcullisTarget(
    {
      name: 'portcullis-limit-redis-workers2',
      description: 'The same as portcullis-limit-redis in two worker processes: portcullis start --workers 2',
      config: limitedConfig,
      env: { PORTCULLIS_REDIS_URL: process.env['PORTCULLIS_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379' },
      startArgs: ['--workers', '2'],
      async setup(tools) {
        const out = await tools.portcullis(args('admin tokens create --role viewer --json'));
        viewerToken = (JSON.parse(out) as { token: string }).token;
        return apiKeySetup(tools);
      },
      async ready(adminUrl) {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const res = await request(`${adminUrl}/admin/api/instances`, {
            headers: { authorization: `Bearer ${viewerToken}` },
          });
          const body = (await res.body.json()) as { items?: unknown[] };
          if (res.statusCode === 200 && body.items?.length === 2) return;
          if (Date.now() > deadline)
            throw new Error('the two workers did not both list themselves within 20 s');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      },
    },
    ctx,
  );
}

/** Targets compared against, not ratio'd: everything else is a Portcullis configuration. */
export const BASELINES = ['direct', 'bare'] as const;
