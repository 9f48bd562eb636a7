/** `portcullis apply -f FILE [--dry-run] [--prune]` and `portcullis export` (admin API /declarative) */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printLines } from '../output.js';

type Section = Record<'create' | 'update' | 'remove' | 'kept' | 'unchanged', string[]>;

interface ApplyResult {
  dryRun: boolean;
  changed: boolean;
  routes: Section;
  policies: Section;
  counts: { create: number; update: number; remove: number };
  changes: string[];
}

export function registerDeclarative(program: Command): void {
  program
    .command('apply')
    .description('apply a declarative file idempotently (routes, policies; secrets are never in it)')
    .requiredOption('-f, --file <file>', 'YAML file to apply')
    .option('--dry-run', 'show the changes without making them')
    .option('--prune', 'remove what the file no longer names')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: { file: string; dryRun?: boolean; prune?: boolean; json?: boolean },
        command: Command,
      ) => {
        // The file is read here and sent as text: with --url it is applied to the remote gateway.
        let text: string;
        try {
          text = await readFile(flags.file, 'utf8');
        } catch (error) {
          throw new CliError(
            'file_unreadable',
            `cannot read ${flags.file}: ${(error as Error).message}`,
            EXIT_INVALID,
          );
        }
        await withAdmin(command, async (api) => {
          const result = await api.post<ApplyResult>('/declarative/apply', {
            document: text,
            dryRun: flags.dryRun === true,
            prune: flags.prune === true,
          });
          if (flags.json) {
            const { dryRun, changed, routes, policies } = result;
            printJson({ dryRun, changed, routes, policies });
            return;
          }
          printLines(result.changes);
          const n = result.counts;
          const verb = result.dryRun ? 'would change' : 'changed';
          process.stdout.write(
            result.changed
              ? `${verb}: ${n.create} created, ${n.update} updated, ${n.remove} removed${result.dryRun ? ' (dry run: nothing written)' : ''}\n`
              : 'no changes\n',
          );
        });
      },
    );

  program
    .command('export')
    .description('write the current configuration as a declarative file (no secrets)')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .option('--format <format>', 'yaml or json', 'yaml')
    .action(async (flags: { output?: string; format: string }, command: Command) => {
      if (flags.format !== 'yaml' && flags.format !== 'json') {
        throw new CliError('invalid_input', '--format must be yaml or json', EXIT_INVALID);
      }
      await withAdmin(command, async (api) => {
        let text: string;
        if (flags.format === 'json') {
          text = `${JSON.stringify(await api.get('/declarative/export', { format: 'json' }), null, 2)}\n`;
        } else {
          const chunks: Buffer[] = [];
          for await (const chunk of await api.stream('/declarative/export', { format: 'yaml' }))
            chunks.push(Buffer.from(chunk as Uint8Array));
          text = Buffer.concat(chunks).toString('utf8');
        }
        if (flags.output) await writeFile(flags.output, text);
        else process.stdout.write(text);
      });
    });
}
