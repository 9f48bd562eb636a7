/** `portcullis clients add|list|show|update|suspend|revoke|activate|remove|hmac-secret` (admin API /clients) */
import type { Command } from 'commander';
import { withAdmin } from '../context.js';
import { printJson, printTable } from '../output.js';
import { collect, parsePairs } from '../parse.js';

interface ClientView {
  id: string;
  name: string;
  status: string;
  createdAt: string;
}

const path = (id: string) => `/clients/${encodeURIComponent(id)}`;

export function registerClients(program: Command): void {
  const clients = program.command('clients').description('manage clients (API consumers)');

  clients
    .command('add')
    .description('add a client')
    .requiredOption('--name <name>', 'display name (sent upstream as X-Portcullis-Client-Name)')
    .option('--id <id>', 'id (default: derived from the name)')
    .option('--meta <key=value>', 'metadata, repeatable', collect)
    .option('--json', 'print JSON')
    .action(
      async (flags: { name: string; id?: string; meta?: string[]; json?: boolean }, command: Command) => {
        const body = { name: flags.name, id: flags.id, metadata: parsePairs('--meta', flags.meta) };
        await withAdmin(command, async (api) => {
          const client = await api.post<ClientView>('/clients', body);
          if (flags.json) printJson(client);
          else process.stdout.write(`client ${client.id} added\n`);
        });
      },
    );

  clients
    .command('list')
    .description('list clients')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<ClientView>('/clients');
        if (flags.json) printJson(all);
        else
          printTable(
            all.map((c) => ({ id: c.id, name: c.name, status: c.status, created: c.createdAt })),
            ['id', 'name', 'status', 'created'],
          );
      });
    });

  clients
    .command('show')
    .description('show a client with its keys and grants')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, _flags: { json?: boolean }, command: Command) => {
      // People and scripts both get the whole document: it is nested.
      await withAdmin(command, async (api) => printJson(await api.get(path(id))));
    });

  clients
    .command('update')
    .description('change a client')
    .argument('<id>')
    .option('--name <name>', 'new name')
    .option('--meta <key=value>', 'replace metadata, repeatable', collect)
    .option('--json', 'print JSON')
    .action(
      async (id: string, flags: { name?: string; meta?: string[]; json?: boolean }, command: Command) => {
        const body = {
          name: flags.name,
          metadata: flags.meta === undefined ? undefined : parsePairs('--meta', flags.meta),
        };
        await withAdmin(command, async (api) => {
          const client = await api.patch<ClientView>(path(id), body);
          if (flags.json) printJson(client);
          else process.stdout.write(`client ${id} updated\n`);
        });
      },
    );

  for (const [verb, status] of [
    ['suspend', 'suspended'],
    ['revoke', 'revoked'],
    ['activate', 'active'],
  ] as const) {
    clients
      .command(verb)
      .description(
        `${verb} a client${status === 'active' ? ' (lift a suspension)' : ': its requests are refused with 403'}`,
      )
      .argument('<id>')
      .option('--reason <text>', 'why (kept for admins, never shown to callers)')
      .option('--json', 'print JSON')
      .action(async (id: string, flags: { reason?: string; json?: boolean }, command: Command) => {
        await withAdmin(command, async (api) => {
          const client = await api.post<ClientView>(`${path(id)}/${verb}`, { reason: flags.reason });
          if (flags.json) printJson(client);
          else process.stdout.write(`client ${id} ${status}\n`);
        });
      });
  }

  clients
    .command('remove')
    .description('remove a client with its keys, grants and HMAC secrets')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const removed = await api.delete(path(id));
        if (flags.json) printJson(removed);
        else process.stdout.write(`client ${id} removed\n`);
      });
    });

  clients
    .command('hmac-secret')
    .description('issue a new HMAC signing secret (shown once); older secrets keep working for the overlap')
    .requiredOption('--client <id>', 'client id')
    .option('--overlap <duration>', 'how long older secrets stay valid', '24h')
    .option('--json', 'print JSON')
    .action(async (flags: { client: string; overlap: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const result = await api.post<{ secret: string; previousSecretsExpireAt: string }>(
          `${path(flags.client)}/hmac-secrets`,
          { overlap: flags.overlap },
        );
        if (flags.json) printJson(result);
        else {
          process.stdout.write(
            `HMAC secret for ${flags.client} (shown once, store it now):\n\n  ${result.secret}\n\n`,
          );
          process.stdout.write(
            `older secrets of this client stay valid until ${result.previousSecretsExpireAt}\n`,
          );
        }
      });
    });
}
