/** `portcullis policies add|list|show|update|remove` (admin API /policies) */
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { KEY_BY, type PolicySpec, policySummary, STORE_FAILURE_MODES } from '../../limits/policy.js';
import { withAdmin } from '../context.js';
import { printJson, printTable } from '../output.js';
import { collect, parseList } from '../parse.js';

interface PolicyFlags {
  id?: string;
  description?: string;
  algorithm?: string;
  rate?: string;
  burst?: string;
  limit?: string;
  window?: string;
  period?: string;
  timeZone?: string;
  keyBy?: string[];
  ipv6Prefix?: string;
  /** `false` from --no-attach. */
  attach?: string[] | false;
  onStoreFailure?: string;
  shadow?: boolean;
  refundOn5xx?: boolean;
  attachedTo?: string;
  json?: boolean;
}

/** What the API answers: the spec with its timestamps (ISO). */
type PolicyView = PolicySpec & { created_at: string; updated_at: string };

/** Flag → spec field, for the fields that are plain values. */
const VALUE_FLAGS = [
  ['description', 'description'],
  ['algorithm', 'algorithm'],
  ['rate', 'rate'],
  ['burst', 'burst'],
  ['limit', 'limit'],
  ['window', 'window'],
  ['period', 'period'],
  ['timeZone', 'time_zone'],
  ['ipv6Prefix', 'ipv6_prefix'],
  ['onStoreFailure', 'on_store_failure'],
  ['shadow', 'shadow'],
  ['refundOn5xx', 'refund_on_5xx'],
] as const;

const path = (id: string) => `/policies/${encodeURIComponent(id)}`;

/**
 * The request body from flags: values as typed (the API turns digit strings into numbers and
 * reports anything else at its field), lists split. The API applies an update on top of the
 * stored policy, dropping fields the change makes meaningless.
 */
function bodyFromFlags(flags: PolicyFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (flags.id !== undefined) body['id'] = flags.id;
  for (const [flag, field] of VALUE_FLAGS) {
    if (flags[flag] !== undefined) body[field] = flags[flag];
  }
  if (flags.keyBy !== undefined) body['key_by'] = flags.keyBy.flatMap((v) => parseList(v) ?? []);
  if (flags.attach !== undefined)
    body['attach'] = flags.attach === false ? [] : flags.attach.flatMap((v) => parseList(v) ?? []);
  return body;
}

/** The spec alone, as `--json` printed it before the API existed. */
function specOf(view: PolicyView): PolicySpec {
  const { created_at: _c, updated_at: _u, ...spec } = view;
  return spec;
}

function modeText(spec: PolicySpec): string {
  return [
    spec.on_store_failure,
    ...(spec.shadow ? ['shadow'] : []),
    ...(spec.refund_on_5xx ? ['refund-5xx'] : []),
  ].join(' ');
}

function limitText(spec: PolicySpec): string {
  // "fixed_window 10 per 60s by key" without the algorithm and the keys, which have columns.
  return policySummary(spec)
    .slice(spec.algorithm.length + 1)
    .replace(/ by [^ ]+$/, '');
}

function addPolicyFlags(command: Command): Command {
  return command
    .option('--description <text>', 'free text (empty to clear)')
    .option('--algorithm <name>', 'token_bucket, sliding_window, fixed_window, quota or concurrency')
    .option('--rate <rate>', 'token_bucket: 100/s, 5/m, or count per duration like 5/10s')
    .option('--burst <n>', 'token_bucket: bucket size (default: the rate count)')
    .option('--limit <n>', 'windows and quotas: units per window; concurrency: requests in flight')
    .option('--window <duration>', 'sliding_window, fixed_window: 500ms, 30s, 15m, 1h, 1d')
    .option('--period <period>', 'quota: rolling_24h, day or month')
    .option('--time-zone <zone>', 'day and month quotas: IANA time zone (default UTC)')
    .option(
      '--key-by <list>',
      `what to count by, comma-separated or repeated: ${KEY_BY.join(', ')} (global alone)`,
      collect,
    )
    .option('--ipv6-prefix <bits>', 'with --key-by ip: count IPv6 addresses per /N (default 64)')
    .option(
      '--attach <target>',
      'global, route:<id>, client:<id> or key:<id>; repeatable (update: replaces the list)',
      collect,
    )
    .option('--no-attach', 'update: attach to nothing (routes may still name the policy)')
    .option(
      '--on-store-failure <mode>',
      `when Redis is unreachable: ${STORE_FAILURE_MODES.join(', ')} (default local)`,
    )
    .option('--shadow', 'record "would deny", deny nothing')
    .option('--no-shadow', 'enforce (update)')
    .option('--refund-on-5xx', 'give the unit back when the upstream answers 5xx')
    .option('--no-refund-on-5xx', 'keep the unit on upstream 5xx (update)')
    .option('--json', 'print JSON');
}

export function registerPolicies(program: Command): void {
  const policies = program.command('policies').description('manage rate-limit policies');

  addPolicyFlags(
    policies.command('add').description('add a rate-limit policy').requiredOption('--id <id>', 'policy id'),
  ).action(async (flags: PolicyFlags, command: Command) => {
    await withAdmin(command, async (api) => {
      const spec = specOf(await api.post<PolicyView>('/policies', bodyFromFlags(flags)));
      if (flags.json) printJson(spec);
      else process.stdout.write(`policy ${spec.id} added (${policySummary(spec)})\n`);
    });
  });

  addPolicyFlags(
    policies.command('update').description('change fields of a policy').argument('<id>', 'policy id'),
  ).action(async (id: string, flags: PolicyFlags, command: Command) => {
    await withAdmin(command, async (api) => {
      const spec = specOf(await api.patch<PolicyView>(path(id), bodyFromFlags(flags)));
      if (flags.json) printJson(spec);
      else process.stdout.write(`policy ${id} updated (${policySummary(spec)})\n`);
    });
  });

  policies
    .command('list')
    .description('list rate-limit policies')
    .option('--attached-to <target>', 'only policies attached to global, route:<id>, client:<id> or key:<id>')
    .option('--json', 'print JSON')
    .action(async (flags: PolicyFlags, command: Command) => {
      await withAdmin(command, async (api) => {
        const specs = (await api.all<PolicyView>('/policies', { attach: flags.attachedTo })).map(specOf);
        if (flags.json) {
          printJson(specs);
          return;
        }
        printTable(
          specs.map((spec) => ({
            id: spec.id,
            algorithm: spec.algorithm,
            limit: limitText(spec),
            key_by: spec.key_by.join(','),
            attach: spec.attach?.join(',') ?? '-',
            mode: modeText(spec),
          })),
          ['id', 'algorithm', 'limit', 'key_by', 'attach', 'mode'],
        );
      });
    });

  policies
    .command('show')
    .description('show one policy')
    .argument('<id>', 'policy id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const view = await api.get<PolicyView>(path(id));
        // Timestamps as epoch ms, as this command has always printed them.
        if (flags.json)
          printJson({
            ...specOf(view),
            created_at: Date.parse(view.created_at),
            updated_at: Date.parse(view.updated_at),
          });
        else process.stdout.write(stringifyYaml(specOf(view), { lineWidth: 0 }));
      });
    });

  policies
    .command('remove')
    .description('remove a policy (refused while routes or keys name it)')
    .argument('<id>', 'policy id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const removed = await api.delete(path(id));
        if (flags.json) printJson(removed);
        else process.stdout.write(`policy ${id} removed\n`);
      });
    });
}
