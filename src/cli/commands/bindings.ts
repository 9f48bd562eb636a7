/**
 * `portcullis bindings list|show|unbind|rebind|edit|ban|unban|intercepts` — first-use key-IP
 * binding (admin API /bindings and /intercepts).
 */
import type { Command } from 'commander';
import type { AdminClient } from '../admin-client.js';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { bindingPatch, parseList, parseWhole } from '../parse.js';

interface BindingView {
  id: string;
  key: string;
  slot: number | null;
  address: string;
  source: string;
  createdAt: string;
  lastSeenAt: string;
}

interface InterceptView {
  at: string;
  key: string;
  client: string | null;
  ip: string;
  bound: string[];
  route: string | null;
  method: string;
  path: string;
  requestId: string;
}

interface BindingDetail {
  key: string;
  mode: string;
  maxIps: number | null;
  banned: { reason: string; expiresAt: string | null } | null;
  bindings: BindingView[];
  archived: unknown[];
  recentIntercepts: InterceptView[];
}

const path = (keyId: string) => `/bindings/${encodeURIComponent(keyId)}`;

/** The newest `limit` intercepts matching `query`, following pages. */
async function newestIntercepts(
  api: AdminClient,
  query: Record<string, string | undefined>,
  limit: number,
): Promise<InterceptView[]> {
  const out: InterceptView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<{ items: InterceptView[]; nextCursor: string | null }>('/intercepts', {
      ...query,
      limit: Math.min(limit - out.length, 1000),
      cursor,
    });
    out.push(...page.items.slice(0, limit - out.length));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && out.length < limit);
  return out;
}

export function registerBindings(program: Command): void {
  const bindings = program
    .command('bindings')
    .description('first-use key-to-IP bindings and their intercepts');

  bindings
    .command('list')
    .description('list current bindings')
    .option('--key <id>', "only this key's bindings")
    .option('--json', 'print JSON')
    .action(async (flags: { key?: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const all = await api.all<BindingView>('/bindings', { key: flags.key });
        if (flags.json) printJson(all);
        else
          printTable(
            all.map((b) => ({ ...b, slot: b.slot === null ? '-' : String(b.slot) })),
            ['key', 'address', 'slot', 'source', 'createdAt', 'lastSeenAt'],
          );
      });
    });

  bindings
    .command('show')
    .description("a key's binding mode, bound addresses, archived bindings and recent intercepts")
    .argument('<key-id>')
    .option('--json', 'print JSON')
    .action(async (keyId: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const view = await api.get<BindingDetail>(path(keyId));
        if (flags.json) {
          printJson(view);
          return;
        }
        const { bindings: current, archived, recentIntercepts: intercepts, banned } = view;
        const lines = [
          `key ${keyId}: binding ${view.mode}${view.mode === 'multiple' ? ` (up to ${view.maxIps})` : ''}${banned ? `, BANNED (${banned.reason})` : ''}`,
          ...(current.length === 0
            ? ['  not bound yet (the next request binds)']
            : current.map(
                (b) => `  ${b.address}  bound ${b.createdAt}  last seen ${b.lastSeenAt}  (${b.source})`,
              )),
          ...(archived.length > 0 ? [`  ${archived.length} archived binding(s)`] : []),
          `  ${intercepts.length === 0 ? 'no' : intercepts.length} recent intercept(s)`,
          ...intercepts.map((i) => `    ${i.at}  ${i.ip}  ${i.method} ${i.path}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });

  bindings
    .command('unbind')
    .description("forget a key's bindings; its next request binds again")
    .argument('<key-id>')
    .option('--json', 'print JSON')
    .action(async (keyId: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const result = await api.post<{ key: string; removed: number }>(`${path(keyId)}/unbind`);
        if (flags.json) printJson(result);
        else
          process.stdout.write(
            `key ${keyId}: ${result.removed} binding(s) removed; the next request binds again\n`,
          );
      });
    });

  bindings
    .command('rebind')
    .description('bind a key to these addresses or networks now (replaces its bindings)')
    .argument('<key-id>')
    .requiredOption('--ip <cidrs>', 'comma-separated addresses or CIDRs')
    .option('--json', 'print JSON')
    .action(async (keyId: string, flags: { ip: string; json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const records = await api.post<BindingView[]>(`${path(keyId)}/rebind`, {
          ips: parseList(flags.ip) ?? [],
        });
        if (flags.json) printJson(records);
        else process.stdout.write(`key ${keyId} bound to ${records.map((r) => r.address).join(', ')}\n`);
      });
    });

  bindings
    .command('edit')
    .description("change a key's binding mode, address count or bind prefix")
    .argument('<key-id>')
    .option('--mode <mode>', 'off, single, multiple, all')
    .option('--max-ips <n>', 'addresses a "multiple" binding may hold')
    .option('--bind-prefix <bits>', 'IPv4 network length a binding covers ("none": the address)')
    .option('--bind-prefix6 <bits>', 'IPv6 network length a binding covers ("none": the address)')
    .option('--json', 'print JSON')
    .action(async (keyId: string, flags: Record<string, string | boolean | undefined>, command: Command) => {
      const patch = bindingPatch(flags, { option: '--mode', value: flags['mode'] });
      if (Object.keys(patch).length === 0)
        throw new CliError(
          'invalid_input',
          'nothing to change: give --mode, --max-ips or a bind prefix',
          EXIT_INVALID,
        );
      const body = {
        mode: patch.bindingMode,
        maxIps: patch.maxIps,
        bindPrefixV4: patch.bindPrefixV4,
        bindPrefixV6: patch.bindPrefixV6,
      };
      await withAdmin(command, async (api) => {
        const view = await api.patch<{ mode: string }>(path(keyId), body);
        if (flags['json']) printJson(view);
        else process.stdout.write(`key ${keyId}: binding ${view.mode}\n`);
      });
    });

  bindings
    .command('ban')
    .description('block a key everywhere (a blocklist entry of kind key)')
    .argument('<key-id>')
    .requiredOption('--reason <text>', 'why (shown to admins, never to callers)')
    .option('--expires <when>', 'duration (24h) or ISO date; default until unbanned')
    .option('--json', 'print JSON')
    .action(
      async (
        keyId: string,
        flags: { reason: string; expires?: string; json?: boolean },
        command: Command,
      ) => {
        await withAdmin(command, async (api) => {
          const block = await api.post<{ id: string }>(`${path(keyId)}/ban`, {
            reason: flags.reason,
            expires: flags.expires,
          });
          if (flags.json) printJson(block);
          else process.stdout.write(`key ${keyId} banned (${block.id})\n`);
        });
      },
    );

  bindings
    .command('unban')
    .description('lift a key ban')
    .argument('<key-id>')
    .option('--json', 'print JSON')
    .action(async (keyId: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const result = await api.post(`${path(keyId)}/unban`);
        if (flags.json) printJson(result);
        else process.stdout.write(`key ${keyId} unbanned\n`);
      });
    });

  bindings
    .command('intercepts')
    .description('recent binding violations (newest first)')
    .option('--key <id>')
    .option('--route <id>')
    .option('--since <when>', 'ISO date or duration back from now (24h)')
    .option('--until <when>', 'ISO date or duration back from now')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: {
          key?: string;
          route?: string;
          since?: string;
          until?: string;
          limit: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        const limit = parseWhole('--limit', flags.limit, 1) as number;
        await withAdmin(command, async (api) => {
          const view = await newestIntercepts(
            api,
            { key: flags.key, route: flags.route, since: flags.since, until: flags.until },
            limit,
          );
          if (flags.json) printJson(view);
          else
            printTable(
              view.map((v) => ({
                ...v,
                client: v.client ?? '',
                route: v.route ?? '',
                bound: v.bound.join(','),
              })),
              ['at', 'key', 'ip', 'bound', 'route', 'method', 'path'],
            );
        });
      },
    );
}
