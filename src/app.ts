/**
 * Composition root: configuration → secret key → store → hot state → snapshots → pipeline →
 * listeners. The only module that knows every other; everything else receives what it
 * needs as arguments.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ensureInitialAdmin } from './admin/auth/bootstrap.js';
import { createAdminServer, type ReadinessCheck } from './admin/server.js';
import { type Alert, createWebhookSender, type WebhookSender } from './alerts/webhook.js';
import { AnomalyAggregator } from './anomaly/aggregator.js';
import { parseRules } from './anomaly/rules.js';
import { AnomalyService, protectedNetworks } from './anomaly/service.js';
import { databaseConnection, redisConnection } from './config/connections.js';
import { LiveSettings, parseLiveOverrides } from './config/live.js';
import type { LoadedConfig } from './config/load.js';
import { type Clock, systemClock } from './core/clock.js';
import { announceConfigChange, ConfigWatcher } from './core/config-watcher.js';
import { deriveSecretKeys } from './core/crypto.js';
import { InstanceRegistry } from './core/instances.js';
import { checkKeyFingerprint, loadSecretKey, sharedStatePrefix } from './core/secret-key.js';
import { VERSION } from './core/version.js';
import { type Demo, startDemo } from './demo/demo.js';
import { AUTHZ_PATH, createForwardAuth } from './forward-auth/authz.js';
import { createProxyServer, type Outcome, type ProxyServer } from './gateway/proxy-server.js';
import { UpstreamPools } from './gateway/upstreams.js';
import { IdentityCatalog } from './identity/catalog.js';
import { KeyUsage } from './identity/usage.js';
import { KeyBindings } from './ip-controls/bindings.js';
import { Blocklist } from './ip-controls/blocklist.js';
import { InterceptRecorder } from './ip-controls/intercepts.js';
import { CircuitBreaker } from './limits/breaker.js';
import { MemoryLimiter } from './limits/memory.js';
import { PolicyCatalog } from './limits/policy-catalog.js';
import { RedisLimiter } from './limits/redis.js';
import type { RateLimiter } from './limits/types.js';
import { compileCidrSet } from './net/cidr.js';
import { compileCidrs, createClientIpResolver } from './net/client-ip.js';
import { createPipeline } from './pipeline/pipeline.js';
import { authenticateStage } from './pipeline/stages/authenticate.js';
import { authorizeStage } from './pipeline/stages/authorize.js';
import { budgetStage } from './pipeline/stages/budget.js';
import { credentialStage } from './pipeline/stages/credentials.js';
import { ipGateStage, ipRulesStage } from './pipeline/stages/ip-rules.js';
import { type DegradedMode, limitsStage } from './pipeline/stages/limits.js';
import { routeStage } from './pipeline/stages/route.js';
import { RouteCatalog } from './routing/catalog.js';
import type { RouteSpec } from './routing/spec.js';
import { openState } from './state/open-state.js';
import type { HotState } from './state/types.js';
import { isInMemoryDatabase, openStore } from './store/open-store.js';
import type { Store } from './store/types.js';
import { auditedStore } from './telemetry/audit.js';
import { createMetrics } from './telemetry/metrics.js';
import { RequestRecorder } from './telemetry/recorder.js';
import { createVerifyApi, VERIFY_PATH } from './verify/verify-api.js';

export interface AppOptions {
  config: LoadedConfig;
  logger: Logger;
  clock?: Clock;
  /** Observe every request's outcome (tests; the telemetry recorder). */
  onOutcome?: (outcome: Outcome) => void;
  /** Its slot under `portcullis start --workers N`, shown in the instance list. */
  worker?: number;
  /**
   * Under `--workers`: given this worker's metrics registry, the scrape the admin listener
   * serves instead of its own (every worker's metrics merged by the primary).
   */
  clusterMetrics?: (registry: Registry) => () => Promise<{ contentType: string; body: string }>;
}

export interface RunningApp {
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly store: Store;
  readonly state: HotState;
  readonly demo: Demo | undefined;
  /** Reload configuration snapshots now (tests; after local changes). */
  reload(): Promise<void>;
  /** Graceful stop: drain in-flight requests (bounded), close listeners and stores. */
  close(): Promise<void>;
}

export const DEFAULT_ROUTE_ID = 'default';

export async function startApp(options: AppOptions): Promise<RunningApp> {
  const { config, logger } = options;
  const settings = config.settings;
  const clock = options.clock ?? systemClock;
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((error: unknown) => logger.warn({ err: error }, 'close failed'));
  };

  try {
    const secret = await loadSecretKey({
      value: settings.secretKey,
      source: config.sources.secretKey.name,
      dataDir: settings.dataDir,
      logger,
    });
    const store = await openStore({
      url: settings.databaseUrl as string,
      poolSize: settings.databasePoolSize,
      ...databaseConnection(settings),
      clock,
      logger,
    });
    cleanups.push(() => store.close());
    // Under `start --workers` the primary migrated and did the first-start work before forking.
    const prepared = options.worker !== undefined;
    if (!prepared) await migrate(store, logger);
    await checkKeyFingerprint(store, secret.key);
    const keys = deriveSecretKeys(secret.key);

    const keyPrefix = sharedStatePrefix(secret.key);
    const state = await openState({
      redisUrl: settings.redisUrl,
      redis: { commandTimeoutMs: settings.redisTimeout, ...redisConnection(settings) },
      keyPrefix,
      clock,
      logger,
    });
    cleanups.push(() => state.close());

    if (!prepared) await firstStart(store, state, settings, clock, logger);

    let demo: Demo | undefined;
    const routeCount = (await store.routes.list()).length;
    // Not under --workers: each worker would have its own demo key (the primary refuses demo=on).
    if (
      !prepared &&
      (settings.demo === 'on' || (settings.demo === 'auto' && routeCount === 0 && !settings.upstreamUrl))
    ) {
      demo = await startDemo({ keyPrefix: settings.keyPrefix, keys, clock });
      const d = demo;
      cleanups.push(() => d.close());
    }

    const catalog = new RouteCatalog({
      store,
      defaults: { upstreamTimeoutMs: settings.upstreamTimeoutMs },
      logger,
      fallback: demo?.routes ?? [],
    });
    await catalog.refresh();
    const identity = new IdentityCatalog({
      store,
      keys,
      clock,
      logger,
      cacheTtlMs: settings.keyCacheTtlMs,
      cacheSize: settings.keyCacheSize,
      overlay: demo?.identity,
    });
    await identity.refresh();
    const policies = new PolicyCatalog({ store, logger, overlay: demo?.policies ?? [] });
    await policies.refresh();
    // The limiter follows the state: in memory for one instance, Redis (one Lua script per
    // request, Redis server time) when instances share state.
    const localLimiter = new MemoryLimiter({ clock });
    let limiter: RateLimiter = localLimiter;
    let breaker: CircuitBreaker | undefined;
    let degradedMode: DegradedMode | undefined;
    let degradedAt = 0;
    /** The degraded mode in force, if one was used in the last few seconds. */
    const currentDegraded = () =>
      degradedMode && clock.monotonic() - degradedAt < 5_000 ? degradedMode : undefined;
    // Listener addresses are known once bound; the degraded mode is read at each beat.
    let listening: { proxy: string; admin: string } | undefined;
    const instances = new InstanceRegistry({
      state,
      logger,
      version: VERSION,
      startedAt: clock.now(),
      worker: options.worker,
      describe: () => ({
        proxy: listening?.proxy ?? null,
        admin: listening?.admin ?? null,
        degraded: currentDegraded() ?? null,
      }),
    });
    await instances.start();
    cleanups.push(() => instances.stop());
    if (settings.redisUrl) {
      limiter = await RedisLimiter.connect({
        url: settings.redisUrl,
        ...redisConnection(settings),
        commandTimeoutMs: settings.redisTimeout,
        keyPrefix,
        logger,
      });
      const shared = limiter;
      cleanups.push(() => shared.close());
      breaker = new CircuitBreaker({ clock });
    }
    const usage = new KeyUsage({ store, state, clock, logger });
    usage.start(5_000);
    cleanups.push(() => usage.stop());
    const pools = new UpstreamPools({ connections: settings.upstreamConnections });
    cleanups.push(() => pools.close());

    // IP controls: blocklist snapshot, key bindings (cached, last-seen batched, archived),
    // intercepts and their webhook alerts.
    const blocklist = new Blocklist({ store, clock, logger });
    await blocklist.refresh();
    const bindings = new KeyBindings({ store, clock, logger, cacheSize: settings.keyCacheSize });
    bindings.start(30_000);
    cleanups.push(() => bindings.stop());
    // Live settings: configured values, overridden through the admin API on every instance.
    const live = new LiveSettings(settings);
    const loadLive = async () => live.apply(parseLiveOverrides(await store.liveSettings.get()));
    await loadLive().catch((error: unknown) =>
      logger.warn({ err: error }, 'stored live settings unreadable; using the configured values'),
    );
    const alerts = openAlerts(settings, store, logger);
    cleanups.push(() => alerts.drain());
    const intercepts = new InterceptRecorder({
      store,
      state,
      clock,
      logger,
      alerts: {
        // Getters: live settings change without a restart.
        get threshold() {
          return live.interceptAlertThreshold;
        },
        get windowS() {
          return live.interceptAlertWindowS;
        },
        send: alerts.send,
      },
    });
    cleanups.push(() => intercepts.drain());
    // Anomaly detection: counts per identity on the request path (in memory, flushed to the
    // state), judged once per interval by whichever instance holds the lease. Always built:
    // the mode is a live setting, so `off` can become `on` without a restart.
    const anomalyAggregator = new AnomalyAggregator({
      state,
      clock,
      logger,
      intervalMs: settings.anomalyInterval,
    });
    anomalyAggregator.start();
    // Metrics are created further down; the detector reports to them once they exist.
    let onAnomaly: ((signal: string, action: string) => void) | undefined;
    const anomalies = new AnomalyService({
      store,
      state,
      clock,
      logger,
      instanceId: instances.id,
      aggregator: anomalyAggregator,
      mode: () => live.anomalyDetection,
      rules: parseRules(settings.anomalyRules),
      cooldownMs: settings.anomalyCooldown,
      send: alerts.send,
      // Never blocked automatically: everyone behind them would be cut off with the culprit.
      protectedAddress: protectedNetworks(settings.trustedProxies),
      onAnomaly: (a) => onAnomaly?.(a.signal, a.action),
    });
    anomalies.start();
    // Stopped before the state closes (cleanups run in reverse): the leader saves and hands over.
    cleanups.push(async () => {
      await anomalies.stop();
      await anomalyAggregator.stop();
    });
    const housekeeping = startHousekeeping(store, bindings, settings, clock, logger);
    cleanups.push(async () => clearInterval(housekeeping));

    const watcher = new ConfigWatcher({ store, state, pollMs: settings.configPollMs, logger });
    watcher.onChange(async () => {
      bindings.invalidate();
      await Promise.all([
        catalog.refresh(),
        identity.refresh(),
        policies.refresh(),
        blocklist.refresh(),
        loadLive(),
      ]);
      pools.retain(new Set(catalog.table.routes.map((r) => r.upstream.origin)));
    });
    await watcher.start();
    cleanups.push(() => watcher.stop());
    // Every change this instance commits (admin API, anomaly blocks, …) is announced at once to
    // every instance, this one included; the version poll only covers a lost announcement.
    const stopAnnouncing = store.onConfigChange((version) => {
      announceConfigChange(state, version).catch((error: unknown) =>
        logger.warn(
          { err: error, version },
          'could not announce a configuration change; the version poll will',
        ),
      );
    });
    cleanups.push(async () => stopAnnouncing());

    // The decision pipeline: the order of stages lives here and nowhere else.
    const decide = createPipeline([
      ipGateStage({
        blocklist,
        allow: compileCidrSet(settings.globalIpAllow),
        deny: compileCidrSet(settings.globalIpDeny),
      }),
      routeStage(catalog.current),
      credentialStage({ queryParam: settings.apiKeyQueryParam }),
      authenticateStage({
        identity,
        state,
        clock,
        logger,
        hmacWindowS: settings.hmacWindowS,
        hmacBodyLimitBytes: settings.hmacBodyLimitBytes,
      }),
      authorizeStage(identity),
      ipRulesStage({ blocklist, bindings, intercepts, failsafe: live, logger }),
      budgetStage(usage, logger),
      limitsStage({
        policies,
        limiter,
        local: limiter === localLimiter ? undefined : localLimiter,
        breaker,
        liveInstances: () => instances.live,
        usage,
        logger,
        onDegraded: (mode) => {
          degradedMode = mode;
          degradedAt = clock.monotonic();
        },
      }),
    ]);
    const resolveClientIp = createClientIpResolver(settings.trustedProxies, settings.clientIpHeader);
    const pathOptions = {
      pathCaseInsensitive: settings.pathCaseInsensitive,
      pathAllowSemicolons: settings.pathAllowSemicolons,
    };
    let forwardAuth: ReturnType<typeof createForwardAuth> | undefined;
    let verifyApi: ReturnType<typeof createVerifyApi> | undefined;

    const readiness = async (): Promise<ReadinessCheck[]> => {
      const [db, hot] = await Promise.all([store.health(), state.health()]);
      const degraded = currentDegraded();
      return [
        {
          name: `store:${db.dialect}`,
          ok: db.ok,
          latencyMs: db.latencyMs,
          detail: db.error,
          shared: db.dialect === 'postgres',
        },
        {
          name: `state:${hot.kind}`,
          ok: hot.ok,
          latencyMs: hot.latencyMs,
          detail: hot.error,
          shared: hot.kind === 'redis',
        },
        // Degraded rate limiting keeps serving (local/open): said, not a failure. `closed` refuses
        // the routes configured so; its cause is the shared Redis, so every instance is in it
        // at once (shared: degraded, not unready, unless ?strict).
        {
          name: 'rate-limits',
          ok: degraded !== 'closed',
          shared: true,
          ...(degraded
            ? { detail: `degraded: ${degraded}` }
            : { detail: breaker ? `breaker ${breaker.state}` : 'in memory' }),
        },
      ];
    };
    // Prometheus metrics: counted in memory per request, turned into text only when scraped.
    const metrics = createMetrics({
      version: VERSION,
      health: async () => (await readiness()).map((check) => ({ name: check.name, ok: check.ok })),
      degradedMode: () => currentDegraded(),
      queueDepth: () => recorder.depth,
      anomalyLeader: () => live.anomalyDetection !== 'off' && anomalies.leader,
      configVersion: () => watcher.version,
    });
    onAnomaly = (signal, action) => metrics.anomalyRecorded(signal, action);
    // Every decision is recorded (queued, written in batches; flushed at shutdown after the
    // proxy has drained, so every answered request is in the log).
    const recorder = new RequestRecorder({
      store,
      clock,
      logger,
      enabled: settings.requestLog,
      queueSize: settings.recorderQueueSize,
      batchSize: settings.recorderBatchSize,
      flushMs: settings.recorderFlushMs,
      retentionDays: settings.logRetentionDays,
      get accessLogSample() {
        return live.accessLogSample;
      },
      onWritten: (n) => metrics.recordsWritten(n),
      onDropped: (n) => metrics.recordsDropped(n),
      // Written from a worker thread with one connection of its own, unless turned off or the
      // database is an in-memory SQLite one, which only this connection can see.
      ...(!settings.recorderThread || isInMemoryDatabase(settings.databaseUrl as string)
        ? {}
        : {
            thread: {
              url: settings.databaseUrl as string,
              poolSize: 1,
              ...databaseConnection(settings),
            },
          }),
    });
    recorder.start();
    cleanups.push(async () => void (await recorder.stop(settings.shutdownTimeoutMs)));
    const observers = [
      (o: Outcome) => metrics.observe(o),
      (o: Outcome) => {
        if (live.anomalyDetection !== 'off') anomalyAggregator.observe(o);
      },
      ...(settings.requestLog || settings.accessLogSample > 0 ? [(o: Outcome) => recorder.record(o)] : []),
      ...(options.onOutcome ? [options.onOutcome] : []),
    ];
    const onOutcome =
      observers.length === 0
        ? undefined
        : observers.length === 1
          ? observers[0]
          : (outcome: Outcome) => {
              for (const observe of observers) observe(outcome);
            };

    const proxy: ProxyServer = createProxyServer({
      decide,
      facts: { ...pathOptions, resolveClientIp },
      limits: {
        maxHeaderBytes: settings.maxHeaderBytes,
        headersTimeoutMs: settings.headersTimeoutMs,
        requestTimeoutMs: settings.requestTimeoutMs,
        keepAliveTimeoutMs: settings.keepAliveTimeoutMs,
      },
      pools,
      bodyIdleTimeoutMs: settings.upstreamIdleTimeoutMs,
      headerPolicy: { identityAliases: settings.identityHeaderAliases, traceparent: settings.traceparent },
      logger,
      onOutcome,
      reserved: (req, res, facts, context) => {
        if (facts.path === '/_portcullis/health') {
          const ok = !proxy.draining;
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
          res.end(JSON.stringify({ status: ok ? 'ok' : 'draining' }));
          return true;
        }
        if (facts.path === AUTHZ_PATH || facts.path.startsWith(`${AUTHZ_PATH}/`)) {
          forwardAuth ??= createForwardAuth({
            decide,
            trusted: settings.trustedProxies.length > 0 ? compileCidrs(settings.trustedProxies) : undefined,
            resolveClientIp,
            identityAliases: settings.identityHeaderAliases,
            mode: settings.forwardAuthMode,
            ...pathOptions,
            report: context.report,
            onFault: context.fault,
          });
          forwardAuth(req, res, facts);
          return true;
        }
        if (facts.path === VERIFY_PATH) {
          verifyApi ??= createVerifyApi({
            decide,
            identity,
            keys,
            clock,
            ...pathOptions,
            report: context.report,
            onFault: context.fault,
          });
          void verifyApi(req, res, facts);
          return true;
        }
        return false;
      },
    });

    const admin = createAdminServer({
      logger,
      version: VERSION,
      isDraining: () => proxy.draining,
      readiness,
      configVersions: async () => ({
        serving: watcher.version,
        latest: await store.configVersion().catch(() => null),
      }),
      metrics: options.clusterMetrics ? options.clusterMetrics(metrics.registry) : () => metrics.scrape(),
      api: { store, keys, clock, settings, logger, state, anomalies, instances },
      trustedProxies: settings.trustedProxies,
      console: settings.console ? { dir: settings.consoleDir } : false,
    });
    cleanups.push(() => admin.close());

    const proxyAddress = await proxy.listen(settings.proxyListen);
    cleanups.push(() => proxy.drain(settings.shutdownTimeoutMs));
    await admin.listen({ host: settings.adminListen.host, port: settings.adminListen.port });
    const adminAddress = admin.server.address() as AddressInfo;
    listening = {
      proxy: hostPort(proxyAddress),
      admin: hostPort(adminAddress),
    };
    await instances.beat();

    logger.info(
      {
        proxy: `${proxyAddress.address}:${proxyAddress.port}`,
        admin: `${adminAddress.address}:${adminAddress.port}`,
        store: store.dialect,
        state: state.kind,
        routes: catalog.table.routes.length,
        demo: demo !== undefined,
        version: VERSION,
      },
      'portcullis started',
    );

    let closing: Promise<void> | undefined;
    return {
      proxyAddress,
      adminAddress,
      store,
      state,
      demo,
      reload: () => watcher.reload(),
      close() {
        // Order (reverse of start): stop the proxy first so no new work arrives, then the
        // admin listener, the watcher, pools, demo upstream, state and store.
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * What `start --workers` does once in the primary before forking: the secret key (generated
 * once), migrations, the key fingerprint check and the first-start work (catch-all route,
 * admin user), so N workers neither race for them nor print the admin password N times.
 */
export async function prepareForWorkers(
  config: LoadedConfig,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<void> {
  const settings = config.settings;
  const secret = await loadSecretKey({
    value: settings.secretKey,
    source: config.sources.secretKey.name,
    dataDir: settings.dataDir,
    logger,
  });
  const store = await openStore({
    url: settings.databaseUrl as string,
    poolSize: 2,
    ...databaseConnection(settings),
    clock,
    logger,
  });
  try {
    await migrate(store, logger);
    await checkKeyFingerprint(store, secret.key);
    await firstStart(store, undefined, settings, clock, logger);
  } finally {
    await store.close();
  }
}

async function migrate(store: Store, logger: Logger): Promise<void> {
  const migrated = await store.migrate();
  if (migrated.applied.length > 0) logger.info({ migrations: migrated.applied }, 'database migrated');
}

/** The catch-all route from PORTCULLIS_UPSTREAM_URL and the admin user, on the first start. */
async function firstStart(
  store: Store,
  state: HotState | undefined,
  settings: LoadedConfig['settings'],
  clock: Clock,
  logger: Logger,
): Promise<void> {
  await bootstrapUpstreamRoute(store, state, settings.upstreamUrl, logger);

  // First start: an admin user, with the configured password or a random one shown once.
  const initialAdmin = await ensureInitialAdmin(
    auditedStore(store, { actor: 'system', source: 'start' }, clock),
    { password: settings.adminPassword },
  );
  if (initialAdmin.created) {
    if (initialAdmin.generated)
      // Straight to the terminal, not through the logger: a password must not sit in log files.
      process.stderr.write(
        `\n  Portcullis admin user created: ${initialAdmin.username} / ${initialAdmin.password}\n` +
          '  (shown once; sign in to the console at /admin/ui/ on the admin listener and change it,\n' +
          '  or set PORTCULLIS_ADMIN_PASSWORD)\n\n',
      );
    logger.info({ user: initialAdmin.username, generated: initialAdmin.generated }, 'admin user created');
  }
}

/**
 * Alerts go to the configured webhook (signed, retried, every delivery recorded without the
 * URL's path or credentials, which for incoming webhooks are the secret); without one they are
 * logged, so an alert is never silently lost.
 */
function openAlerts(
  settings: LoadedConfig['settings'],
  store: Store,
  logger: Logger,
): { send: (alert: Alert) => void; drain: () => Promise<void> } {
  if (!settings.alertWebhookUrl) {
    return {
      send: (alert) => logger.warn({ alert }, 'alert (no alert_webhook_url configured)'),
      drain: async () => undefined,
    };
  }
  const sender: WebhookSender = createWebhookSender({
    target: {
      url: settings.alertWebhookUrl,
      secret: settings.alertWebhookSecret,
      format: settings.alertWebhookFormat,
    },
    log: {
      record: (delivery) => store.alertDeliveries.insert({ ...delivery, url: new URL(delivery.url).origin }),
    },
    logger,
  });
  return {
    send: (alert) => sender.send(alert),
    drain: async () => {
      if (!(await sender.drain(5_000)))
        logger.warn({ pending: sender.pending }, 'alerts still pending at shutdown');
    },
  };
}

/**
 * Hourly: archive key bindings unused for `archive_days`; drop blocks expired over a week ago;
 * drop intercepts, alert deliveries and archived bindings older than `log_retention_days`.
 */
function startHousekeeping(
  store: Store,
  bindings: KeyBindings,
  settings: LoadedConfig['settings'],
  clock: Clock,
  logger: Logger,
): NodeJS.Timeout {
  const { archiveDays, logRetentionDays } = settings;
  const run = async () => {
    try {
      const archived = await bindings.archive(archiveDays);
      if (archived > 0) logger.info({ archived, archiveDays }, 'unused key bindings archived');
      const now = clock.now();
      await store.blocks.pruneExpired(now - 7 * 86_400_000);
      const retained = now - logRetentionDays * 86_400_000;
      await store.intercepts.prune(retained);
      await store.anomalies.prune(retained);
      await store.alertDeliveries.prune(retained);
      await store.bindings.pruneArchive(retained);
      await store.adminSessions.pruneExpired(now);
    } catch (error) {
      logger.warn({ err: error }, 'housekeeping failed; will retry');
    }
  };
  void run();
  const timer = setInterval(() => void run(), 3_600_000);
  timer.unref();
  return timer;
}

/**
 * PRODUCT.md §2: with PORTCULLIS_UPSTREAM_URL set, the first start creates one catch-all
 * route to it that requires an API key. Done once (remembered in meta) so deleting that
 * route later is respected.
 */
async function bootstrapUpstreamRoute(
  store: Store,
  state: HotState | undefined,
  upstreamUrl: string | undefined,
  logger: Logger,
): Promise<void> {
  if (!upstreamUrl) return;
  if ((await store.meta.get('upstream_bootstrapped')) !== undefined) return;
  if ((await store.routes.list()).length > 0) {
    await store.meta.set('upstream_bootstrapped', 'skipped: routes existed');
    return;
  }
  const spec: RouteSpec = {
    id: DEFAULT_ROUTE_ID,
    description: 'Catch-all created on first start from PORTCULLIS_UPSTREAM_URL',
    host: '*',
    path: '/*',
    methods: { '*': ['api_key'] },
    upstream: { url: upstreamUrl },
  };
  await store.write(async (repos) => {
    await repos.routes.insert(spec);
    await repos.meta.set('upstream_bootstrapped', new Date().toISOString());
  });
  // Before any gateway runs (the primary of --workers) there is nobody to tell.
  if (state) await announceConfigChange(state, await store.configVersion());
  logger.info(
    { route: DEFAULT_ROUTE_ID, upstream: upstreamUrl },
    'first start: created catch-all route "default" to PORTCULLIS_UPSTREAM_URL; it requires an API key: portcullis clients add --name "My App" --id my-app && portcullis grants add --client my-app --route default && portcullis keys create --client my-app',
  );
}

/** `host:port`, IPv6 hosts in brackets. */
function hostPort(address: AddressInfo): string {
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}
