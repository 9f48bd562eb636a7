/** `portcullis bindings list|show|unbind|rebind|edit|ban|unban|intercepts` — first-use key-IP binding. */
import type { Command } from 'commander';
import { checkBinding } from '../../identity/operations.js';
import { addBlock, rebindKey, unbindKey } from '../../ip-controls/operations.js';
import { NotFoundError } from '../../store/errors.js';
import type { BindingRecord, InterceptRecord } from '../../store/types.js';
import { withStore } from '../context.js';
import { CliError } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { bindingPatch, iso, parseDuration, parseExpiry, parseList, parseWhole } from '../parse.js';

function bindingView(b: BindingRecord) {
  return {
    id: b.id,
    key: b.keyId,
    slot: b.slot,
    address: b.cidr,
    source: b.source,
    createdAt: iso(b.createdAt),
    lastSeenAt: iso(b.lastSeenAt),
  };
}

function interceptView(i: InterceptRecord) {
  return {
    at: iso(i.at),
    key: i.keyId,
    client: i.clientId,
    ip: i.ip,
    bound: i.bound,
    route: i.routeId,
    method: i.method,
    path: i.path,
    requestId: i.requestId,
  };
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
      await withStore(command, async ({ store }) => {
        const all = (await store.bindings.list(flags.key ? { keyId: flags.key } : {})).map(bindingView);
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
      await withStore(command, async ({ store }) => {
        const key = await store.apiKeys.get(keyId);
        if (!key) throw new NotFoundError('key', keyId);
        const [current, archived, intercepts, ban] = await Promise.all([
          store.bindings.list({ keyId }),
          store.bindings.archived({ keyId }),
          store.intercepts.list({ keyId, limit: 20 }),
          store.blocks.list({ kind: 'key' }).then((all) => all.find((b) => b.value === keyId)),
        ]);
        const view = {
          key: keyId,
          mode: key.bindingMode,
          maxIps: key.maxIps,
          bindPrefixV4: key.bindPrefixV4,
          bindPrefixV6: key.bindPrefixV6,
          banned: ban
            ? { reason: ban.reason, expiresAt: ban.expiresAt === null ? null : iso(ban.expiresAt) }
            : null,
          bindings: current.map(bindingView),
          archived: archived.map((a) => ({
            address: a.cidr,
            lastSeenAt: iso(a.lastSeenAt),
            archivedAt: iso(a.archivedAt),
          })),
          recentIntercepts: intercepts.map(interceptView),
        };
        if (flags.json) {
          printJson(view);
          return;
        }
        const lines = [
          `key ${keyId}: binding ${key.bindingMode}${key.bindingMode === 'multiple' ? ` (up to ${key.maxIps})` : ''}${ban ? `, BANNED (${ban.reason})` : ''}`,
          ...(current.length === 0
            ? ['  not bound yet (the next request binds)']
            : current.map(
                (b) =>
                  `  ${b.cidr}  bound ${iso(b.createdAt)}  last seen ${iso(b.lastSeenAt)}  (${b.source})`,
              )),
          ...(archived.length > 0 ? [`  ${archived.length} archived binding(s)`] : []),
          `  ${intercepts.length === 0 ? 'no' : intercepts.length} recent intercept(s)`,
          ...intercepts.map((i) => `    ${iso(i.at)}  ${i.ip}  ${i.method} ${i.path}`),
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
      await withStore(command, async ({ store }) => {
        const removed = await unbindKey(store, keyId);
        if (flags.json) printJson({ key: keyId, removed });
        else
          process.stdout.write(`key ${keyId}: ${removed} binding(s) removed; the next request binds again\n`);
      });
    });

  bindings
    .command('rebind')
    .description('bind a key to these addresses or networks now (replaces its bindings)')
    .argument('<key-id>')
    .requiredOption('--ip <cidrs>', 'comma-separated addresses or CIDRs')
    .option('--json', 'print JSON')
    .action(async (keyId: string, flags: { ip: string; json?: boolean }, command: Command) => {
      await withStore(command, async ({ store, identity }) => {
        const records = await rebindKey(store, keyId, parseList(flags.ip) ?? [], identity.clock.now());
        if (flags.json) printJson(records.map(bindingView));
        else process.stdout.write(`key ${keyId} bound to ${records.map((r) => r.cidr).join(', ')}\n`);
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
      await withStore(command, async ({ store }) => {
        const current = await store.apiKeys.get(keyId);
        if (!current) throw new NotFoundError('key', keyId);
        const patch = bindingPatch(flags, { option: '--mode', value: flags['mode'] });
        if (Object.keys(patch).length === 0)
          throw new CliError(
            'invalid_input',
            'nothing to change: give --mode, --max-ips or a bind prefix',
            2,
          );
        checkBinding(patch, current);
        const record = await store.apiKeys.update(keyId, patch);
        const view = {
          key: keyId,
          mode: record.bindingMode,
          maxIps: record.maxIps,
          bindPrefixV4: record.bindPrefixV4,
          bindPrefixV6: record.bindPrefixV6,
        };
        if (flags['json']) printJson(view);
        else process.stdout.write(`key ${keyId}: binding ${record.bindingMode}\n`);
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
        await withStore(command, async ({ store, identity }) => {
          if (!(await store.apiKeys.get(keyId))) throw new NotFoundError('key', keyId);
          const now = identity.clock.now();
          const block = await addBlock(
            store,
            {
              kind: 'key',
              value: keyId,
              reason: flags.reason,
              expiresAt: flags.expires === undefined ? null : parseExpiry('--expires', flags.expires, now),
            },
            now,
          );
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
      await withStore(command, async ({ store }) => {
        const removed = await store.blocks.removeFor('key', keyId);
        if (!removed) throw new CliError('not_found', `key ${keyId} is not banned`);
        if (flags.json) printJson({ key: keyId, unbanned: true });
        else process.stdout.write(`key ${keyId} unbanned\n`);
      });
    });

  bindings
    .command('intercepts')
    .description('recent binding violations (newest first)')
    .option('--key <id>')
    .option('--since <when>', 'ISO date or duration back from now (24h)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(
      async (flags: { key?: string; since?: string; limit: string; json?: boolean }, command: Command) => {
        await withStore(command, async ({ store, identity }) => {
          const now = identity.clock.now();
          const since =
            flags.since === undefined
              ? undefined
              : /^\d+[smhdw]$/.test(flags.since)
                ? now - parseDuration('--since', flags.since)
                : (parseExpiry('--since', flags.since, now) as number);
          const rows = await store.intercepts.list({
            ...(flags.key ? { keyId: flags.key } : {}),
            ...(since !== undefined ? { since } : {}),
            limit: parseWhole('--limit', flags.limit, 1) as number,
          });
          const view = rows.map(interceptView);
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
