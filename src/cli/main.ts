/**
 * The `portcullis` command. Every setting is also a global flag (`--proxy-listen`, …), the
 * highest-precedence source. Exit codes: 0 ok, 1 failed, 2 invalid configuration or input.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { flagName, settingDefs, settingKeys } from '../config/settings.js';
import { SpecError } from '../core/spec-error.js';
import { VERSION } from '../core/version.js';
import { ConflictError, NotFoundError } from '../store/errors.js';
import { registerConfig, registerMigrate } from './commands/admin-db.js';
import { registerAdmin } from './commands/admin-tokens.js';
import { registerAnomalies } from './commands/anomalies.js';
import { registerAnomalySmoke } from './commands/anomaly-smoke.js';
import { registerBindings } from './commands/bindings.js';
import { registerBlocks } from './commands/blocks.js';
import { registerClients } from './commands/clients.js';
import { registerDeclarative } from './commands/declarative.js';
import { registerGrants } from './commands/grants.js';
import { registerInstances } from './commands/instances.js';
import { registerJwt } from './commands/jwt.js';
import { registerKeys } from './commands/keys.js';
import { registerPolicies } from './commands/policies.js';
import { registerRoutes } from './commands/routes.js';
import { registerSettings } from './commands/settings.js';
import { registerSign } from './commands/sign.js';
import { registerStart } from './commands/start.js';
import { registerTelemetry } from './commands/telemetry.js';
import { CliError, EXIT_FAILURE, EXIT_INVALID } from './errors.js';

/** Command groups that are admin API calls, so they also work against a remote admin API. */
const REMOTE_GROUPS = new Set([
  'clients',
  'keys',
  'routes',
  'grants',
  'policies',
  'jwt-providers',
  'bindings',
  'blocks',
  'logs',
  'usage',
  'audit',
  'admin',
  'apply',
  'export',
  'settings',
  'anomalies',
  'anomaly',
  'instances',
]);

function addRemoteOptions(program: Command): void {
  const visit = (command: Command) => {
    if (command.commands.length > 0) {
      for (const sub of command.commands) visit(sub);
      return;
    }
    command
      .option('--url <url>', 'remote admin API, e.g. http://127.0.0.1:8081 (or PORTCULLIS_URL)')
      .option('--token <token>', 'admin API token for --url (or PORTCULLIS_TOKEN)');
  };
  for (const group of program.commands) if (REMOTE_GROUPS.has(group.name())) visit(group);
}

export function buildProgram(): Command {
  const program = new Command('portcullis')
    .description('Portcullis: API gateway and auth service')
    .version(VERSION)
    .option('--config <file>', 'config file (default ./portcullis.yaml)')
    .showHelpAfterError()
    .exitOverride();
  for (const key of settingKeys) {
    program.option(`${flagName(key)} <value>`, settingDefs[key].description);
  }
  registerStart(program);
  registerMigrate(program);
  registerConfig(program);
  registerRoutes(program);
  registerDeclarative(program);
  registerClients(program);
  registerKeys(program);
  registerBindings(program);
  registerBlocks(program);
  registerTelemetry(program);
  registerGrants(program);
  registerJwt(program);
  registerPolicies(program);
  registerSign(program);
  registerSettings(program);
  registerAnomalies(program);
  registerAnomalySmoke(program);
  registerInstances(program);
  registerAdmin(program);
  addRemoteOptions(program);
  const overrideAll = (command: Command) => {
    command.exitOverride();
    for (const sub of command.commands) overrideAll(sub);
  };
  overrideAll(program);
  return program;
}

function report(code: string, message: string, exitCode: number, json: boolean): never {
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  else process.stderr.write(`error[${code}]: ${message}\n`);
  process.exit(exitCode);
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.exitCode === 0 ||
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version'
      )
        process.exit(0);
      process.exit(EXIT_INVALID);
    }
    if (error instanceof ConfigError) report('invalid_configuration', error.message, EXIT_INVALID, json);
    if (error instanceof SpecError)
      report('invalid_input', `\n  ${error.message.replaceAll('\n', '\n  ')}`, EXIT_INVALID, json);
    if (error instanceof NotFoundError) report('not_found', error.message, EXIT_FAILURE, json);
    if (error instanceof ConflictError) report('conflict', error.message, EXIT_FAILURE, json);
    if (error instanceof CliError) report(error.code, error.message, error.exitCode, json);
    report('failed', (error as Error).message ?? String(error), EXIT_FAILURE, json);
  }
}
