/** `portcullis admin tokens create|list|revoke` — service tokens (role verifier now; admin, viewer later). */
import type { Command } from 'commander';
import { createServiceToken } from '../../identity/operations.js';
import type { ServiceTokenRecord } from '../../store/types.js';
import { withStore } from '../context.js';
import { CliError } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { iso, oneOfOption, parseExpiry } from '../parse.js';

function view(token: ServiceTokenRecord) {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    prefix: token.displayPrefix,
    createdAt: iso(token.createdAt),
    expiresAt: token.expiresAt === null ? null : iso(token.expiresAt),
    revokedAt: token.revokedAt === null ? null : iso(token.revokedAt),
    lastUsedAt: token.lastUsedAt === null ? null : iso(token.lastUsedAt),
  };
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('administration');
  const tokens = admin.command('tokens').description('service tokens for machines calling Portcullis');

  tokens
    .command('create')
    .description('create a service token (shown once)')
    .requiredOption('--role <role>', 'verifier (the verification API), viewer or admin')
    .option('--name <name>', 'what it is for', 'service token')
    .option('--expires <when>', 'duration (90d) or ISO date; default never')
    .option('--json', 'print JSON')
    .action(
      async (flags: { role: string; name: string; expires?: string; json?: boolean }, command: Command) => {
        const role = oneOfOption('--role', flags.role, ['verifier', 'viewer', 'admin'] as const);
        await withStore(command, async ({ identity }) => {
          const expiresAt =
            flags.expires === undefined
              ? null
              : parseExpiry('--expires', flags.expires, identity.clock.now());
          const { record, token } = await createServiceToken(identity, { name: flags.name, role, expiresAt });
          if (flags.json) printJson({ ...view(record), token });
          else
            process.stdout.write(
              `service token ${record.id} (role ${role}; shown once, store it now):\n\n  ${token}\n\n`,
            );
        });
      },
    );

  tokens
    .command('list')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const all = (await store.serviceTokens.list()).map(view);
        if (flags.json) printJson(all);
        else
          printTable(
            all.map((t) => ({
              id: t.id,
              name: t.name,
              role: t.role,
              prefix: `${t.prefix}…`,
              revoked: t.revokedAt ?? '-',
            })),
            ['id', 'name', 'role', 'prefix', 'revoked'],
          );
      });
    });

  tokens
    .command('revoke')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        if (!(await store.serviceTokens.revoke(id)))
          throw new CliError('not_found', `service token ${id} not found or already revoked`);
        if (flags.json) printJson({ id, revoked: true });
        else process.stdout.write(`service token ${id} revoked\n`);
      });
    });
}
