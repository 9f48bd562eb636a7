/** `portcullis migrate` and `portcullis config show` */
import type { Command } from 'commander';
import { databaseConnection } from '../../config/connections.js';
import { explainConfig } from '../../config/load.js';
import { createLogger } from '../../core/logger.js';
import { openStore } from '../../store/open-store.js';
import { configFromCommand } from '../context.js';
import { printJson, printTable } from '../output.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (also done at start-up)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const config = configFromCommand(command);
      const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
      const store = await openStore({
        url: config.settings.databaseUrl as string,
        poolSize: 1,
        ...databaseConnection(config.settings),
        logger,
      });
      try {
        const report = await store.migrate();
        if (flags.json) printJson({ dialect: store.dialect, applied: report.applied });
        else if (report.applied.length === 0) process.stdout.write(`${store.dialect}: up to date\n`);
        else process.stdout.write(`${store.dialect}: applied ${report.applied.join(', ')}\n`);
      } finally {
        await store.close();
      }
    });
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('inspect configuration');
  config
    .command('show')
    .description('print the effective configuration with the source of each value (secrets masked)')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }, command: Command) => {
      const loaded = configFromCommand(command);
      const rows = explainConfig(loaded);
      if (flags.json) {
        printJson({ configFile: loaded.configFile ?? null, settings: rows });
        return;
      }
      if (loaded.configFile) process.stdout.write(`config file: ${loaded.configFile}\n`);
      printTable(rows, ['key', 'value', 'source']);
    });
}
