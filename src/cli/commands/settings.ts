/** `portcullis settings list|set|unset` — live settings (admin API /settings). */
import type { Command } from 'commander';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';

interface LiveSettingView {
  key: string;
  value: string | number;
  configured: string | number;
  source: 'live' | 'config';
}

function print(items: LiveSettingView[], json: boolean | undefined): void {
  if (json) printJson(items);
  else
    printTable(
      items.map((s) => ({
        key: s.key,
        value: String(s.value),
        source: s.source,
        configured: String(s.configured),
      })),
      ['key', 'value', 'source', 'configured'],
    );
}

export function registerSettings(program: Command): void {
  const settings = program
    .command('settings')
    .description('live settings: changed on every running instance without a restart');

  settings
    .command('list')
    .description('show live settings and where each value comes from')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        print((await api.get<{ items: LiveSettingView[] }>('/settings')).items, flags.json);
      });
    });

  settings
    .command('set')
    .description('override live settings, e.g. failsafe=open access_log_sample=0.01')
    .argument('<key=value...>')
    .option('--json', 'print JSON')
    .action(async (pairs: string[], flags: { json?: boolean }, command: Command) => {
      const body: Record<string, string> = {};
      for (const pair of pairs) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new CliError('invalid_input', `expected key=value (got "${pair}")`, EXIT_INVALID);
        body[camel(pair.slice(0, eq))] = pair.slice(eq + 1);
      }
      await withAdmin(command, async (api) => {
        print((await api.patch<{ items: LiveSettingView[] }>('/settings', body)).items, flags.json);
      });
    });

  settings
    .command('unset')
    .description('remove an override: the configured value applies again')
    .argument('<key>')
    .option('--json', 'print JSON')
    .action(async (key: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const answer = await api.delete<{ items: LiveSettingView[] }>(
          `/settings/${encodeURIComponent(camel(key))}`,
        );
        print(answer.items, flags.json);
      });
    });
}

/** Accept the file/env spelling (access_log_sample) as well as the API's (accessLogSample). */
function camel(key: string): string {
  return key.replace(/[_-]([a-z])/g, (_m, c: string) => c.toUpperCase());
}
