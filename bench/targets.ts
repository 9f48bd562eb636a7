/**
 * What the harness measures, as data. Each target starts its own process(es) and hands back a
 * URL on 127.0.0.1; run.ts measures them interleaved. Adding a Portcullis configuration (API key
 * + limit + logging, Redis-backed, …) is one more `portcullisTarget({...})` entry below.
 */
import { closeSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePorts, spawnTracked, startNodeService, stopChild, tailOfFile, waitForExit } from './child.js';

export interface RunningTarget {
  url: string;
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

interface PortcullisConfig {
  name: string;
  description: string;
  /** The declarative file applied before start; gets the upstream URL. */
  config(upstreamUrl: string): string;
  /** Extra env (e.g. a Redis URL) on top of the harness's isolated defaults. */
  env?: Record<string, string>;
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
        ...spec.env,
      };
      const bin = join(projectRoot, 'bin', 'portcullis.js');
      const configFile = join(dir, 'bench.yaml');
      writeFileSync(configFile, spec.config(ctx.upstreamUrl));
      // Portcullis output goes to a file: at warn level it should stay empty, and anything it
      // does say is shown when the target stops or fails.
      const logFile = join(dir, 'portcullis.log');
      const logFd = openSync(logFile, 'a');
      const stdio: ['ignore', number, number] = ['ignore', logFd, logFd];

      try {
        const apply = spawnTracked(process.execPath, [bin, 'apply', '-f', configFile], {
          env,
          cwd: projectRoot,
          stdio,
        });
        const applyCode = await waitForExit(apply, 30_000, 'portcullis apply');
        if (applyCode !== 0) throw new Error(`portcullis apply exited ${applyCode}\n${tailOfFile(logFile)}`);

        const child = spawnTracked(process.execPath, [bin, 'start'], { env, cwd: projectRoot, stdio });
        let exitInfo: string | undefined;
        child.once('exit', (code, signal) => {
          exitInfo = `portcullis start exited early (code ${code}, signal ${signal})\n${tailOfFile(logFile)}`;
        });
        try {
          await waitForReady(`http://127.0.0.1:${adminPort}/readyz`, 20_000, () => exitInfo);
        } catch (error) {
          await stopChild(child);
          throw new Error(`${(error as Error).message}\n${tailOfFile(logFile)}`);
        }
        return {
          url: `http://127.0.0.1:${proxyPort}`,
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
        config: (upstreamUrl) =>
          [
            'routes:',
            '  - id: bench',
            '    path: "/*"',
            '    methods: { GET: public }',
            `    upstream: { url: "${upstreamUrl}" }`,
            '',
          ].join('\n'),
      },
      ctx,
    ),
  ];
}

/** Targets compared against, not ratio'd: everything else is a Portcullis configuration. */
export const BASELINES = ['direct', 'bare'] as const;
