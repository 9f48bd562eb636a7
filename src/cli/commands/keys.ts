/** `portcullis keys create|list|show|revoke|rotate|update` */
import type { Command } from 'commander';
import {
  checkBinding,
  checkIpList,
  checkName,
  checkScopes,
  createKey,
  publicKeyView,
  revokeKey,
  rotateKey,
} from '../../identity/operations.js';
import { NotFoundError } from '../../store/errors.js';
import type { ApiKeyRepository } from '../../store/types.js';
import { withStore } from '../context.js';
import { printJson, printTable } from '../output.js';
import {
  bindingPatch,
  iso,
  oneOfOption,
  parseDuration,
  parseExpiry,
  parseList,
  parseWhole,
} from '../parse.js';

const BINDINGS = ['off', 'single', 'multiple', 'all'] as const;

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
    .action(async (flags: Record<string, string | boolean | undefined>, command: Command) => {
      await withStore(command, async ({ identity, store }) => {
        const policy = flags['policy'] as string | undefined;
        if (policy !== undefined && !(await store.policies.get(policy)))
          throw new NotFoundError('policy', policy);
        const now = identity.clock.now();
        const issued = await createKey(identity, {
          clientId: flags['client'] as string,
          environment: oneOfOption('--env', flags['env'] as string, ['live', 'test'] as const),
          ...(flags['name'] !== undefined ? { name: flags['name'] as string } : {}),
          scopes: parseList(flags['scopes'] as string | undefined) ?? [],
          expiresAt:
            flags['expires'] === undefined ? null : parseExpiry('--expires', flags['expires'] as string, now),
          ipAllow: parseList(flags['ipAllow'] as string | undefined) ?? [],
          ipDeny: parseList(flags['ipDeny'] as string | undefined) ?? [],
          usesBudget: parseWhole('--uses', flags['uses'] as string | undefined) ?? null,
          bindingMode: oneOfOption('--binding', flags['binding'] as string, BINDINGS),
          maxIps: parseWhole('--max-ips', flags['maxIps'] as string | undefined, 1) ?? null,
          bindPrefixV4: parseWhole('--bind-prefix', flags['bindPrefix'] as string | undefined) ?? null,
          bindPrefixV6: parseWhole('--bind-prefix6', flags['bindPrefix6'] as string | undefined) ?? null,
          policy: (flags['policy'] as string | undefined) ?? null,
        });
        if (flags['json']) printJson({ ...publicKeyView(issued.record), key: issued.key });
        else {
          process.stdout.write(
            `API key ${issued.record.id} for client ${issued.record.clientId} (shown once, store it now):\n\n  ${issued.key}\n\n`,
          );
          process.stdout.write(
            `use it as:  Authorization: Bearer ${issued.displayPrefix}…  or  X-API-Key: ${issued.displayPrefix}…\n`,
          );
        }
      });
    });

  keys
    .command('list')
    .description('list keys (display prefixes only, never secrets)')
    .option('--client <id>', "only this client's keys")
    .option('--json', 'print JSON')
    .action(async (flags: { client?: string; json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const records = await store.apiKeys.list(flags.client ? { clientId: flags.client } : {});
        const withSecrets = await Promise.all(
          records.map(async (r) => publicKeyView(r, await store.apiKeys.secrets(r.id))),
        );
        if (flags.json) {
          printJson(withSecrets);
          return;
        }
        printTable(
          withSecrets.map((k) => ({
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
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const record = await store.apiKeys.get(id);
        if (!record) throw new NotFoundError('key', id);
        const shown = publicKeyView(record, await store.apiKeys.secrets(id));
        if (flags.json) printJson(shown);
        else process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      });
    });

  keys
    .command('revoke')
    .description('revoke a key: every secret of it is refused at once (key_revoked)')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why (kept for admins)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { reason: string; json?: boolean }, command: Command) => {
      await withStore(command, async ({ identity }) => {
        const record = await revokeKey(identity, id, flags.reason);
        if (flags.json) printJson(publicKeyView(record));
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
      const grace = parseDuration('--grace', flags.grace);
      await withStore(command, async ({ identity }) => {
        const rotated = await rotateKey(identity, id, grace);
        if (flags.json)
          printJson({ id, key: rotated.key, oldSecretsExpireAt: iso(rotated.oldSecretsExpireAt) });
        else {
          process.stdout.write(
            `new secret for key ${id} (shown once, store it now):\n\n  ${rotated.key}\n\n`,
          );
          process.stdout.write(
            `the previous secret stays valid until ${iso(rotated.oldSecretsExpireAt)}; limits, quota and usage carry over\n`,
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
    .action(async (id: string, flags: Record<string, string | boolean | undefined>, command: Command) => {
      await withStore(command, async ({ store, identity }) => {
        const patch: Parameters<ApiKeyRepository['update']>[1] = {};
        if (flags['name'] !== undefined) patch.name = checkName(flags['name'] as string);
        if (flags['scopes'] !== undefined)
          patch.scopes = checkScopes(parseList(flags['scopes'] as string) ?? []);
        if (flags['expires'] !== undefined)
          patch.expiresAt = parseExpiry('--expires', flags['expires'] as string, identity.clock.now());
        if (flags['ipAllow'] !== undefined)
          patch.ipAllow = checkIpList(parseList(flags['ipAllow'] as string) ?? []);
        if (flags['ipDeny'] !== undefined)
          patch.ipDeny = checkIpList(parseList(flags['ipDeny'] as string) ?? [], 'ip_deny');
        if (flags['uses'] !== undefined)
          patch.usesBudget =
            flags['uses'] === 'unlimited' ? null : (parseWhole('--uses', flags['uses'] as string) as number);
        Object.assign(patch, bindingPatch(flags, { option: '--binding', value: flags['binding'] }));
        if (flags['policy'] !== undefined)
          patch.policy = flags['policy'] === 'none' ? null : (flags['policy'] as string);
        const current = await store.apiKeys.get(id);
        if (!current) throw new NotFoundError('key', id);
        checkBinding(patch, current);
        if (patch.policy && !(await store.policies.get(patch.policy)))
          throw new NotFoundError('policy', patch.policy);
        const record = await store.apiKeys.update(id, patch);
        if (flags['json']) printJson(publicKeyView(record));
        else process.stdout.write(`key ${id} updated\n`);
      });
    });
}
