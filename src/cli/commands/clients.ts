/** `portcullis clients add|list|show|update|suspend|revoke|remove|hmac-secret` */
import type { Command } from 'commander';
import { checkMetadata, checkName, createClient, issueHmacSecret } from '../../identity/operations.js';
import { NotFoundError } from '../../store/errors.js';
import type { ClientRecord } from '../../store/types.js';
import { withStore } from '../context.js';
import { printJson, printTable } from '../output.js';
import { collect, iso, parseDuration, parsePairs } from '../parse.js';

function view(client: ClientRecord) {
  return {
    id: client.id,
    name: client.name,
    status: client.status,
    statusReason: client.statusReason,
    metadata: client.metadata,
    createdAt: new Date(client.createdAt).toISOString(),
    updatedAt: new Date(client.updatedAt).toISOString(),
  };
}

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
        await withStore(command, async ({ identity }) => {
          const client = await createClient(identity, {
            name: flags.name,
            id: flags.id,
            metadata: parsePairs('--meta', flags.meta),
          });
          if (flags.json) printJson(view(client));
          else process.stdout.write(`client ${client.id} added\n`);
        });
      },
    );

  clients
    .command('list')
    .description('list clients')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const all = await store.clients.list();
        if (flags.json) printJson(all.map(view));
        else
          printTable(
            all.map((c) => ({ id: c.id, name: c.name, status: c.status, created: iso(c.createdAt) })),
            ['id', 'name', 'status', 'created'],
          );
      });
    });

  clients
    .command('show')
    .description('show a client with its keys and grants')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const client = await store.clients.get(id);
        if (!client) throw new NotFoundError('client', id);
        const [keys, grants, secrets] = await Promise.all([
          store.apiKeys.list({ clientId: id }),
          store.grants.list({ clientId: id }),
          store.hmacSecrets.list({ clientId: id }),
        ]);
        const shown = {
          ...view(client),
          keys: keys.map((k) => ({ id: k.id, name: k.name, environment: k.environment, status: k.status })),
          grants: grants.map((g) => ({ route: g.routeId, methods: g.methods })),
          hmacSecrets: secrets.map((s) => ({
            id: s.id,
            createdAt: iso(s.createdAt),
            expiresAt: s.expiresAt === null ? null : iso(s.expiresAt),
          })),
        };
        if (flags.json) printJson(shown);
        else process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      });
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
        await withStore(command, async ({ store }) => {
          const client = await store.clients.update(id, {
            ...(flags.name !== undefined ? { name: checkName(flags.name) } : {}),
            ...(flags.meta !== undefined
              ? { metadata: checkMetadata(parsePairs('--meta', flags.meta)) }
              : {}),
          });
          if (flags.json) printJson(view(client));
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
        await withStore(command, async ({ store }) => {
          const client = await store.clients.update(id, {
            status,
            statusReason:
              status === 'active'
                ? null
                : flags.reason === undefined
                  ? null
                  : checkName(flags.reason, 'reason'),
          });
          if (flags.json) printJson(view(client));
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
      await withStore(command, async ({ store }) => {
        if (!(await store.clients.remove(id))) throw new NotFoundError('client', id);
        if (flags.json) printJson({ id, removed: true });
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
      const overlap = parseDuration('--overlap', flags.overlap);
      await withStore(command, async ({ identity }) => {
        const issued = await issueHmacSecret(identity, flags.client, overlap);
        const result = {
          client: flags.client,
          id: issued.id,
          secret: issued.secret,
          previousSecretsExpireAt: iso(issued.previousExpireAt),
        };
        if (flags.json) printJson(result);
        else {
          process.stdout.write(
            `HMAC secret for ${flags.client} (shown once, store it now):\n\n  ${issued.secret}\n\n`,
          );
          process.stdout.write(
            `older secrets of this client stay valid until ${result.previousSecretsExpireAt}\n`,
          );
        }
      });
    });
}
