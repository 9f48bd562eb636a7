/** `portcullis keys create|list|show|revoke|rotate|update` (admin API /keys) */
import type { Command } from 'commander';
import { withAdmin } from '../context.js';
import { printJson, printTable } from '../output.js';
import { bindingPatch, parseList, parseWhole } from '../parse.js';

interface KeyView {
  id: string;
  client: string;
  environment: string;
  status: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  secrets: Array<{ prefix: string; createdAt: string; expiresAt: string | null }>;
}

type Flags = Record<string, string | boolean | undefined>;

const path = (id: string) => `/keys/${encodeURIComponent(id)}`;
const text = (flags: Flags, name: string) => flags[name] as string | undefined;

/** The binding flags as the API's fields (`--binding` → binding, `--max-ips` → maxIps, …). */
function bindingFields(flags: Flags) {
  const patch = bindingPatch(flags, { option: '--binding', value: flags['binding'] });
  return {
    binding: patch.bindingMode,
    maxIps: patch.maxIps,
    bindPrefixV4: patch.bindPrefixV4,
    bindPrefixV6: patch.bindPrefixV6,
  };
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  keys
    .command('create')
    .description('issue an API key (the key is shown once)')
    .requiredOption('--client <id>', 'client the key belongs to')
    .option('--env <env>', 'live or test', 'live')
    .option('--name <name>', 'a name for people')
    .option('--scopes <list>', 'comma-separated scopes')
    .option('--expires <when>', 'duration (90d) or ISO date; default never')
    .option('--ip-allow <cidrs>', 'comma-separated CIDRs the key may be used from')
    .option('--ip-deny <cidrs>', 'comma-separated CIDRs the key may never be used from')
    .option('--uses <n>', 'remaining-uses budget (default unlimited)')
    .option('--binding <mode>', 'first-use IP binding: off, single, multiple, all', 'off')
    .option('--max-ips <n>', 'IPs a "multiple" binding may hold')
    .option(
      '--bind-prefix <bits>',
      "bind the first IPv4 address's network of this length (e.g. 24) instead of the address",
    )
    .option('--bind-prefix6 <bits>', 'the same for IPv6 (e.g. 64)')
    .option('--policy <id>', "rate-limit policy overriding the route's")
    .option('--json', 'print JSON')
    .action(async (flags: Flags, command: Command) => {
      const body = {
        client: text(flags, 'client'),
        environment: text(flags, 'env'),
        name: text(flags, 'name'),
        scopes: parseList(text(flags, 'scopes')),
        expires: text(flags, 'expires'),
        ipAllow: parseList(text(flags, 'ipAllow')),
        ipDeny: parseList(text(flags, 'ipDeny')),
        usesBudget: parseWhole('--uses', text(flags, 'uses')),
        ...bindingFields(flags),
        policy: text(flags, 'policy'),
      };
      await withAdmin(command, async (api) => {
        const issued = await api.post<KeyView & { key: string }>('/keys', body);
        if (flags['json']) printJson(issued);
        else {
          const prefix = issued.secrets[0]?.prefix ?? '';
          process.stdout.write(
            `API key ${issued.id} for client ${issued.client} (shown once, store it now):\n\n  ${issued.key}\n\n`,
          );
          process.stdout.write(`use it as:  Authorization: Bearer ${prefix}…  or  X-API-Key: ${prefix}…\n`);
        }
      });
    });

  keys
    .command('list')
    .description('list keys (display prefixes only, never secrets)')
    .option('--client <id>', "only this client's keys")
    .option('--json', 'print JSON')
    .action(async (flags: { client?: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<KeyView>('/keys', { client: flags.client });
        if (flags.json) {
          printJson(all);
          return;
        }
        printTable(
          all.map((k) => ({
            id: k.id,
            client: k.client,
            env: k.environment,
            prefix: k.secrets.map((s) => `${s.prefix}…`).join(' '),
            status: k.status,
            expires: k.expiresAt ?? '-',
            'last used': k.lastUsedAt ?? '-',
          })),
          ['id', 'client', 'env', 'prefix', 'status', 'expires', 'last used'],
        );
      });
    });

  keys
    .command('show')
    .description('show a key (never its secret)')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, _flags: { json?: boolean }, command: Command) => {
      // People and scripts both get the whole document: it is nested.
      await withAdmin(command, async (api) => printJson(await api.get(path(id))));
    });

  keys
    .command('revoke')
    .description('revoke a key: every secret of it is refused at once (key_revoked)')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why (kept for admins)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { reason: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const revoked = await api.post(`${path(id)}/revoke`, { reason: flags.reason });
        if (flags.json) printJson(revoked);
        else process.stdout.write(`key ${id} revoked\n`);
      });
    });

  keys
    .command('rotate')
    .description('issue a new secret for the key (shown once); the old one works for the grace period')
    .argument('<id>')
    .option('--grace <duration>', 'how long the old secret stays valid', '24h')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { grace: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const rotated = await api.post<{ id: string; key: string; oldSecretsExpireAt: string }>(
          `${path(id)}/rotate`,
          { grace: flags.grace },
        );
        if (flags.json) printJson(rotated);
        else {
          process.stdout.write(
            `new secret for key ${id} (shown once, store it now):\n\n  ${rotated.key}\n\n`,
          );
          process.stdout.write(
            `the previous secret stays valid until ${rotated.oldSecretsExpireAt}; limits, quota and usage carry over\n`,
          );
        }
      });
    });

  keys
    .command('update')
    .description('change a key')
    .argument('<id>')
    .option('--name <name>')
    .option('--scopes <list>', 'replace the scopes')
    .option('--expires <when>', 'duration, ISO date or "never"')
    .option('--ip-allow <cidrs>', 'replace the IP allow-list ("" to clear)')
    .option('--ip-deny <cidrs>', 'replace the IP deny-list ("" to clear)')
    .option('--uses <n>', 'set the remaining-uses budget ("unlimited" to clear); counting starts over')
    .option('--binding <mode>', 'off, single, multiple, all')
    .option('--max-ips <n>', 'IPs a "multiple" binding may hold')
    .option('--bind-prefix <bits>', 'IPv4 binding network length ("none" for the address)')
    .option('--bind-prefix6 <bits>', 'IPv6 binding network length ("none" for the address)')
    .option('--policy <id>', 'rate-limit policy override ("none" to clear)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: Flags, command: Command) => {
      const uses = text(flags, 'uses');
      const policy = text(flags, 'policy');
      const body = {
        name: text(flags, 'name'),
        scopes: parseList(text(flags, 'scopes')),
        expires: text(flags, 'expires'),
        ipAllow: parseList(text(flags, 'ipAllow')),
        ipDeny: parseList(text(flags, 'ipDeny')),
        usesBudget: uses === 'unlimited' ? null : parseWhole('--uses', uses),
        ...bindingFields(flags),
        policy: policy === 'none' ? null : policy,
      };
      await withAdmin(command, async (api) => {
        const updated = await api.patch(path(id), body);
        if (flags['json']) printJson(updated);
        else process.stdout.write(`key ${id} updated\n`);
      });
    });
}
