/**
 * `portcullis logs query|export`, `portcullis usage`, `portcullis audit list` — what happened
 * (admin API /logs, /logs/export, /usage, /audit).
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { AdminClient, Query } from '../admin-client.js';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { parseWhole } from '../parse.js';

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The first `limit` items of a paged list (the API pages by at most 1,000). */
async function firstItems<T>(api: AdminClient, path: string, query: Query, limit: number): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<Page<T>>(path, {
      ...query,
      limit: Math.min(1000, limit - out.length),
      cursor,
    });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && out.length < limit);
  return out;
}

interface RequestLogView {
  at: string;
  status: number;
  decision: string;
  code: string | null;
  routeId: string | null;
  method: string;
  path: string;
  keyId: string | null;
  ip: string;
  totalMs: number;
}

interface UsageBucketView {
  bucket: string;
  requests: number;
  status: Record<string, number>;
  denied: Record<string, number>;
  routes: Record<string, number>;
}

interface AuditView {
  at: string;
  actor: string;
  source: string;
  action: string;
  targetId: string;
}

type LogFlags = {
  since?: string;
  until?: string;
  key?: string;
  client?: string;
  route?: string;
  status?: string;
  decision?: string;
  code?: string;
  ip?: string;
};

/** The filter flags as the API's query (it validates them: a bad value is exit 2 naming it). */
function logQuery(flags: LogFlags): Query {
  return {
    since: flags.since,
    until: flags.until,
    key: flags.key,
    client: flags.client,
    route: flags.route,
    status: flags.status,
    decision: flags.decision,
    code: flags.code,
    ip: flags.ip,
  };
}

/** Intercepts (GET /intercepts/export) are filtered by key, route and time only. */
function interceptQuery(flags: LogFlags): Query {
  const unsupported = (['client', 'status', 'decision', 'code', 'ip'] as const).filter(
    (f) => flags[f] !== undefined,
  );
  if (unsupported.length > 0)
    throw new CliError(
      'invalid_input',
      `--intercepts filters by --key, --route, --since and --until only (not --${unsupported.join(', --')})`,
      EXIT_INVALID,
    );
  return { since: flags.since, until: flags.until, key: flags.key, route: flags.route };
}

function filterOptions(command: Command): Command {
  return command
    .option('--since <when>', 'duration back from now (24h) or ISO date')
    .option('--until <when>', 'duration back from now or ISO date')
    .option('--key <id>')
    .option('--client <id>')
    .option('--route <id>')
    .option('--status <code>')
    .option('--decision <d>', 'allowed, denied or error')
    .option('--code <code>', 'refusal or error code, e.g. rate_limited')
    .option('--ip <address>');
}

export function registerTelemetry(program: Command): void {
  const logs = program.command('logs').description('request records: query and export');

  filterOptions(logs.command('query').description('recent request records, newest first'))
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (flags: LogFlags & { limit: string; json?: boolean }, command: Command) => {
      const limit = parseWhole('--limit', flags.limit, 1) as number;
      await withAdmin(command, async (api) => {
        const view = await firstItems<RequestLogView>(api, '/logs', logQuery(flags), limit);
        if (flags.json) printJson(view);
        else
          printTable(
            view.map((r) => ({
              at: r.at,
              status: String(r.status),
              decision: r.code ? `${r.decision} ${r.code}` : r.decision,
              route: r.routeId ?? '-',
              request: `${r.method} ${r.path}`,
              key: r.keyId ?? '-',
              ip: r.ip,
              ms: r.totalMs.toFixed(2),
            })),
            ['at', 'status', 'decision', 'route', 'request', 'key', 'ip', 'ms'],
          );
      });
    });

  filterOptions(logs.command('export').description('stream request records (or intercepts) as CSV or NDJSON'))
    .option('--format <f>', 'csv or ndjson', 'ndjson')
    .option('--intercepts', 'export binding intercepts instead of request records')
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .action(
      async (
        flags: LogFlags & { format: string; intercepts?: boolean; output?: string },
        command: Command,
      ) => {
        const query = flags.intercepts ? interceptQuery(flags) : logQuery(flags);
        await withAdmin(command, async (api) => {
          const body = await api.stream(flags.intercepts ? '/intercepts/export' : '/logs/export', {
            ...query,
            format: flags.format,
          });
          // The file is created only once the API accepted the request (no empty file on a 422).
          const out = flags.output ? createWriteStream(flags.output) : process.stdout;
          // pipeline applies backpressure: rows are read from the database as fast as they are written out.
          await pipeline(body, out, { end: flags.output !== undefined });
        });
      },
    );

  program
    .command('usage')
    .description('request counts for a key or a client by minute, hour or day')
    .option('--key <id>')
    .option('--client <id>')
    .option('--since <when>', 'duration back from now (24h) or ISO date', '24h')
    .option('--until <when>', 'duration back from now or ISO date')
    .option('--by <granularity>', 'minute, hour or day', 'hour')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: { key?: string; client?: string; since: string; until?: string; by: string; json?: boolean },
        command: Command,
      ) => {
        await withAdmin(command, async (api) => {
          const { buckets } = await api.get<{ buckets: UsageBucketView[] }>('/usage', {
            key: flags.key,
            client: flags.client,
            since: flags.since,
            until: flags.until,
            by: flags.by,
          });
          if (flags.json) printJson(buckets);
          else
            printTable(
              buckets.map((b) => ({
                bucket: b.bucket,
                requests: String(b.requests),
                status: Object.entries(b.status)
                  .map(([k, v]) => `${k}:${v}`)
                  .join(' '),
                refused: Object.entries(b.denied)
                  .map(([k, v]) => `${k}:${v}`)
                  .join(' '),
                routes: Object.entries(b.routes)
                  .map(([k, v]) => `${k}:${v}`)
                  .join(' '),
              })),
              ['bucket', 'requests', 'status', 'refused', 'routes'],
            );
        });
      },
    );

  program
    .command('audit')
    .description('the audit log of administrative changes')
    .command('list')
    .description('changes, newest first')
    .option('--since <when>', 'duration back from now or ISO date')
    .option('--until <when>', 'duration back from now or ISO date')
    .option('--actor <name>')
    .option('--action <action>', 'e.g. clients.update')
    .option('--target <type:id>', 'e.g. apiKeys:key_…')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: {
          since?: string;
          until?: string;
          actor?: string;
          action?: string;
          target?: string;
          limit: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        const limit = parseWhole('--limit', flags.limit, 1) as number;
        const [targetType, targetId] = flags.target ? flags.target.split(/:(.*)/s) : [];
        await withAdmin(command, async (api) => {
          const view = await firstItems<AuditView>(
            api,
            '/audit',
            {
              since: flags.since,
              until: flags.until,
              actor: flags.actor,
              action: flags.action,
              targetType: targetType || undefined,
              targetId: targetId || undefined,
            },
            limit,
          );
          if (flags.json) printJson(view);
          else
            printTable(
              view.map((e) => ({
                at: e.at,
                actor: e.actor,
                source: e.source,
                action: e.action,
                target: e.targetId,
              })),
              ['at', 'actor', 'source', 'action', 'target'],
            );
        });
      },
    );
}
