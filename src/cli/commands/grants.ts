/** `portcullis grants add|list|remove` — which client may call which route with which methods (admin API /grants). */
import type { Command } from 'commander';
import { withAdmin } from '../context.js';
import { printJson, printTable } from '../output.js';
import { parseList } from '../parse.js';

interface GrantView {
  client: string;
  route: string;
  methods: string[];
  createdAt: string;
}

/** What `--json` printed before the API (no timestamp). */
const shape = (g: GrantView) => ({ client: g.client, route: g.route, methods: g.methods });

export function registerGrants(program: Command): void {
  const grants = program.command('grants').description('manage grants (client → route → methods)');

  grants
    .command('add')
    .description('grant a client methods on a route (replaces an existing grant); both must exist')
    .requiredOption('--client <id>')
    .requiredOption('--route <id>')
    .option('--methods <list>', 'comma-separated methods, or * for all the route serves', '*')
    .option('--json', 'print JSON')
    .action(
      async (flags: { client: string; route: string; methods: string; json?: boolean }, command: Command) => {
        const body = { client: flags.client, route: flags.route, methods: parseList(flags.methods) ?? [] };
        await withAdmin(command, async (api) => {
          const grant = await api.post<GrantView>('/grants', body);
          if (flags.json) printJson(shape(grant));
          else
            process.stdout.write(
              `client ${grant.client} may call route ${grant.route} with ${grant.methods.join(',')}\n`,
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
      await withAdmin(command, async (api) => {
        const all = await api.all<GrantView>('/grants', { client: flags.client, route: flags.route });
        if (flags.json) printJson(all.map(shape));
        else
          printTable(
            all.map((g) => ({ client: g.client, route: g.route, methods: g.methods.join(',') })),
            ['client', 'route', 'methods'],
          );
      });
    });

  grants
    .command('remove')
    .description('remove a grant')
    .requiredOption('--client <id>')
    .requiredOption('--route <id>')
    .option('--json', 'print JSON')
    .action(async (flags: { client: string; route: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const removed = await api.delete(
          `/grants/${encodeURIComponent(flags.client)}/${encodeURIComponent(flags.route)}`,
        );
        if (flags.json) printJson(removed);
        else process.stdout.write('grant removed\n');
      });
    });
}
