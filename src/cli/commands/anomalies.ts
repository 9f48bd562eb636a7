/**
 * `portcullis anomalies list|show|resolve|run` — what the anomaly detector found (admin API
 * /anomalies). `run` needs the detector of a running gateway, so it is useful with --url.
 */
import type { Command } from 'commander';
import { IDENTITY_KINDS, SIGNALS } from '../../anomaly/signals.js';
import type { AdminClient, Query } from '../admin-client.js';
import { withAdmin } from '../context.js';
import { CliError, EXIT_INVALID } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { oneOfOption, parseWhole } from '../parse.js';

export interface AnomalyView {
  id: string;
  signal: string;
  identityKind: string;
  identity: string;
  bucketStart: string;
  intervalMs: number;
  detectedAt: string;
  lastSeenAt: string;
  occurrences: number;
  score: number;
  observed: number;
  expected: number;
  explanation: string;
  evidence: Record<string, unknown>;
  action: string;
  blockId: string | null;
  blockExpiresAt: string | null;
  alertId: string | null;
  status: string;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolutionNote: string | null;
}

export interface AnomalyDetail extends AnomalyView {
  deliveries: Array<{
    id: string;
    url: string;
    status: string;
    attempts: number;
    lastStatus: number | null;
    lastError: string | null;
    finishedAt: string;
  }>;
  block: { id: string; expiresAt: string | null } | null;
}

export interface FindingView {
  signal: string;
  identityKind: string;
  identity: string;
  observed: number;
  expected: number;
  score: number;
  explanation: string;
}

export interface RunView {
  bucketStart: string;
  intervalMs: number;
  identities: number;
  findings: FindingView[];
  anomalies: AnomalyView[];
}

const path = (id: string) => `/anomalies/${encodeURIComponent(id)}`;

/** A figure for people: whole numbers as they are, ratios and scores to three significant digits. */
function figure(value: unknown): string {
  if (typeof value !== 'number') return String(value);
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(3)));
}

/** `--identity key:key_…`, `ip:2001:db8::/64` (the value is everything after the first colon). */
function identityFilter(value: string | undefined): Query {
  if (value === undefined) return {};
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1)
    throw new CliError(
      'invalid_input',
      `--identity expects <kind>:<value>, kind one of ${IDENTITY_KINDS.join(', ')} (got "${value}")`,
      EXIT_INVALID,
    );
  return {
    identityKind: oneOfOption('--identity', value.slice(0, colon), IDENTITY_KINDS),
    identity: value.slice(colon + 1),
  };
}

/** The first `limit` anomalies, newest first (the API pages by at most 1,000). */
async function firstItems(api: AdminClient, query: Query, limit: number): Promise<AnomalyView[]> {
  const out: AnomalyView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<{ items: AnomalyView[]; nextCursor: string | null }>('/anomalies', {
      ...query,
      limit: Math.min(1000, limit - out.length),
      cursor,
    });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && out.length < limit);
  return out;
}

function rows(anomalies: readonly AnomalyView[]): Array<Record<string, string>> {
  return anomalies.map((a) => ({
    time: a.detectedAt,
    id: a.id,
    signal: a.signal,
    identity: `${a.identityKind}:${a.identity}`,
    'observed vs expected': `${figure(a.observed)} vs ${figure(a.expected)}`,
    action: a.action,
    status: a.status,
  }));
}
const COLUMNS = ['time', 'id', 'signal', 'identity', 'observed vs expected', 'action', 'status'];

function detailLines(a: AnomalyDetail): string[] {
  const e = a.evidence;
  const lines = [
    `anomaly ${a.id} (${a.status})`,
    `  ${a.explanation}`,
    `  signal      ${a.signal}`,
    `  identity    ${a.identityKind}:${a.identity}`,
    `  detected    ${a.detectedAt}${a.occurrences > 1 ? `, seen ${a.occurrences} times, last ${a.lastSeenAt}` : ''}`,
    `  interval    ${a.bucketStart} (${a.intervalMs / 1000} s)`,
    `  observed    ${figure(a.observed)} (expected ${figure(a.expected)}, score ${figure(a.score)})`,
  ];
  const figures = (['metric', 'observed', 'expected', 'stddev', 'threshold', 'history', 'requests'] as const)
    .filter((name) => e[name] !== undefined)
    .map((name) => `${name} ${figure(e[name])}`);
  if (figures.length > 0) lines.push(`  evidence    ${figures.join(', ')}`);
  if (Array.isArray(e['series']))
    lines.push(`  series      ${(e['series'] as unknown[]).map(figure).join(' ')} (oldest first)`);
  let action = `  action      ${a.action}`;
  if (a.blockId !== null)
    action += a.block
      ? ` (block ${a.block.id} ${a.block.expiresAt === null ? 'until lifted' : `until ${a.block.expiresAt}`})`
      : ` (block ${a.blockId} lifted or expired)`;
  lines.push(action);
  if (a.status === 'resolved')
    lines.push(
      `  resolved    ${a.resolvedAt ?? '-'} by ${a.resolvedBy ?? '-'}${a.resolutionNote ? `: ${a.resolutionNote}` : ''}`,
    );
  if (a.alertId !== null) {
    lines.push(
      `  alert       ${a.alertId}: ${a.deliveries.length === 0 ? 'no delivery recorded' : 'deliveries'}`,
    );
    for (const d of a.deliveries)
      lines.push(
        `    ${d.finishedAt}  ${d.status}  ${d.url}  ${d.attempts} attempt(s)${d.lastStatus === null ? '' : `, last HTTP ${d.lastStatus}`}${d.lastError ? `: ${d.lastError}` : ''}`,
      );
  }
  return lines;
}

export function registerAnomalies(program: Command): void {
  const anomalies = program.command('anomalies').description('what the anomaly detector found');

  anomalies
    .command('list')
    .description('anomalies, newest first')
    .option('--status <status>', 'open or resolved')
    .option('--signal <signal>', SIGNALS.join(', '))
    .option('--identity <kind:value>', 'e.g. key:key_…, ip:203.0.113.7, client:acme')
    .option('--since <when>', 'duration back from now or ISO date')
    .option('--until <when>', 'duration back from now or ISO date')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(
      async (
        flags: {
          status?: string;
          signal?: string;
          identity?: string;
          since?: string;
          until?: string;
          limit: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        const limit = parseWhole('--limit', flags.limit, 1) as number;
        const query: Query = {
          status:
            flags.status === undefined
              ? undefined
              : oneOfOption('--status', flags.status, ['open', 'resolved']),
          signal: flags.signal === undefined ? undefined : oneOfOption('--signal', flags.signal, SIGNALS),
          ...identityFilter(flags.identity),
          since: flags.since,
          until: flags.until,
        };
        await withAdmin(command, async (api) => {
          const view = await firstItems(api, query, limit);
          if (flags.json) printJson(view);
          else printTable(rows(view), COLUMNS);
        });
      },
    );

  anomalies
    .command('show')
    .description('an anomaly with its evidence, its alert’s deliveries and its block')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const view = await api.get<AnomalyDetail>(path(id));
        if (flags.json) printJson(view);
        else process.stdout.write(`${detailLines(view).join('\n')}\n`);
      });
    });

  anomalies
    .command('resolve')
    .description('mark an anomaly resolved, lifting the block the detector put in place for it')
    .argument('<id>')
    .option('--note <text>', 'why, for the record (up to 500 characters)')
    .option('--keep-block', 'leave the block in place')
    .option('--json', 'print JSON')
    .action(
      async (id: string, flags: { note?: string; keepBlock?: boolean; json?: boolean }, command: Command) => {
        await withAdmin(command, async (api) => {
          const result = await api.post<{ anomaly: AnomalyView; liftedBlock: string | null }>(
            `${path(id)}/resolve`,
            { note: flags.note, keepBlock: flags.keepBlock },
          );
          if (flags.json) printJson(result);
          else {
            const block = result.liftedBlock
              ? `; block ${result.liftedBlock} lifted`
              : flags.keepBlock && result.anomaly.blockId !== null
                ? `; block ${result.anomaly.blockId} left in place`
                : '';
            process.stdout.write(`anomaly ${id} resolved${block}\n`);
          }
        });
      },
    );

  anomalies
    .command('run')
    .description('run the detector now on the interval in progress (a running gateway: use --url)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withAdmin(command, async (api) => {
        const result = await api.post<RunView>('/anomalies/run');
        if (flags.json) {
          printJson(result);
          return;
        }
        process.stdout.write(
          `interval from ${result.bucketStart} (${result.intervalMs / 1000} s, in progress): ${result.identities} identities, ${result.findings.length} finding(s)\n`,
        );
        if (result.findings.length > 0)
          printTable(
            result.findings.map((f) => ({
              signal: f.signal,
              identity: `${f.identityKind}:${f.identity}`,
              'observed vs expected': `${figure(f.observed)} vs ${figure(f.expected)}`,
              score: figure(f.score),
            })),
            ['signal', 'identity', 'observed vs expected', 'score'],
          );
        // A finding of an incident already open is folded into it rather than recorded again.
        for (const a of result.anomalies)
          process.stdout.write(
            `new anomaly ${a.id}: ${a.signal} ${a.identityKind}:${a.identity} (${a.action})\n`,
          );
      });
    });
}
