/**
 * Throwaway Redis servers started from Debian's `redis-server` for one test file: a Redis
 * Cluster of three masters (no replicas) on free loopback ports, plaintext or TLS-only, or a
 * standalone server speaking only TLS. Each lives in its own temporary folder (no persistence) and is torn down
 * with `stop()`.
 *
 * Gate: like services.ts, a missing `redis-server` / `redis-cli` skips the suite with a message
 * on a developer's machine and fails it with CI=true.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { inCI, type ServiceGate } from './services.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export interface LocalRedisCluster {
  readonly nodes: readonly RedisNodeAddress[];
  /** `redis://127.0.0.1:<port>` per node (`rediss://` over TLS). */
  readonly urls: readonly string[];
  /** The seed list as PORTCULLIS_REDIS_URL takes it (comma-separated). */
  readonly url: string;
  /** Milliseconds from the first spawn to `cluster_state:ok` on every node. */
  readonly startMs: number;
  /** A plain connection to one node (for CLUSTER commands and MONITOR). */
  node(index: number): Redis;
  /** Index of the node serving `slot` (from CLUSTER SLOTS, asked once). */
  ownerOf(slot: number): Promise<number>;
  /** Kill one node's process (SIGKILL: no goodbye to its clients, as in a crash). */
  kill(index: number): Promise<void>;
  /** Delete every key under `prefix` on every master (a cluster SCAN is per node). */
  deleteKeys(prefix: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Gate for suites that start their own redis-server processes. Must be awaited at module top
 * level before `describe`.
 */
export function redisServerGate(): ServiceGate {
  const missing = ['redis-server', 'redis-cli'].filter(
    (binary) => spawnSync(binary, ['--version'], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length === 0) return { skip: false };
  const message = `${missing.join(' and ')} not found on PATH; install Debian's redis-server and redis-tools to enable`;
  if (inCI) {
    // Register a failing test so the run goes red and says why.
    test('redis-server is required in CI', () => {
      throw new Error(message);
    });
    return { skip: message };
  }
  process.stderr.write(`[skip] ${message}\n`);
  return { skip: message };
}

/** A loopback port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

function spawnRedis(args: string[], cwd: string): Spawned {
  const child = spawn('redis-server', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => out, exited };
}

async function stopAll(servers: readonly Spawned[]): Promise<void> {
  await Promise.all(
    servers.map(async ({ child, exited }) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }),
  );
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function ping(port: number, extra: string[] = []): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...extra, 'ping']);
  return stdout.trim() === 'PONG';
}

/**
 * Start a Redis Cluster of `masters` masters (no replicas). Ports (client and cluster bus)
 * are picked free by the OS; a port taken between the pick and the bind makes a server exit,
 * and the whole cluster is started once more.
 */
export interface ClusterTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export async function startRedisCluster(
  options: { masters?: number; tls?: ClusterTls } = {},
): Promise<LocalRedisCluster> {
  const masters = options.masters ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(masters, options.tls);
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
}

/** redis-cli's TLS arguments (it presents the server's pair as its client certificate). */
function cliTls(tls: ClusterTls | undefined): string[] {
  return tls === undefined
    ? []
    : ['--tls', '--cacert', tls.caFile, '--cert', tls.certFile, '--key', tls.keyFile];
}

async function startClusterOnce(masters: number, tls: ClusterTls | undefined): Promise<LocalRedisCluster> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'pcl-redis-cluster-'));
  const picked = new Set<number>();
  while (picked.size < masters * 2) picked.add(await freePort());
  const ports = [...picked].slice(0, masters);
  const busPorts = [...picked].slice(masters);
  const servers: Spawned[] = [];
  const clients: Redis[] = [];
  const cleanup = async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await stopAll(servers);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        spawnRedis(
          [
            // Over TLS the client port is the TLS port (and the cluster bus speaks TLS too).
            ...(tls === undefined
              ? ['--port', String(ports[i])]
              : [
                  '--port',
                  '0',
                  '--tls-port',
                  String(ports[i]),
                  '--tls-cluster',
                  'yes',
                  '--tls-cert-file',
                  tls.certFile,
                  '--tls-key-file',
                  tls.keyFile,
                  '--tls-ca-cert-file',
                  tls.caFile,
                  '--tls-auth-clients',
                  'no',
                ]),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPorts[i]),
            '--cluster-config-file',
            `nodes-${ports[i]}.conf`,
            '--cluster-node-timeout',
            '2000',
            // Slots of the surviving masters keep serving when one master is lost (there are
            // no replicas to fail over to), so a test can take a node down and watch the rest.
            '--cluster-require-full-coverage',
            'no',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--daemonize',
            'no',
          ],
          dir,
        ),
      );
    }
    await Promise.all(
      ports.map((port, i) =>
        waitFor(
          `redis-server on port ${port} did not answer PING:\n${servers[i]?.output()}`,
          () => ping(port, cliTls(tls)),
          10_000,
        ),
      ),
    );
    const create = await run(
      'redis-cli',
      [
        ...cliTls(tls),
        '--cluster',
        'create',
        ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    if (!/All 16384 slots covered/.test(create.stdout))
      throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);
    for (const port of ports) {
      const client = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        ...(tls === undefined ? {} : { tls: { ca: readFileSync(tls.caFile) } }),
      });
      // A node a test shut down makes its connection fail; that is expected, not a stray error.
      client.on('error', () => undefined);
      clients.push(client);
    }
    await Promise.all(clients.map((c) => c.connect()));
    // Every node must agree the cluster is whole (and know every other node), or the first
    // commands of a test could meet CLUSTERDOWN.
    await waitFor(
      'cluster_state:ok on every node',
      async () => {
        const infos = await Promise.all(clients.map((c) => c.cluster('INFO') as Promise<string>));
        return infos.every(
          (info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${masters}`),
        );
      },
      20_000,
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
  let ranges: Promise<Array<{ from: number; to: number; port: number | undefined }>> | undefined;
  const urls = nodes.map((n) => `${tls === undefined ? 'redis' : 'rediss'}://${n.host}:${n.port}`);
  return {
    nodes,
    urls,
    url: urls.join(','),
    startMs: Math.round(performance.now() - started),
    node: (index) => {
      const client = clients[index];
      if (client === undefined) throw new RangeError(`no node ${index}`);
      return client;
    },
    async ownerOf(slot) {
      ranges ??= (async () => {
        const answer = await clients[0]!.cluster('SLOTS');
        return answer.map(([from, to, owner]) => ({ from, to, port: owner?.[1] }));
      })();
      const range = (await ranges).find((r) => slot >= r.from && slot <= r.to);
      const index = ports.indexOf(range?.port ?? -1);
      if (index < 0) throw new Error(`no node serves slot ${slot}`);
      return index;
    },
    async kill(index) {
      const server = servers[index];
      if (server === undefined) throw new RangeError(`no node ${index}`);
      await stopAll([server]);
    },
    async deleteKeys(prefix) {
      let deleted = 0;
      for (const client of clients) {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          // One DEL per key: a multi-key DEL across slots is refused (CROSSSLOT).
          for (const key of keys) deleted += await client.del(key);
          cursor = next;
        } while (cursor !== '0');
      }
      return deleted;
    },
    stop: cleanup,
  };
}

export interface LocalTlsRedis {
  readonly port: number;
  /** `rediss://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * A standalone redis-server that speaks only TLS (`--port 0 --tls-port …`), with the given
 * certificate files. `authClients`: 'yes' requires a client certificate signed by `caFile`.
 */
export async function startTlsRedis(
  options: ClusterTls & { authClients: 'yes' | 'no' | 'optional' },
): Promise<LocalTlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-redis-tls-'));
  const port = await freePort();
  const server = spawnRedis(
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      options.certFile,
      '--tls-key-file',
      options.keyFile,
      '--tls-ca-cert-file',
      options.caFile,
      '--tls-auth-clients',
      options.authClients,
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    dir,
  );
  const stop = async () => {
    await stopAll([server]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `TLS redis-server on port ${port} did not answer PING:\n${server.output()}`,
      () => ping(port, cliTls(options)),
      10_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url: `rediss://127.0.0.1:${port}`, stop };
}
