/** `portcullis apply -f FILE [--dry-run] [--prune]` and `portcullis export` */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  applyPlan,
  describePlan,
  documentToYaml,
  exportDocument,
  type Plan,
  parseDocumentText,
  planChanges,
  planIsEmpty,
  readCurrentState,
  type SectionPlan,
} from '../../declarative/document.js';
import { withStore } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printLines } from '../output.js';

function sectionJson(section: SectionPlan<unknown>) {
  return {
    create: section.create.map((c) => c.id),
    update: section.update.map((c) => c.id),
    remove: section.remove.map((c) => c.id),
    kept: section.kept,
    unchanged: section.unchanged,
  };
}

function counts(plan: Plan): { create: number; update: number; remove: number } {
  const { routes: r, policies: p } = plan;
  return {
    create: r.create.length + p.create.length,
    update: r.update.length + p.update.length,
    remove: r.remove.length + p.remove.length,
  };
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
        const document = parseDocumentText(text, flags.file);
        await withStore(command, async ({ store, config }) => {
          const current = await readCurrentState(store);
          const plan = planChanges(current, document, flags.prune === true, {
            upstreamTimeoutMs: config.settings.upstreamTimeoutMs,
          });
          if (!flags.dryRun) await applyPlan(store, plan);
          if (flags.json) {
            printJson({
              dryRun: flags.dryRun === true,
              changed: !planIsEmpty(plan),
              routes: sectionJson(plan.routes),
              policies: sectionJson(plan.policies),
            });
            return;
          }
          printLines(describePlan(plan));
          const verb = flags.dryRun ? 'would change' : 'changed';
          const n = counts(plan);
          process.stdout.write(
            planIsEmpty(plan)
              ? 'no changes\n'
              : `${verb}: ${n.create} created, ${n.update} updated, ${n.remove} removed${flags.dryRun ? ' (dry run: nothing written)' : ''}\n`,
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
      await withStore(command, async ({ store }) => {
        const document = await exportDocument(store);
        const text =
          flags.format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : documentToYaml(document);
        if (flags.output) await writeFile(flags.output, text);
        else process.stdout.write(text);
      });
    });
}
