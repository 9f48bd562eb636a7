/** `portcullis admin tokens create|list|revoke` — service tokens (admin API /tokens); `admin users` in admin-users.ts. */
import type { Command } from 'commander';
import { withAdmin } from '../context.js';
import { printJson, printTable } from '../output.js';
import { registerAdminUsers } from './admin-users.js';

interface TokenView {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('administration');
  registerAdminUsers(admin);
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
        const body = { role: flags.role, name: flags.name, expires: flags.expires };
        await withAdmin(command, async (api) => {
          const created = await api.post<TokenView & { token: string }>('/tokens', body);
          if (flags.json) printJson(created);
          else
            process.stdout.write(
              `service token ${created.id} (role ${created.role}; shown once, store it now):\n\n  ${created.token}\n\n`,
            );
        });
      },
    );

  tokens
    .command('list')
    .description('list service tokens (prefixes only, never a token)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<TokenView>('/tokens');
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
    .description('revoke a service token: refused from its next call on (the record is kept)')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const revoked = await api.post<TokenView>(`/tokens/${encodeURIComponent(id)}/revoke`, {});
        if (flags.json) printJson({ id: revoked.id, revoked: true, revokedAt: revoked.revokedAt });
        else process.stdout.write(`service token ${id} revoked\n`);
      });
    });
}
