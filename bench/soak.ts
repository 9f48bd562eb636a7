/**
 * `npm run soak`: three gateways sharing PostgreSQL, Redis and one secret key, mixed traffic
 * (API keys, HMAC, JWT, a fixed-window limit, refusals) at a fixed rate for a long while, one
 * gateway SIGKILLed and restarted half-way, then:
 *
 *   - every answered request has its row in request_logs (matched by X-Request-Id), except
 *     possibly what the killed generation still held in memory — reported apart;
 *   - every limited key got exactly its limit in every window it exhausted, across the three;
 *   - the surviving gateways' RSS did not grow by 10 % or more after warm-up;
 *   - a key revoked mid-run is refused everywhere within a second;
 *   - throughput, and answers per kind (anything unexpected fails the run).
 *
 *   node dist/bench/soak.js [--duration 10m] [--rate 300] [--json report.json] …  (see --help)
 *
 * Not in CI: it takes ten minutes and wants a real PostgreSQL and Redis (docs/benchmarks.md, "Soak").
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { freePorts, killAllChildrenSync, startNodeService, stopAllChildren, trackedPids } from './child.js';
import { cpuSnapshot, foreignCpu } from './machine.js';
import {
  checkLimits,
  checkRecords,
  checkRevocation,
  checkRss,
  checkTraffic,
  type KeyRow,
  type KillEvent,
  type RecordRow,
  type RssReading,
} from './soak-checks.js';
import {
  createSoakDatabase,
  GatewayInstance,
  isolatedEnv,
  portcullisCli,
  residentKb,
  type SoakDatabase,
  scrapeMetrics,
} from './soak-cluster.js';
import { type Endpoint, SoakLoad } from './soak-load.js';
import { BLOCKED_SOURCE, type LimitSettings, setupFixtures, trafficKinds } from './soak-traffic.js';

const HELP = `Usage: node dist/bench/soak.js [options]
  --duration <time>       load duration: 600, 600s, 10m (default 10m); e.g. 60s to try it
  --rate <n>              requests per second over all kinds and gateways (default 300)
  --kill-at <fraction>    when to SIGKILL gateway 2, as a fraction of the duration (default 0.5)
  --restart-after <time>  how long it stays down before it is restarted on its ports (default 5s)
  --revoke-at <fraction>  when to revoke the mid-run key (default 0.3)
  --warmup <time>         RSS warm-up, excluded from the growth check (default min(3m, 30 % of duration):
                          V8 sizes its heap during the first ~3 minutes of this load)
  --rss-every <time>      RSS sampling interval (default 5s)
  --limit <n>             fixed-window limit per key (default 100)
  --window <time>         fixed window length (default 10s)
  --limited-keys <n>      keys sharing the limited route (default 3)
  --postgres <url>        server to create the throwaway database on
                          (default postgres://postgres@127.0.0.1:5432/postgres)
  --redis <url>           Redis for shared state (default redis://127.0.0.1:6379/13: a database
                          of its own, so other users' heartbeats do not count as instances)
  --redis-timeout <ms>    PORTCULLIS_REDIS_TIMEOUT for the gateways (default: unset, the product's 100 ms)
  --json <file>           where to write the JSON report (default: in the run's folder)
  --keep-db               do not drop the database at the end (to look at it)
`;

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function duration(name: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!match) throw new Error(`--${name} must be a duration like 90, 90s, 10m or 500ms (got ${raw})`);
  const unit = match[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(Number(match[1]) * factor);
}

function positiveInt(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be an integer ≥ 1 (got ${raw})`);
  return value;
}

function fraction(name: string, raw: string): number {
  const value = Number(raw);
  if (!(value > 0 && value < 1)) throw new Error(`--${name} must be a number between 0 and 1 (got ${raw})`);
  return value;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10m' },
      rate: { type: 'string', default: '300' },
      'kill-at': { type: 'string', default: '0.5' },
      'restart-after': { type: 'string', default: '5s' },
      'revoke-at': { type: 'string', default: '0.3' },
      warmup: { type: 'string' },
      'rss-every': { type: 'string', default: '5s' },
      limit: { type: 'string', default: '100' },
      window: { type: 'string', default: '10s' },
      'limited-keys': { type: 'string', default: '3' },
      postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379/13' },
      'redis-timeout': { type: 'string' },
      json: { type: 'string' },
      'keep-db': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const durationMs = duration('duration', values.duration);
  if (durationMs < 30_000) throw new Error('--duration must be at least 30s');
  const windowMs = duration('window', values.window);
  if (windowMs < 1000 || windowMs % 1000 !== 0)
    throw new Error('--window must be whole seconds (X-RateLimit-Reset has a resolution of 1 s)');
  for (const [name, url] of [
    ['postgres', values.postgres],
    ['redis', values.redis],
  ] as const) {
    // The soak creates and drops databases and floods the gateways: only ever on this machine.
    const host = new URL(url).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost')
      throw new Error(`--${name} must be on 127.0.0.1 (got ${host})`);
  }
  return {
    durationMs,
    rate: positiveInt('rate', values.rate),
    killAt: fraction('kill-at', values['kill-at']),
    restartAfterMs: duration('restart-after', values['restart-after']),
    revokeAt: fraction('revoke-at', values['revoke-at']),
    // Measured on this load (docs/benchmarks.md, Soak): V8's committed heap, and RSS with it,
    // steps up during the third minute and is flat after; a 2-minute warm-up judges that step.
    warmupMs: values.warmup ? duration('warmup', values.warmup) : Math.min(180_000, durationMs * 0.3),
    rssEveryMs: duration('rss-every', values['rss-every']),
    limit: {
      limit: positiveInt('limit', values.limit),
      windowMs,
      keys: positiveInt('limited-keys', values['limited-keys']),
    } satisfies LimitSettings,
    postgres: values.postgres,
    redis: values.redis,
    redisTimeoutMs: values['redis-timeout']
      ? positiveInt('redis-timeout', values['redis-timeout'])
      : undefined,
    json: values.json,
    keepDb: values['keep-db'],
  };
}

const GATEWAYS = 3;
/** The gateway that is killed and restarted (0-based); the others are the survivors. */
const VICTIM = 1;

/** What the gateways wrote for this run (one row per record), and the mid-run revocation's commit. */
async function readDatabase(
  url: string,
  runId: string,
  revokedKeyId: string,
  revokeStartedAt: number,
): Promise<{ rows: KeyRow[]; revokeCommittedAt: number | undefined }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const rows = await client.query<{
      request_id: string;
      status: number;
      code: string | null;
      at: string;
      total_ms: number;
    }>('SELECT request_id, status, code, at, total_ms FROM request_logs WHERE request_id LIKE $1', [
      `${runId}-%`,
    ]);
    // The audit entry is written in the revocation's own transaction: its time is the commit's.
    const audit = await client.query<{ at: string }>(
      'SELECT at FROM audit_log WHERE target_id = $1 AND at >= $2 ORDER BY at LIMIT 1',
      [revokedKeyId, revokeStartedAt],
    );
    return {
      rows: rows.rows.map((r) => ({
        requestId: r.request_id,
        status: r.status,
        code: r.code,
        at: Number(r.at),
        totalMs: r.total_ms,
      })),
      revokeCommittedAt: audit.rows[0] ? Number(audit.rows[0].at) : undefined,
    };
  } finally {
    await client.end();
  }
}

/** CPU ticks (USER_HZ) of a live process, user + system; undefined once it has gone. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/**
 * What a gateway logged (at warn level and above: the soak runs them at `warn`), grouped by level,
 * message and error message, so a recurring fault stands out (e.g. a deadlock, a Redis timeout).
 */
function logSummary(file: string): Record<string, number> {
  const levels: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };
  const counts: Record<string, number> = {};
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let key: string;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      const err = entry.err?.message ? `: ${entry.err.message.slice(0, 100)}` : '';
      key = `${levels[entry.level ?? 0] ?? entry.level} ${entry.msg ?? ''}${err}`;
    } catch {
      key = `(not JSON) ${line.slice(0, 100)}`;
    }
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
const verdict = (pass: boolean) => (pass ? 'PASS' : 'FAIL');

/** Stops every process and drops the database; set once main() has something to clean. */
let cleanupHook: (() => Promise<void>) | undefined;

async function main(): Promise<number> {
  const options = parseOptions();
  const runDir = mkdtempSync(join(os.tmpdir(), 'portcullis-soak-'));
  const reportFile = options.json ?? join(runDir, 'soak-report.json');
  let db: SoakDatabase | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= stopAllChildren().finally(async () => {
      if (db && !options.keepDb)
        await db.drop().catch((e: Error) => log(`soak: could not drop ${db?.name}: ${e.message}`));
    });
    return cleaning;
  };
  cleanupHook = cleanup;
  process.on('exit', () => killAllChildrenSync());
  const abort = (reason: string, code: number) => {
    log(`\nsoak: ${reason}; stopping every process it started`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => abort('interrupted (SIGINT)', 130));
  process.once('SIGTERM', () => abort('terminated (SIGTERM)', 143));
  const budgetMs = options.durationMs + options.restartAfterMs + 5 * 60_000;
  const watchdog = setTimeout(
    () => abort(`exceeded its time budget of ${Math.round(budgetMs / 1000)} s`, 1),
    budgetMs,
  );

  log(`soak: run folder ${runDir} (gateway logs, report)`);
  const upstream = await startNodeService(
    'soak upstream',
    fileURLToPath(new URL('./upstream.js', import.meta.url)),
    [],
  );
  db = await createSoakDatabase(options.postgres);
  log(`soak: database ${db.name}, Redis ${options.redis}, upstream ${upstream.url}`);

  const env = isolatedEnv({
    PORTCULLIS_DATABASE_URL: db.url,
    PORTCULLIS_REDIS_URL: options.redis,
    PORTCULLIS_SECRET_KEY: randomBytes(32).toString('hex'),
    // Set, so the first start does not print a generated one.
    PORTCULLIS_ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
    PORTCULLIS_LOG_LEVEL: 'warn',
    PORTCULLIS_LOG_FORMAT: 'json',
    PORTCULLIS_DEMO: 'off',
    // The refusal traffic is credential stuffing by design, from the load generator's own
    // address: the default `block:15m` would block 127.0.0.1 a few minutes in and turn the rest
    // of the soak into 403s. Detection still runs and alerts (to the log).
    PORTCULLIS_ANOMALY_RULES: 'auth_failures=alert',
    ...(options.redisTimeoutMs === undefined
      ? {}
      : { PORTCULLIS_REDIS_TIMEOUT: String(options.redisTimeoutMs) }),
  });
  const cli = (args: string[]) => portcullisCli(args, env, runDir);
  log('soak: configuring through the CLI (routes, policy, clients, keys, HMAC, JWT, block)');
  const fixtures = await setupFixtures(cli, runDir, {
    upstreamUrl: upstream.url,
    limit: options.limit,
    apiClients: 4,
    tokenLifetimeS: Math.ceil(options.durationMs / 1000) + 3600,
  });
  const kinds = trafficKinds(fixtures);

  const ports = await freePorts(GATEWAYS * 2);
  const instances = Array.from(
    { length: GATEWAYS },
    (_, i) =>
      new GatewayInstance({
        name: `gateway-${i + 1}`,
        proxyPort: ports[i * 2]!,
        adminPort: ports[i * 2 + 1]!,
        env,
        dir: join(runDir, `gateway-${i + 1}`),
      }),
  );
  log('soak: starting three gateways');
  const generations = await Promise.all(instances.map((g) => g.start()));
  const endpoints: Endpoint[] = instances.map((g, i) => ({
    index: i,
    name: g.name,
    url: g.proxyUrl,
    generation: generations[i]!,
    up: true,
  }));
  const problems: string[] = [];
  let stoppingAll = false;
  for (const [i, g] of instances.entries()) {
    g.onExit((exit) => {
      // The balancer stops sending here as soon as the process is gone.
      endpoints[i]!.up = false;
      if (!stoppingAll && !(i === VICTIM && exit.signal === 'SIGKILL'))
        problems.push(`${g.name} exited unexpectedly (code ${exit.code}, signal ${exit.signal})`);
    });
  }

  const load = new SoakLoad(kinds, endpoints, { rate: options.rate, maxInFlight: 512, connections: 16 });

  // Pre-flight: every kind once on every gateway. These requests are samples like any other
  // (their rows are checked too); a wrong answer here stops the soak before ten minutes of it.
  for (const endpoint of endpoints)
    for (let k = 0; k < kinds.length; k++) {
      const s = await load.send(k, endpoint);
      const kind = kinds[k]!;
      const expected = kind.expected.length === 0 ? [{ status: 200 }] : kind.expected;
      if (!expected.some((e) => e.status === s.status && (e.code === undefined || e.code === s.code)))
        throw new Error(
          `pre-flight: ${kind.name} on ${endpoint.name} answered ${s.status} ${s.code ?? s.error ?? ''}, ` +
            `expected ${expected.map((e) => `${e.status} ${e.code ?? ''}`.trim()).join(' or ')}` +
            (kind.name === 'blocked_ip' && s.status === 0 ? ` (can ${BLOCKED_SOURCE} be bound here?)` : ''),
        );
    }

  log(
    `soak: ${Math.round(options.durationMs / 1000)} s at ${options.rate} req/s over ${GATEWAYS} gateways; ` +
      `revoke a key at ${Math.round((options.durationMs * options.revokeAt) / 1000)} s, ` +
      `SIGKILL ${instances[VICTIM]!.name} at ${Math.round((options.durationMs * options.killAt) / 1000)} s`,
  );
  const rss: RssReading[] = [];
  const heap: Array<{
    t: number;
    instance: number;
    generation: number;
    heapUsedMb: number;
    /** Heap V8 has committed (young and old generations): it resizes by itself, RSS follows. */
    heapTotalMb: number;
    externalMb: number;
    queue: number;
    /** Longest event-loop delay since the previous scrape (prom-client resets it per scrape). */
    loopLagMaxMs: number;
  }> = [];
  const cpuBefore = cpuSnapshot(trackedPids());
  // CPU of each gateway generation (ticks at its last reading), and of this process.
  const gatewayTicks = new Map<string, { first: number; last: number }>();
  const readGatewayCpu = () => {
    for (const [i, g] of instances.entries()) {
      // Not while a restart is under way: the new process would be booked to the old generation.
      if (!endpoints[i]!.up) continue;
      const ticks = g.pid === undefined ? undefined : cpuTicks(g.pid);
      if (ticks === undefined) continue;
      const key = `${g.name}/${g.generation}`;
      const entry = gatewayTicks.get(key);
      if (entry) entry.last = ticks;
      else gatewayTicks.set(key, { first: ticks, last: ticks });
    }
  };
  readGatewayCpu();
  const selfCpuBefore = process.cpuUsage();
  const loadStart = Date.now();
  const since = () => Date.now() - loadStart;
  const sampleRss = () => {
    readGatewayCpu();
    for (const [i, g] of instances.entries()) {
      const pid = g.pid;
      const kb = pid === undefined ? undefined : residentKb(pid);
      if (kb !== undefined && endpoints[i]!.up)
        rss.push({
          t: since(),
          instance: i,
          generation: g.generation,
          kb: kb.rss,
          anonKb: kb.anon,
          fileKb: kb.file,
        });
    }
  };
  const sampleHeap = async () => {
    for (const [i, g] of instances.entries()) {
      if (!endpoints[i]!.up) continue;
      const m = await scrapeMetrics(g.adminUrl, [
        'portcullis_nodejs_heap_size_used_bytes',
        'portcullis_nodejs_heap_size_total_bytes',
        'portcullis_nodejs_external_memory_bytes',
        'portcullis_recorder_queue_depth',
        'portcullis_nodejs_eventloop_lag_max_seconds',
      ]);
      if (m)
        heap.push({
          t: since(),
          instance: i,
          generation: g.generation,
          heapUsedMb: (m['portcullis_nodejs_heap_size_used_bytes'] ?? Number.NaN) / 2 ** 20,
          heapTotalMb: (m['portcullis_nodejs_heap_size_total_bytes'] ?? Number.NaN) / 2 ** 20,
          externalMb: (m['portcullis_nodejs_external_memory_bytes'] ?? Number.NaN) / 2 ** 20,
          queue: m['portcullis_recorder_queue_depth'] ?? Number.NaN,
          loopLagMaxMs: (m['portcullis_nodejs_eventloop_lag_max_seconds'] ?? Number.NaN) * 1000,
        });
    }
  };
  load.start();
  sampleRss();
  const rssTimer = setInterval(sampleRss, options.rssEveryMs);
  const heapTimer = setInterval(() => void sampleHeap(), Math.min(15_000, options.durationMs / 8));
  let lastProgress = 0;
  const progressTimer = setInterval(() => {
    const done = load.samples.length;
    log(
      `soak: ${Math.round(since() / 1000)} s, ${done} requests (${Math.round((done - lastProgress) / 30)} req/s), ` +
        `in flight ${load.inFlight}, up: ${endpoints
          .filter((e) => e.up)
          .map((e) => e.name)
          .join(', ')}`,
    );
    lastProgress = done;
  }, 30_000);
  const at = (fractionOfRun: number) => sleep(loadStart + options.durationMs * fractionOfRun - Date.now());

  let revocation = { startedAt: 0, doneAt: 0 };
  const revokeTask = (async () => {
    await at(options.revokeAt);
    const startedAt = Date.now();
    await cli(['keys', 'revoke', fixtures.midRevokeKey.id, '--reason', 'soak: revoked mid-run', '--json']);
    revocation = { startedAt, doneAt: Date.now() };
    log(
      `soak: key revoked at ${Math.round(since() / 1000)} s (the command took ${revocation.doneAt - startedAt} ms)`,
    );
  })();

  const kills: KillEvent[] = [];
  const killTask = (async () => {
    await at(options.killAt);
    const victim = instances[VICTIM]!;
    const event: KillEvent = { instance: VICTIM, generation: victim.generation, at: Date.now() };
    kills.push(event);
    await victim.kill();
    log(`soak: ${victim.name} SIGKILLed at ${Math.round(since() / 1000)} s (generation ${event.generation})`);
    await sleep(options.restartAfterMs);
    const generation = await victim.start();
    event.backAt = Date.now();
    endpoints[VICTIM]!.generation = generation;
    endpoints[VICTIM]!.up = true;
    log(`soak: ${victim.name} back at ${Math.round(since() / 1000)} s (generation ${generation})`);
  })();

  await at(1);
  await load.stop();
  const loadMs = since();
  const cpuAfter = cpuSnapshot(trackedPids());
  readGatewayCpu();
  const selfCpu = process.cpuUsage(selfCpuBefore);
  clearInterval(rssTimer);
  clearInterval(heapTimer);
  clearInterval(progressTimer);
  await Promise.all([revokeTask, killTask]);
  log(`soak: load stopped after ${Math.round(loadMs / 1000)} s; ${load.samples.length} requests`);

  // What each gateway says about its recorder before it stops (drops would explain a loss).
  const finalMetrics = await Promise.all(
    instances.map((g) =>
      scrapeMetrics(g.adminUrl, [
        'portcullis_records_written_total',
        'portcullis_records_dropped_total',
        'portcullis_recorder_queue_depth',
        'portcullis_process_resident_memory_bytes',
      ]),
    ),
  );
  log('soak: stopping the gateways gracefully (SIGTERM: drain, then write every queued record)');
  stoppingAll = true;
  const stopExits = await Promise.all(instances.map((g) => g.stop()));
  for (const [i, exit] of stopExits.entries())
    if (exit?.code !== 0)
      problems.push(`${instances[i]!.name} did not stop cleanly (${JSON.stringify(exit)})`);
  await load.close();

  const { rows: recordRows, revokeCommittedAt } = await readDatabase(
    db.url,
    load.runId,
    fixtures.midRevokeKey.id,
    revocation.startedAt,
  );
  if (revokeCommittedAt === undefined) problems.push('no audit entry for the mid-run revocation');
  const rowCounts = new Map<string, RecordRow>();
  for (const row of recordRows) {
    const key = `${row.requestId} ${row.status}`;
    const entry = rowCounts.get(key);
    if (entry) entry.count++;
    else rowCounts.set(key, { requestId: row.requestId, status: row.status, count: 1 });
  }
  const rows = [...rowCounts.values()];
  const revokedKind = kinds.findIndex((k) => k.name === 'revoked_mid_run');
  const revokedIds = new Set(load.samples.filter((x) => x.kind === revokedKind).map((x) => x.requestId));
  const keyRows = recordRows.filter((row) => revokedIds.has(row.requestId));
  const records = checkRecords(load.samples, rows, kills);
  const limitedKind = kinds.findIndex((k) => k.name === 'limited');
  const limits = checkLimits(load.samples, limitedKind, options.limit.limit, options.limit.windowMs);
  const survivors = instances.flatMap((_, i) => (i === VICTIM ? [] : [{ instance: i, generation: 1 }]));
  const averageMs = Math.max(2 * options.rssEveryMs, Math.min(60_000, options.durationMs * 0.1));
  const memory = checkRss(rss, survivors, options.warmupMs, loadMs, averageMs);
  const traffic = checkTraffic(load.samples, kinds, kills, loadMs);
  // Time spent inside the gateways (the record's total_ms), per kind: against the client-side
  // figures it tells a slow gateway from a request that waited in the load generator's queue.
  const kindOf = new Map(load.samples.map((x) => [x.requestId, x.kind]));
  const gatewayMs = kinds.map((): number[] => []);
  for (const row of recordRows) {
    const kind = kindOf.get(row.requestId);
    if (kind !== undefined) gatewayMs[kind]!.push(row.totalMs);
  }
  const gatewayLatency = kinds.map((k, i) => {
    const xs = gatewayMs[i]!.sort((a, b) => a - b);
    const at = (p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;
    return { kind: k.name, p50Ms: at(50), p99Ms: at(99), maxMs: xs.at(-1) ?? Number.NaN };
  });
  const revoked = checkRevocation(load.samples, keyRows, {
    ...revocation,
    committedAt: revokeCommittedAt ?? revocation.doneAt,
  });
  const machine = foreignCpu(cpuBefore, cpuAfter);
  const loadS = loadMs / 1000;
  const cpu = {
    /** % of one core over the load, per gateway generation (from /proc/<pid>/stat). */
    gateways: Object.fromEntries(
      [...gatewayTicks].map(([key, t]) => [key, Math.round(((t.last - t.first) / 100 / loadS) * 1000) / 10]),
    ),
    soakProcessPct: Math.round(((selfCpu.user + selfCpu.system) / 1e6 / loadS) * 1000) / 10,
  };
  const logs = Object.fromEntries(instances.map((g) => [g.name, logSummary(g.logFile)]));
  const redisTimeouts = Object.fromEntries(
    instances.map((g) => [
      g.name,
      Object.entries(logs[g.name] ?? {})
        .filter(([message]) => /redis/i.test(message) && /timed out/i.test(message))
        .reduce((n, [, count]) => n + count, 0),
    ]),
  );
  for (const g of instances) g.close();
  await upstream.stop();
  await cleanup();
  clearTimeout(watchdog);

  const pass =
    records.pass && limits.pass && memory.pass && traffic.pass && revoked.pass && problems.length === 0;
  const settings = {
    durationS: options.durationMs / 1000,
    rate: options.rate,
    gateways: GATEWAYS,
    killed: instances[VICTIM]!.name,
    killAtS: (options.durationMs * options.killAt) / 1000,
    restartAfterS: options.restartAfterMs / 1000,
    revokeAtS: (options.durationMs * options.revokeAt) / 1000,
    warmupS: options.warmupMs / 1000,
    rssEveryS: options.rssEveryMs / 1000,
    limit: { ...options.limit, policy: 'fixed_window, key_by key' },
    redis: options.redis,
    redisTimeoutMs: options.redisTimeoutMs ?? 'default (100)',
    kinds: kinds.map((k) => ({ name: k.name, weight: k.weight, expected: k.expected })),
  };
  const info = {
    date: new Date(loadStart).toISOString(),
    node: process.version,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    os: `${os.type()} ${os.release()}`,
    machineNoise: machine ?? null,
    cpu,
  };
  const report = {
    pass,
    info,
    settings,
    runId: load.runId,
    loadS: loadMs / 1000,
    skipped: load.skipped,
    problems,
    traffic,
    gatewayLatency,
    records: { ...records, rows: rows.reduce((n, r) => n + r.count, 0) },
    limits,
    revocation: revoked,
    memory,
    kills,
    redisTimeoutsLogged: redisTimeouts,
    logs,
    finalMetrics: Object.fromEntries(instances.map((g, i) => [g.name, finalMetrics[i] ?? null])),
    rss,
    heap,
  };
  writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
  // Every request, one JSON line each (no credentials: kinds, ids, times, answers), for digging.
  const samplesFile = join(runDir, 'samples.ndjson');
  writeFileSync(
    samplesFile,
    load.samples.map((x) => `${JSON.stringify({ ...x, kind: kinds[x.kind]!.name })}\n`).join(''),
  );
  process.stdout.write(`\n${consoleReport(report)}\n`);
  log(`soak: report written to ${reportFile}; every request in ${samplesFile}`);
  return pass ? 0 : 1;

  function consoleReport(r: typeof report): string {
    const out: string[] = [];
    const w = (line = '') => out.push(line);
    w(`# Soak ${r.info.date}: ${verdict(r.pass)}`);
    w(
      `Node ${r.info.node}, ${r.info.cpuModel}, ${r.info.cores} cores, ${r.info.os}. ` +
        `Other processes used ${machine ? `${fmt(machine.foreignPct)} % of one core on average (steal ${fmt(machine.stealPct)} %)` : 'n/a'} during the load.`,
    );
    w(
      `${r.settings.gateways} gateways (PostgreSQL + Redis), ${fmt(r.loadS)} s at ${r.settings.rate} req/s target; ` +
        `${r.settings.killed} SIGKILLed at ${fmt(r.settings.killAtS)} s and restarted ${fmt(r.settings.restartAfterS)} s later; ` +
        `Redis command timeout ${r.settings.redisTimeoutMs} ms.`,
    );
    w(
      `CPU during the load, % of one core: ${Object.entries(r.info.cpu.gateways)
        .map(([g, pct]) => `${g} ${pct}`)
        .join(
          ', ',
        )}; load generator ${r.info.cpu.soakProcessPct}. Longest event-loop stall seen per gateway: ${instances
        .map(
          (g, i) =>
            `${g.name} ${fmt(Math.max(...r.heap.filter((h) => h.instance === i).map((h) => h.loopLagMaxMs)))} ms`,
        )
        .join(', ')}.`,
    );
    w();
    w(`## Traffic: ${verdict(r.traffic.pass)}`);
    w(
      `${fmt(r.traffic.sent)} sent, ${fmt(r.traffic.answered)} answered (${fmt(r.traffic.answeredPerS, 1)} req/s); ` +
        `no answer: ${r.traffic.noAnswerAtKill} at the kill (expected), ${r.traffic.noAnswerElsewhere} elsewhere; ` +
        `skipped: ${r.skipped.inFlightCap} (in-flight cap), ${r.skipped.noGatewayUp} (no gateway up)`,
    );
    w(
      '| kind | sent | answered | answers | unexpected | no answer | p50 ms | p99 ms | in the gateway p50 / p99 / max ms |',
    );
    w('|---|---:|---:|---|---:|---|---:|---:|---:|');
    for (const [index, k] of r.traffic.kinds.entries()) {
      const g = r.gatewayLatency[index]!;
      w(
        `| ${k.kind} | ${fmt(k.sent)} | ${fmt(k.answered)} | ${Object.entries(k.outcomes)
          .map(([o, n]) => `${o}: ${fmt(n)}`)
          .join(', ')} | ${k.unexpected} | ${
          Object.entries(k.noAnswer)
            .map(([e, n]) => `${e}: ${n}`)
            .join(', ') || '0'
        } | ${fmt(k.p50Ms, 1)} | ${fmt(k.p99Ms, 1)} | ${fmt(g.p50Ms, 1)} / ${fmt(g.p99Ms, 1)} / ${fmt(g.maxMs)} |`,
      );
    }
    for (const e of r.traffic.unexpectedExamples) w(`  !! ${e}`);
    w();
    w(`## Records (request_logs vs answers, by X-Request-Id): ${verdict(r.records.pass)}`);
    w('| gateway | generation | ended by | answered | recorded | lost | status differs | recorded twice |');
    w('|---|---:|---|---:|---:|---:|---:|---:|');
    for (const i of r.records.incarnations)
      w(
        `| ${instances[i.instance]!.name} | ${i.generation} | ${i.ending === 'sigkill' ? 'SIGKILL' : 'SIGTERM (graceful)'} | ` +
          `${fmt(i.answered)} | ${fmt(i.recorded)} | ${fmt(i.lost)}${
            i.lostBeforeKillMs
              ? ` (answered ${fmt(i.lostBeforeKillMs.earliest)}–${fmt(i.lostBeforeKillMs.latest)} ms before the kill)`
              : ''
          } | ${i.statusMismatch} | ${i.duplicated} |`,
      );
    w(
      `Rows for this run: ${fmt(r.records.rows)}; unanswered requests with a row: ${r.records.unansweredButRecorded}; ` +
        `rows for ids never sent: ${r.records.unknownRows}; answers with another X-Request-Id: ${r.records.idEchoMismatches}.`,
    );
    for (const [name, m] of Object.entries(r.finalMetrics))
      if (m)
        w(
          `${name} before SIGTERM: records written ${fmt(m['portcullis_records_written_total'] ?? Number.NaN)}, ` +
            `dropped ${fmt(m['portcullis_records_dropped_total'] ?? Number.NaN)}, queued ${fmt(m['portcullis_recorder_queue_depth'] ?? Number.NaN)}`,
        );
    w();
    const l = r.limits;
    w(
      `## Limits (fixed window ${l.limit} per ${l.windowMs / 1000} s per key, ${options.limit.keys} keys): ${verdict(l.pass)}`,
    );
    w(
      `${l.windows} key-windows; ${l.saturated} exhausted (a 429 seen), of which ${l.saturated - l.excluded.length} judged: ` +
        `${l.exact} exactly ${l.limit}, largest deviation ${fmt(l.maxDeviationPct, 2)} %; ` +
        `allowed ${fmt(l.allowedInJudged)} vs ${fmt(l.expectedInJudged)} expected ` +
        `(${fmt(l.expectedInJudged ? ((l.allowedInJudged - l.expectedInJudged) / l.expectedInJudged) * 100 : 0, 3)} %).`,
    );
    w(
      `Over the limit: ${l.overLimit.length} windows; degraded-mode answers: ${l.degradedAnswers} in ${l.degradedWindows} windows ` +
        `(Redis timeouts logged, HMAC nonce checks: ${Object.entries(r.redisTimeoutsLogged)
          .map(([g, n]) => `${g} ${n}`)
          .join(', ')}); ` +
        `not judged (requests without an answer at the kill): ${
          l.excluded
            .map((x) => `key ${x.keyIndex + 1} allowed ${x.allowed} with ${x.unanswered} unanswered`)
            .join('; ') || 'none'
        }.`,
    );
    w(
      `Exhausted windows with no degraded answer (the shared Redis limit alone): ${l.clean.judged} judged, ` +
        `${l.clean.exact} exactly ${l.limit}, largest deviation ${fmt(l.clean.maxDeviationPct, 2)} %.`,
    );
    for (const x of [...new Set([...l.offWindows, ...l.overLimit])].slice(0, 10))
      w(
        `  !! key ${x.keyIndex + 1}, window ${new Date(x.start).toISOString()}: allowed ${x.allowed}, denied ${x.denied}, ` +
          `repeated remaining ${x.repeatedRemaining}, degraded ${x.degraded}`,
      );
    w();
    const v = r.revocation;
    w(
      `## Key revoked mid-run (every gateway refuses it within ${v.budgetMs} ms of the commit): ${verdict(v.pass)}`,
    );
    w(
      `\`keys revoke\` ran ${v.commandDoneAt - v.commandStartedAt} ms (node start-up included), committed ` +
        `${v.committedAt - v.commandStartedAt} ms after it started. Per gateway, ms after the commit (arrival at the gateway: request_logs at − total_ms): ` +
        Object.entries(v.gateways)
          .map(
            ([i, g]) =>
              `${instances[Number(i)]!.name} last allowed ${g.lastAllowedAfterMs === null ? '-' : fmt(g.lastAllowedAfterMs)}, ` +
              `first refused ${g.firstRefusalAfterMs === null ? '-' : fmt(g.firstRefusalAfterMs)}`,
          )
          .join('; ') +
        `. Allowed later than ${v.budgetMs} ms: ${v.allowedLate}; refused before the commit: ${v.refusedBefore}; other answers: ${v.other}.`,
    );
    w();
    const m = r.memory;
    w(
      `## Memory (RSS every ${r.settings.rssEveryS} s; growth = mean of the last ${m.averageMs / 1000} s over the mean of the first ` +
        `${m.averageMs / 1000} s after a ${m.warmupMs / 1000} s warm-up): ${verdict(m.pass)}`,
    );
    w(
      '| gateway | generation | survivor | after warm-up MiB | final MiB | min–max MiB | growth (VmRSS) | growth (RssAnon) | per minute MiB |',
    );
    w('|---|---:|---|---:|---:|---:|---:|---:|---|');
    for (const s of m.series)
      w(
        `| ${instances[s.instance]!.name} | ${s.generation} | ${s.survivor ? 'yes' : 'no'} | ${fmt(s.afterWarmupKb / 1024, 1)} | ` +
          `${fmt(s.finalKb / 1024, 1)} | ${fmt(s.minKb / 1024, 1)}–${fmt(s.maxKb / 1024, 1)} | ${fmt(s.growthPct, 1)} % | ` +
          `${fmt(s.anonGrowthPct, 1)} % | ${s.perMinuteKb.map((kb) => fmt(kb / 1024)).join(' ')} |`,
      );
    for (const { instance } of survivors) {
      const mine = r.heap.filter((h) => h.instance === instance && h.generation === 1);
      const used = mine.map((h) => h.heapUsedMb);
      const perMinute = new Map<number, number[]>();
      for (const h of mine) {
        const minute = Math.floor(h.t / 60_000);
        perMinute.set(minute, [...(perMinute.get(minute) ?? []), h.heapTotalMb]);
      }
      w(
        `${instances[instance]!.name}: V8 heap used ${fmt(Math.min(...used))}–${fmt(Math.max(...used))} MiB ` +
          `(sampled every ${fmt(Math.min(15, r.settings.durationS / 8))} s); heap committed per minute, MiB: ` +
          [...perMinute.values()].map((xs) => fmt(xs.reduce((a, b) => a + b, 0) / xs.length)).join(' '),
      );
    }
    w();
    w('## Gateway logs (warn and above, all generations)');
    for (const [name, counts] of Object.entries(r.logs)) {
      const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
      w(`${name}: ${entries.length === 0 ? 'nothing' : ''}`);
      for (const [message, count] of entries) w(`  ${count} × ${message}`);
    }
    if (r.problems.length > 0) {
      w();
      for (const p of r.problems) w(`!! ${p}`);
    }
    return out.join('\n');
  }
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    log(`soak: ${(error as Error).stack ?? error}`);
    await (cleanupHook ?? stopAllChildren)();
    process.exit(1);
  },
);
