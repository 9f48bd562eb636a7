/** `portcullis grants add|list|remove` — which client may call which route with which methods. */
import type { Command } from 'commander';
import { checkId } from '../../identity/operations.js';
import { withStore } from '../context.js';
import { CliError } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { parseList } from '../parse.js';

export function registerGrants(program: Command): void {
  const grants = program.command('grants').description('manage grants (client → route → methods)');

  grants
    .command('add')
    .description('grant a client methods on a route (replaces an existing grant)')
    .requiredOption('--client <id>')
    .requiredOption('--route <id>')
    .option('--methods <list>', 'comma-separated methods, or * for all the route serves', '*')
    .option('--json', 'print JSON')
    .action(
      async (flags: { client: string; route: string; methods: string; json?: boolean }, command: Command) => {
        const methods = (parseList(flags.methods) ?? []).map((m) => m.toUpperCase());
        if (methods.length === 0 || !methods.every((m) => m === '*' || /^[A-Z]{1,16}$/.test(m))) {
          throw new CliError('invalid_input', '--methods expects a comma-separated list of methods or *', 2);
        }
        await withStore(command, async ({ store }) => {
          if (!(await store.routes.get(checkId(flags.route, 'route')))) {
            process.stderr.write(
              `warning: route ${flags.route} does not exist (yet); the grant applies once it does\n`,
            );
          }
          const grant = await store.grants.upsert({ clientId: flags.client, routeId: flags.route, methods });
          if (flags.json) printJson({ client: grant.clientId, route: grant.routeId, methods: grant.methods });
          else
            process.stdout.write(
              `client ${grant.clientId} may call route ${grant.routeId} with ${grant.methods.join(',')}\n`,
            );
        });
      },
    );

  grants
    .command('list')
    .description('list grants')
    .option('--client <id>')
    .option('--route <id>')
    .option('--json', 'print JSON')
    .action(async (flags: { client?: string; route?: string; json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const all = await store.grants.list({
          ...(flags.client ? { clientId: flags.client } : {}),
          ...(flags.route ? { routeId: flags.route } : {}),
        });
        const rows = all.map((g) => ({ client: g.clientId, route: g.routeId, methods: g.methods.join(',') }));
        if (flags.json)
          printJson(all.map((g) => ({ client: g.clientId, route: g.routeId, methods: g.methods })));
        else printTable(rows, ['client', 'route', 'methods']);
      });
    });

  grants
    .command('remove')
    .description('remove a grant')
    .requiredOption('--client <id>')
    .requiredOption('--route <id>')
    .option('--json', 'print JSON')
    .action(async (flags: { client: string; route: string; json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const removed = await store.grants.remove(flags.client, flags.route);
        if (!removed)
          throw new CliError('not_found', `no grant for client ${flags.client} on route ${flags.route}`);
        if (flags.json) printJson({ client: flags.client, route: flags.route, removed: true });
        else process.stdout.write('grant removed\n');
      });
    });
}
