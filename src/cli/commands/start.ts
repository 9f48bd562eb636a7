/**
 * `portcullis start`: run the gateway until SIGTERM/SIGINT; with `--workers N`, N gateway
 * processes on this machine sharing the ports (core/workers.ts), which needs shared state.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { RunningApp } from '../../app.js';
import type { LoadedConfig } from '../../config/load.js';
import { createLogger, exitAfterFlush } from '../../core/logger.js';
import {
  isShutdownMessage,
  parseWorkerCount,
  type ReadyMessage,
  WORKER_SLOT_ENV,
  WorkerPool,
} from '../../core/workers.js';
import { configFromCommand } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the gateway (proxy and admin listeners)')
    .option(
      '--workers <n>',
      'run N gateway processes sharing the ports ("auto": one per CPU); needs PORTCULLIS_REDIS_URL',
    )
    .action(async (flags: { workers?: string }, command: Command) => {
      const config = configFromCommand(command);
      const settings = config.settings;
      const logger = createLogger({ level: settings.logLevel, format: settings.logFormat });
      if (cluster.isWorker) return runWorker(config, logger);
      if (flags.workers === undefined) return runSingle(config, logger);
      return runPrimary(config, logger, workerCount(flags.workers, config));
    });
}

/** The number of workers, or a refusal (exit 2) saying why this configuration cannot have them. */
function workerCount(raw: string, config: LoadedConfig): number {
  let count: number;
  try {
    count = parseWorkerCount(raw, availableParallelism());
  } catch (error) {
    throw new CliError('invalid_input', (error as Error).message, EXIT_INVALID);
  }
  const settings = config.settings;
  if (!settings.redisUrl)
    throw new CliError(
      'invalid_configuration',
      '--workers needs shared state: set PORTCULLIS_REDIS_URL. With state in memory each worker ' +
        'would keep its own rate limits, HMAC nonces and login throttles, so limits would be N times ' +
        'too lenient and a replayed request could pass on another worker',
      EXIT_INVALID,
    );
  if (settings.demo === 'on')
    throw new CliError(
      'invalid_configuration',
      'demo mode runs in one process (its key lives in memory): drop --workers or set PORTCULLIS_DEMO=off',
      EXIT_INVALID,
    );
  return count;
}

function runSingle(config: LoadedConfig, logger: Logger): Promise<void> {
  return serve(config, logger, undefined);
}

/**
 * One gateway; `worker` is its slot under --workers. Signals: the first drains, a second exits
 * at once (a worker leaves that to the primary). A worker also drains when the primary asks
 * (IPC) or disappears.
 */
async function serve(config: LoadedConfig, logger: Logger, worker: number | undefined): Promise<void> {
  const settings = config.settings;
  let app: RunningApp | undefined;
  let stopping = false;
  const close = (running: RunningApp) =>
    running.close().then(
      () => {
        logger.info('stopped');
        exitAfterFlush(logger, 0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exitAfterFlush(logger, 1);
      },
    );
  const stop = (reason: string) => {
    if (stopping && worker !== undefined) {
      // A worker hears both a group-wide SIGTERM and the primary's shutdown message, in either
      // order: neither is a second signal. Escalating is the primary's job (it kills workers
      // on a second signal of its own).
      return;
    }
    if (stopping) {
      // A second signal means "now": skip the drain.
      logger.warn({ signal: reason }, 'second signal: exiting at once');
      exitAfterFlush(logger, 1, 100);
      return;
    }
    stopping = true;
    logger.info({ signal: reason }, 'shutting down: draining in-flight requests');
    // Asked while starting: stop as soon as it has started (below).
    if (app) void close(app);
  };
  // Installed before starting, so a stop asked during start-up is an orderly one too.
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (worker === undefined) {
    process.on('SIGINT', () => stop('SIGINT'));
  } else {
    // Ctrl-C sends SIGINT to the whole process group: the primary turns it into one orderly
    // shutdown message per worker, so a worker ignores it rather than counting two signals.
    process.on('SIGINT', () => undefined);
    // SIGTERM to the whole process group (systemd's control-group kill, `kill -TERM -pgid`)
    // reaches this worker and the primary, whose shutdown message arrives before or after it:
    // `stop` drains once whichever comes first.
    process.on('message', (message: unknown) => {
      if (isShutdownMessage(message)) stop('primary');
    });
    // If the primary dies, node:cluster exits the worker at once: it accepts nothing without
    // the primary anyway (the primary owns the listening sockets).
  }

  // Loaded here, not at the top: every other command (`keys list`, `--version`) would pay for
  // the whole gateway (proxy, pipeline, undici, ws, prom-client…) at start-up.
  const [{ startApp }, { workerMetrics }] = await Promise.all([
    import('../../app.js'),
    import('../../telemetry/cluster-metrics.js'),
  ]);
  app = await startApp({
    config,
    logger,
    ...(worker === undefined ? {} : { worker, clusterMetrics: workerMetrics }),
  });
  if (stopping) {
    void close(app);
    return;
  }
  if (app.demo) process.stdout.write(`${app.demo.banner(settings.proxyListen, settings.adminListen)}\n`);
  if (worker !== undefined) {
    const ready: ReadyMessage = {
      type: 'portcullis:ready',
      proxy: `${app.proxyAddress.address}:${app.proxyAddress.port}`,
      admin: `${app.adminAddress.address}:${app.adminAddress.port}`,
    };
    process.send?.(ready);
  }
}

function runWorker(config: LoadedConfig, logger: Logger): Promise<void> {
  const slot = Number(process.env[WORKER_SLOT_ENV] ?? cluster.worker?.id ?? 0);
  return serve(config, logger.child({ worker: slot }), slot);
}

async function runPrimary(config: LoadedConfig, logger: Logger, count: number): Promise<void> {
  let pool: WorkerPool | undefined;
  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: killing the workers and exiting at once');
      pool?.kill();
      exitAfterFlush(logger, 1, 100);
      return;
    }
    if (!pool) {
      // Preparing (migrations may be running): finish that, then stop without forking.
      logger.info({ signal }, 'stopping once the preparation (migrations) is done');
      return;
    }
    logger.info({ signal, workers: count }, 'shutting down: draining every worker');
    void pool.stop().then((code) => {
      logger.info({ code }, 'stopped');
      exitAfterFlush(logger, code);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  if (config.settings.demo === 'auto')
    logger.debug('demo mode is off under --workers (each worker would have its own demo key)');
  // Once, before any worker exists: migrations, the secret key file, the first-start admin user.
  const [{ prepareForWorkers }, { primaryMetrics }] = await Promise.all([
    import('../../app.js'),
    import('../../telemetry/cluster-metrics.js'),
  ]);
  await prepareForWorkers(config, logger);
  if (signals > 0) {
    exitAfterFlush(logger, 0);
    return;
  }
  pool = new WorkerPool({
    count,
    logger,
    onMessage: primaryMetrics(),
    // Each worker drains within shutdown_timeout_ms, then flushes and closes its stores.
    stopTimeoutMs: config.settings.shutdownTimeoutMs + 15_000,
  });
  const ready = await pool.start();
  logger.info(
    { workers: count, pids: pool.pids, proxy: ready.proxy, admin: ready.admin, state: 'redis' },
    'portcullis workers started',
  );
}
