/** `portcullis blocks add|list|remove` — the blocklist (IP/CIDR, key, client, user; admin API /blocks). */
import type { Command } from 'commander';
import { BLOCK_KINDS } from '../../ip-controls/operations.js';
import type { BlockKind } from '../../store/types.js';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { oneOfOption } from '../parse.js';

interface BlockView {
  id: string;
  kind: BlockKind;
  value: string;
  reason: string;
  source: string;
  createdAt: string;
  expiresAt: string | null;
  active: boolean;
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
    .option('--expires <when>', 'duration (1h), ISO date or "never"; default until removed')
    .option('--json', 'print JSON')
    .action(async (flags: Record<string, string | boolean | undefined>, command: Command) => {
      const { kind, value } = target(flags);
      await withAdmin(command, async (api) => {
        const block = await api.post<BlockView>('/blocks', {
          kind,
          value,
          reason: flags['reason'],
          expires: flags['expires'],
        });
        if (flags['json']) printJson(block);
        else
          process.stdout.write(
            `blocked ${block.kind} ${block.value} (${block.id})${block.expiresAt === null ? '' : ` until ${block.expiresAt}`}\n`,
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
      await withAdmin(command, async (api) => {
        const view = await api.all<BlockView>('/blocks', {
          kind: flags.kind === undefined ? undefined : oneOfOption('--kind', flags.kind, BLOCK_KINDS),
          active: flags.all ? undefined : true,
        });
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
        const by = id === undefined ? target(flags) : undefined;
        await withAdmin(command, async (api) => {
          let what: string;
          if (by === undefined) {
            await api.delete<BlockView>(`/blocks/${encodeURIComponent(id as string)}`);
            what = id as string;
          } else {
            const removed = await api.delete<BlockView>('/blocks', by);
            what = `${removed.kind} ${removed.value}`;
          }
          if (flags['json']) printJson({ removed: what });
          else process.stdout.write(`block ${what} removed\n`);
        });
      },
    );
}
