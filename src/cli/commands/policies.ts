/** `portcullis policies add|list|show|update|remove` */
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { SpecError, type SpecIssue } from '../../core/spec-error.js';
import {
  attachedRoutes,
  KEY_BY,
  type PolicySpec,
  parsePolicySpec,
  policyFieldApplies,
  policySummary,
  STORE_FAILURE_MODES,
} from '../../limits/policy.js';
import type { LimitAlgorithm, QuotaPeriod } from '../../limits/types.js';
import { ConflictError, NotFoundError } from '../../store/errors.js';
import type { Store } from '../../store/types.js';
import { withStore } from '../context.js';
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
  json?: boolean;
}

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
const NUMERIC_FIELDS: ReadonlySet<string> = new Set(['burst', 'limit', 'ipv6_prefix']);

/**
 * Whole numbers become numbers; anything else is passed on as text so the spec validator
 * reports it at its field (`policy.limit: must be a positive integer (got "ten")`).
 */
function numberOrText(value: string): number | string {
  return /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : value;
}

/**
 * The spec input from flags on top of `base` (update). Fields inherited from `base` that the
 * change makes meaningless (the window of a policy turned into a token bucket, the time zone
 * of a quota turned rolling) are dropped; flags given explicitly are always kept, so a
 * contradiction is reported rather than silently ignored.
 */
function specFromFlags(flags: PolicyFlags, base?: PolicySpec): Record<string, unknown> {
  const explicit: Record<string, unknown> = {};
  if (flags.id !== undefined) explicit['id'] = flags.id;
  for (const [flag, field] of VALUE_FLAGS) {
    const value = flags[flag];
    if (value === undefined) continue;
    explicit[field] = typeof value === 'string' && NUMERIC_FIELDS.has(field) ? numberOrText(value) : value;
  }
  if (flags.keyBy !== undefined) explicit['key_by'] = flags.keyBy.flatMap((v) => parseList(v) ?? []);
  if (flags.attach !== undefined)
    explicit['attach'] = flags.attach === false ? [] : flags.attach.flatMap((v) => parseList(v) ?? []);

  const spec: Record<string, unknown> = { ...(base ?? {}), ...explicit };
  if (spec['description'] === '') delete spec['description'];
  if (base !== undefined) {
    const context = {
      algorithm: spec['algorithm'] as LimitAlgorithm,
      period: spec['period'] as QuotaPeriod | undefined,
      key_by: spec['key_by'] as string[] | undefined,
    };
    for (const field of Object.keys(base)) {
      if (!(field in explicit) && !policyFieldApplies(field, context)) delete spec[field];
    }
  }
  return spec;
}

/** A policy attached to a route that does not exist would silently limit nothing. */
async function checkAttachedRoutes(store: Store, spec: PolicySpec): Promise<void> {
  const issues: SpecIssue[] = [];
  const attach = spec.attach ?? [];
  for (const routeId of attachedRoutes(spec)) {
    if (!(await store.routes.get(routeId))) {
      issues.push({
        path: `policy.attach[${attach.indexOf(`route:${routeId}`)}]`,
        message: `route "${routeId}" does not exist`,
      });
    }
  }
  if (issues.length > 0) throw new SpecError(issues);
}

/** Refuse to remove a policy that routes or keys still name: they would stop being limited. */
async function checkUnused(store: Store, id: string): Promise<void> {
  const users = [
    ...(await store.routes.list())
      .filter((r) => r.spec.policies?.includes(id))
      .map((r) => `route "${r.spec.id}"`),
    ...(await store.apiKeys.list()).filter((k) => k.policy === id).map((k) => `key "${k.id}"`),
  ];
  if (users.length > 0) {
    throw new ConflictError(
      'policy',
      id,
      `policy "${id}" is still named by ${users.join(', ')}; change them first`,
    );
  }
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
    const spec = parsePolicySpec(specFromFlags(flags));
    await withStore(command, async ({ store }) => {
      await checkAttachedRoutes(store, spec);
      const record = await store.policies.insert(spec);
      if (flags.json) printJson(record.spec);
      else process.stdout.write(`policy ${spec.id} added (${policySummary(spec)})\n`);
    });
  });

  addPolicyFlags(
    policies.command('update').description('change fields of a policy').argument('<id>', 'policy id'),
  ).action(async (id: string, flags: PolicyFlags, command: Command) => {
    await withStore(command, async ({ store }) => {
      const existing = await store.policies.get(id);
      if (!existing) throw new NotFoundError('policy', id);
      const spec = parsePolicySpec(specFromFlags({ ...flags, id }, existing.spec));
      await checkAttachedRoutes(store, spec);
      const record = await store.policies.replace(spec);
      if (flags.json) printJson(record.spec);
      else process.stdout.write(`policy ${id} updated (${policySummary(spec)})\n`);
    });
  });

  policies
    .command('list')
    .description('list rate-limit policies')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        const records = await store.policies.list();
        if (flags.json) {
          printJson(records.map((r) => r.spec));
          return;
        }
        printTable(
          records.map(({ spec }) => ({
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
      await withStore(command, async ({ store }) => {
        const record = await store.policies.get(id);
        if (!record) throw new NotFoundError('policy', id);
        if (flags.json)
          printJson({ ...record.spec, created_at: record.createdAt, updated_at: record.updatedAt });
        else process.stdout.write(stringifyYaml(record.spec, { lineWidth: 0 }));
      });
    });

  policies
    .command('remove')
    .description('remove a policy (refused while routes or keys name it)')
    .argument('<id>', 'policy id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store }) => {
        if (!(await store.policies.get(id))) throw new NotFoundError('policy', id);
        await checkUnused(store, id);
        if (!(await store.policies.remove(id))) throw new NotFoundError('policy', id);
        if (flags.json) printJson({ id, removed: true });
        else process.stdout.write(`policy ${id} removed\n`);
      });
    });
}
