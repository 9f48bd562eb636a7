/** `portcullis start`: run the gateway until SIGTERM/SIGINT. */
import type { Command } from 'commander';
import { startApp } from '../../app.js';
import { createLogger, exitAfterFlush } from '../../core/logger.js';
import { configFromCommand } from '../context.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the gateway (proxy and admin listeners)')
    .action(async (_flags: unknown, command: Command) => {
      const config = configFromCommand(command);
      const settings = config.settings;
      const logger = createLogger({ level: settings.logLevel, format: settings.logFormat });
      const app = await startApp({ config, logger });
      if (app.demo) process.stdout.write(`${app.demo.banner(settings.proxyListen, settings.adminListen)}\n`);

      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          // A second signal means "now": skip the drain.
          logger.warn({ signal }, 'second signal: exiting at once');
          exitAfterFlush(logger, 1, 100);
          return;
        }
        stopping = true;
        logger.info({ signal }, 'shutting down: draining in-flight requests');
        app.close().then(
          () => {
            logger.info('stopped');
            exitAfterFlush(logger, 0);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            exitAfterFlush(logger, 1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
