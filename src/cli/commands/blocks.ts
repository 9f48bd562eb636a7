/** `portcullis blocks add|list|remove` — the blocklist (IP/CIDR, key, client, user). */
import type { Command } from 'commander';
import { addBlock, BLOCK_KINDS, blockValue } from '../../ip-controls/operations.js';
import type { BlockKind, BlockRecord } from '../../store/types.js';
import { withStore } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { iso, oneOfOption, parseExpiry } from '../parse.js';

function blockView(b: BlockRecord, now: number) {
  return {
    id: b.id,
    kind: b.kind,
    value: b.value,
    reason: b.reason,
    source: b.source,
    createdAt: iso(b.createdAt),
    expiresAt: b.expiresAt === null ? null : iso(b.expiresAt),
    active: b.expiresAt === null || b.expiresAt > now,
  };
}

/** Exactly one of --ip, --key, --client, --user. */
function target(flags: Record<string, unknown>): { kind: BlockKind; value: string } {
  const given = BLOCK_KINDS.filter((kind) => typeof flags[kind] === 'string');
  if (given.length !== 1)
    throw new CliError('invalid_input', 'name exactly one of --ip, --key, --client or --user', EXIT_INVALID);
  const kind = given[0] as BlockKind;
  return { kind, value: flags[kind] as string };
}

export function registerBlocks(program: Command): void {
  const blocks = program.command('blocks').description('manage the blocklist');

  blocks
    .command('add')
    .description('block an IP or CIDR, a key, a client or a user (re-adding updates the entry)')
    .option('--ip <cidr>')
    .option('--key <id>')
    .option('--client <id>')
    .option('--user <id>')
    .requiredOption('--reason <text>', 'why (shown to admins, never to callers)')
    .option('--expires <when>', 'duration (1h) or ISO date; default until removed')
    .option('--json', 'print JSON')
    .action(async (flags: Record<string, string | boolean | undefined>, command: Command) => {
      const { kind, value } = target(flags);
      await withStore(command, async ({ store, identity }) => {
        const now = identity.clock.now();
        const block = await addBlock(
          store,
          {
            kind,
            value,
            reason: flags['reason'] as string,
            expiresAt:
              flags['expires'] === undefined
                ? null
                : parseExpiry('--expires', flags['expires'] as string, now),
          },
          now,
        );
        if (flags['json']) printJson(blockView(block, now));
        else
          process.stdout.write(
            `blocked ${block.kind} ${block.value} (${block.id})${block.expiresAt === null ? '' : ` until ${iso(block.expiresAt)}`}\n`,
          );
      });
    });

  blocks
    .command('list')
    .description('list blocks (active ones unless --all)')
    .option('--kind <kind>', 'ip, key, client or user')
    .option('--all', 'include expired entries')
    .option('--json', 'print JSON')
    .action(async (flags: { kind?: string; all?: boolean; json?: boolean }, command: Command) => {
      await withStore(command, async ({ store, identity }) => {
        const now = identity.clock.now();
        const records = await store.blocks.list({
          ...(flags.kind ? { kind: oneOfOption('--kind', flags.kind, BLOCK_KINDS) } : {}),
          ...(flags.all ? {} : { activeAt: now }),
        });
        const view = records.map((b) => blockView(b, now));
        if (flags.json) printJson(view);
        else
          printTable(
            view.map((v) => ({ ...v, expiresAt: v.expiresAt ?? 'never', active: v.active ? 'yes' : 'no' })),
            ['id', 'kind', 'value', 'reason', 'source', 'expiresAt', 'active'],
          );
      });
    });

  blocks
    .command('remove')
    .description('lift a block, by id or by what it blocks')
    .argument('[id]')
    .option('--ip <cidr>')
    .option('--key <id>')
    .option('--client <id>')
    .option('--user <id>')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string | undefined,
        flags: Record<string, string | boolean | undefined>,
        command: Command,
      ) => {
        await withStore(command, async ({ store }) => {
          let removed: boolean;
          let what: string;
          if (id !== undefined) {
            removed = await store.blocks.remove(id);
            what = id;
          } else {
            const { kind, value } = target(flags);
            const canonical = blockValue(kind, value);
            removed = await store.blocks.removeFor(kind, canonical);
            what = `${kind} ${canonical}`;
          }
          if (!removed) throw new CliError('not_found', `no block ${what}`);
          if (flags['json']) printJson({ removed: what });
          else process.stdout.write(`block ${what} removed\n`);
        });
      },
    );
}
