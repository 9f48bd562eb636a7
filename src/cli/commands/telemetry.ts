/**
 * `portcullis logs query|export`, `portcullis usage`, `portcullis audit list` — what happened.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { normalizeIp } from '../../net/ip.js';
import type { RecordDecision, RequestLogFilter, UsageGranularity } from '../../store/types.js';
import { type ExportFormat, formatRows } from '../../telemetry/export.js';
import { withStore } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { iso, oneOfOption, parseDuration, parseExpiry, parseWhole } from '../parse.js';

const REQUEST_COLUMNS = [
  'at',
  'requestId',
  'door',
  'routeId',
  'method',
  'path',
  'status',
  'totalMs',
  'upstreamMs',
  'clientId',
  'keyId',
  'userId',
  'ip',
  'decision',
  'code',
  'bytesIn',
  'bytesOut',
] as const;
const INTERCEPT_COLUMNS = [
  'at',
  'keyId',
  'clientId',
  'ip',
  'bound',
  'routeId',
  'method',
  'path',
  'requestId',
] as const;

/** "24h" back from now, or an ISO date. */
function parseSince(option: string, value: string, now: number): number {
  if (/^\d+[smhdw]$/.test(value.trim())) return now - parseDuration(option, value);
  return parseExpiry(option, value, now) as number;
}

type LogFlags = {
  since?: string;
  until?: string;
  key?: string;
  client?: string;
  route?: string;
  status?: string;
  decision?: string;
  ip?: string;
  limit?: string;
};

function logFilter(flags: LogFlags, now: number): RequestLogFilter {
  return {
    ...(flags.since ? { since: parseSince('--since', flags.since, now) } : {}),
    ...(flags.until ? { until: parseSince('--until', flags.until, now) } : {}),
    ...(flags.key ? { keyId: flags.key } : {}),
    ...(flags.client ? { clientId: flags.client } : {}),
    ...(flags.route ? { routeId: flags.route } : {}),
    ...(flags.status ? { status: parseWhole('--status', flags.status, 100) as number } : {}),
    ...(flags.decision
      ? {
          decision: oneOfOption('--decision', flags.decision, [
            'allowed',
            'denied',
            'error',
          ] as const) as RecordDecision,
        }
      : {}),
    ...(flags.ip ? { ip: normalizeIp(flags.ip) ?? flags.ip } : {}),
  };
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
    .option('--ip <address>');
}

export function registerTelemetry(program: Command): void {
  const logs = program.command('logs').description('request records: query and export');

  filterOptions(logs.command('query').description('recent request records, newest first'))
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (flags: LogFlags & { json?: boolean }, command: Command) => {
      await withStore(command, async ({ store, identity }) => {
        const records = await store.requestLogs.list({
          ...logFilter(flags, identity.clock.now()),
          limit: parseWhole('--limit', flags.limit ?? '50', 1) as number,
        });
        const view = records.map((r) => ({ ...r, at: iso(r.at) }));
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
        const format = oneOfOption('--format', flags.format, ['csv', 'ndjson'] as const) as ExportFormat;
        if (flags.intercepts) {
          const unsupported = (['client', 'route', 'status', 'decision', 'ip'] as const).filter(
            (f) => flags[f] !== undefined,
          );
          if (unsupported.length > 0)
            throw new CliError(
              'invalid_input',
              `--intercepts filters by --key, --since and --until only (not --${unsupported.join(', --')})`,
              EXIT_INVALID,
            );
        }
        await withStore(command, async ({ store, identity }) => {
          const filter = logFilter(flags, identity.clock.now());
          const lines = flags.intercepts
            ? formatRows(
                store.intercepts.stream({
                  ...(filter.keyId ? { keyId: filter.keyId } : {}),
                  ...(filter.since !== undefined ? { since: filter.since } : {}),
                  ...(filter.until !== undefined ? { until: filter.until } : {}),
                }),
                format,
                INTERCEPT_COLUMNS,
                (r) => ({ ...r, at: iso(r.at) }),
              )
            : formatRows(store.requestLogs.stream(filter), format, REQUEST_COLUMNS, (r) => ({
                ...r,
                at: iso(r.at),
              }));
          const out = flags.output ? createWriteStream(flags.output) : process.stdout;
          // pipeline applies backpressure: rows are read from the database as fast as they are written out.
          await pipeline(Readable.from(lines), out, { end: flags.output !== undefined });
        });
      },
    );

  program
    .command('usage')
    .description('request counts for a key or a client by minute, hour or day')
    .option('--key <id>')
    .option('--client <id>')
    .option('--since <when>', 'duration back from now (24h) or ISO date', '24h')
    .option('--by <granularity>', 'minute, hour or day', 'hour')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: { key?: string; client?: string; since: string; by: string; json?: boolean },
        command: Command,
      ) => {
        if ((flags.key === undefined) === (flags.client === undefined))
          throw new CliError('invalid_input', 'name exactly one of --key or --client', EXIT_INVALID);
        const by = oneOfOption('--by', flags.by, ['minute', 'hour', 'day'] as const) as UsageGranularity;
        await withStore(command, async ({ store, identity }) => {
          const rows = await store.usage.rows({
            granularity: by,
            since: parseSince('--since', flags.since, identity.clock.now()),
            ...(flags.key ? { keyId: flags.key } : { clientId: flags.client as string }),
          });
          const buckets = new Map<
            number,
            {
              bucket: string;
              requests: number;
              status: Record<string, number>;
              denied: Record<string, number>;
              routes: Record<string, number>;
              bytesIn: number;
              bytesOut: number;
            }
          >();
          for (const row of rows) {
            let b = buckets.get(row.bucket);
            if (!b) {
              b = {
                bucket: iso(row.bucket),
                requests: 0,
                status: {},
                denied: {},
                routes: {},
                bytesIn: 0,
                bytesOut: 0,
              };
              buckets.set(row.bucket, b);
            }
            b.requests += row.requests;
            b.status[row.statusClass] = (b.status[row.statusClass] ?? 0) + row.requests;
            if (row.code) b.denied[row.code] = (b.denied[row.code] ?? 0) + row.requests;
            const route = row.routeId || '(none)';
            b.routes[route] = (b.routes[route] ?? 0) + row.requests;
            b.bytesIn += row.bytesIn;
            b.bytesOut += row.bytesOut;
          }
          const view = [...buckets.values()];
          if (flags.json) printJson(view);
          else
            printTable(
              view.map((b) => ({
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
    .option('--actor <name>')
    .option('--action <action>', 'e.g. clients.update')
    .option('--target <type:id>', 'e.g. apiKeys:key_…')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: {
          since?: string;
          actor?: string;
          action?: string;
          target?: string;
          limit: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withStore(command, async ({ store, identity }) => {
          const [targetType, targetId] = flags.target ? flags.target.split(/:(.*)/s) : [];
          const entries = await store.auditLog.list({
            ...(flags.since ? { since: parseSince('--since', flags.since, identity.clock.now()) } : {}),
            ...(flags.actor ? { actor: flags.actor } : {}),
            ...(flags.action ? { action: flags.action } : {}),
            ...(targetType ? { targetType } : {}),
            ...(targetId ? { targetId } : {}),
            limit: parseWhole('--limit', flags.limit, 1) as number,
          });
          const view = entries.map((e) => ({ ...e, at: iso(e.at) }));
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
