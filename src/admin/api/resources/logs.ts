/**
 * Request records: query (newest first, paged by cursor) and export (CSV or NDJSON, streamed),
 * and the export of binding intercepts. What `portcullis logs query|export` shows.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import { normalizeIp } from '../../../net/ip.js';
import type {
  RecordDecision,
  RequestLogFilter,
  RequestLogRecord,
  RequestLogRepository,
} from '../../../store/types.js';
import { type ExportFormat, formatRows } from '../../../telemetry/export.js';
import type { ResourceRoutes } from '../context.js';
import { since as pastTime } from '../input.js';
import { decodeCursor, encodeCursor } from '../pagination.js';
import { iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';

const DECISIONS = ['allowed', 'denied', 'error'] as const;
const DOORS = ['gateway', 'forward_auth', 'verify'] as const;
const FORMATS = ['csv', 'ndjson'] as const;

/** CSV columns of a request record, in the order of the record (and of its NDJSON object). */
export const REQUEST_COLUMNS = [
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

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const RequestLog = Type.Object(
  {
    at: Timestamp,
    requestId: Type.String(),
    door: Type.String({ description: 'gateway, forward_auth or verify' }),
    routeId: NullableString,
    method: Type.String(),
    path: Type.String({ description: 'without the query string' }),
    status: Type.Integer(),
    totalMs: Type.Number(),
    upstreamMs: Type.Union([Type.Number(), Type.Null()]),
    clientId: NullableString,
    keyId: NullableString,
    userId: NullableString,
    ip: Type.String(),
    decision: Type.String({ description: 'allowed, denied or error' }),
    code: Type.Union([Type.String(), Type.Null()], { description: 'catalog code of a refusal or error' }),
    bytesIn: Type.Union([Type.Integer(), Type.Null()]),
    bytesOut: Type.Integer(),
  },
  { $id: 'RequestLog' },
);

/** Exactly the fields of a record (never whatever else an object might carry). */
export function requestLogView(r: RequestLogRecord): Static<typeof RequestLog> {
  return {
    at: iso(r.at),
    requestId: r.requestId,
    door: r.door,
    routeId: r.routeId,
    method: r.method,
    path: r.path,
    status: r.status,
    totalMs: r.totalMs,
    upstreamMs: r.upstreamMs,
    clientId: r.clientId,
    keyId: r.keyId,
    userId: r.userId,
    ip: r.ip,
    decision: r.decision,
    code: r.code,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
  };
}

const when = (what: string) =>
  Type.Optional(Type.String({ maxLength: 100, description: `${what}: a duration ago (24h) or an ISO date` }));

/** The filters of both the query and the export (the CLI's flags). */
const Filters = {
  since: when('from (inclusive)'),
  until: when('until (exclusive)'),
  key: Type.Optional(Type.String({ maxLength: 200, description: 'key id' })),
  client: Type.Optional(Type.String({ maxLength: 200, description: 'client id' })),
  route: Type.Optional(Type.String({ maxLength: 200, description: 'route id' })),
  status: Type.Optional(Type.Integer({ description: 'HTTP status, 100–599' })),
  decision: Type.Optional(Type.String({ description: 'allowed, denied or error' })),
  code: Type.Optional(Type.String({ maxLength: 100, description: 'catalog code, e.g. rate_limited' })),
  door: Type.Optional(Type.String({ description: 'gateway, forward_auth or verify' })),
  ip: Type.Optional(Type.String({ maxLength: 100, description: 'client address' })),
};
type FilterQuery = {
  since?: string | undefined;
  until?: string | undefined;
  key?: string | undefined;
  client?: string | undefined;
  route?: string | undefined;
  status?: number | undefined;
  decision?: string | undefined;
  code?: string | undefined;
  door?: string | undefined;
  ip?: string | undefined;
};

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new SpecError([{ path: field, message: `must be one of ${allowed.join(', ')} (got "${value}")` }]);
  return value as T;
}

/** A filter parsed into what the repository applies in SQL (every field). */
function parseFilter(query: FilterQuery, now: number): RequestLogFilter {
  const issues: { path: string; message: string }[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof SpecError) issues.push(...error.issues);
      else throw error;
      return undefined;
    }
  };
  const since =
    query.since === undefined ? undefined : attempt(() => pastTime('since', query.since as string, now));
  const until =
    query.until === undefined ? undefined : attempt(() => pastTime('until', query.until as string, now));
  if (query.status !== undefined && (query.status < 100 || query.status > 599))
    issues.push({ path: 'status', message: `must be an HTTP status from 100 to 599 (got ${query.status})` });
  const decision =
    query.decision === undefined
      ? undefined
      : attempt(() => oneOf('decision', query.decision as string, DECISIONS));
  const door =
    query.door === undefined ? undefined : attempt(() => oneOf('door', query.door as string, DOORS));
  if (issues.length > 0) throw new SpecError(issues);
  return {
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(query.key !== undefined ? { keyId: query.key } : {}),
    ...(query.client !== undefined ? { clientId: query.client } : {}),
    ...(query.route !== undefined ? { routeId: query.route } : {}),
    ...(query.status !== undefined ? { status: query.status } : {}),
    ...(decision !== undefined ? { decision: decision as RecordDecision } : {}),
    ...(door !== undefined ? { door: door as RequestLogRecord['door'] } : {}),
    ...(query.code !== undefined ? { code: query.code } : {}),
    ...(query.ip !== undefined ? { ip: normalizeIp(query.ip) ?? query.ip } : {}),
  };
}

// ---- paging ----

/**
 * Records have no id column (request ids come from clients and repeat), so the sort key is
 * (time, digest of the record): newest first, then by digest within a millisecond. A cursor
 * is the key of the last record returned and how many records with exactly that key (identical
 * duplicates) were returned so far. The next page starts strictly after it: records arriving
 * between pages are newer than the cursor and shift nothing.
 */
interface LogCursor {
  at: number;
  digest: string;
  seen: number;
}

function digestOf(r: RequestLogRecord): string {
  return createHash('sha256').update(JSON.stringify(r)).digest('base64url');
}

function encodeLogCursor(c: LogCursor): string {
  return encodeCursor(`${c.at}.${c.digest}.${c.seen}`);
}

function decodeLogCursor(cursor: string): LogCursor {
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{43})\.(\d{1,9})$/.exec(decodeCursor(cursor));
  if (!match || Number(match[3]) < 1)
    throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  return { at: Number(match[1]), digest: match[2] as string, seen: Number(match[3]) };
}

interface Keyed {
  record: RequestLogRecord;
  digest: string;
}

const byKey = (a: Keyed, b: Keyed): number =>
  b.record.at - a.record.at || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

/** Records of one millisecond are read whole (a page boundary never splits one arbitrarily). */
const MILLISECOND_CAP = 100_000;

async function logPage(
  repo: RequestLogRepository,
  filter: RequestLogFilter,
  limit: number,
  cursor: LogCursor | undefined,
): Promise<{ items: RequestLogRecord[]; nextCursor: string | null }> {
  const keyed = (records: RequestLogRecord[]): Keyed[] =>
    records.map((record) => ({ record, digest: digestOf(record) })).sort(byKey);
  const wholeMillisecond = (at: number) =>
    repo.list({ ...filter, since: at, until: at + 1, limit: MILLISECOND_CAP });
  const matches: Keyed[] = [];

  let upper = filter.until;
  if (cursor) {
    const inside =
      (filter.since === undefined || cursor.at >= filter.since) &&
      (filter.until === undefined || cursor.at < filter.until);
    if (inside) {
      let skip = cursor.seen;
      for (const row of keyed(await wholeMillisecond(cursor.at))) {
        if (row.digest > cursor.digest || (row.digest === cursor.digest && skip-- <= 0)) matches.push(row);
      }
    }
    upper = upper === undefined ? cursor.at : Math.min(upper, cursor.at);
  }

  if (matches.length <= limit) {
    const want = limit + 1 - matches.length;
    let chunk = await repo.list({ ...filter, ...(upper !== undefined ? { until: upper } : {}), limit: want });
    if (chunk.length === want) {
      // The oldest millisecond read may be cut by the limit: read it whole instead.
      const oldest = (chunk.at(-1) as RequestLogRecord).at;
      chunk = [...chunk.filter((r) => r.at !== oldest), ...(await wholeMillisecond(oldest))];
    }
    matches.push(...keyed(chunk));
  }

  const items = matches.slice(0, limit);
  const last = items.at(-1);
  if (matches.length <= limit || last === undefined)
    return { items: items.map((m) => m.record), nextCursor: null };
  let seen = 0;
  for (const m of items) if (m.record.at === last.record.at && m.digest === last.digest) seen++;
  if (cursor && cursor.at === last.record.at && cursor.digest === last.digest) seen += cursor.seen;
  return {
    items: items.map((m) => m.record),
    nextCursor: encodeLogCursor({ at: last.record.at, digest: last.digest, seen }),
  };
}

// ---- export ----

/** Lines joined into chunks of about this size: one write per chunk, not one per row. */
const CHUNK_BYTES = 64 * 1024;

async function* chunked(lines: AsyncIterable<string>): AsyncIterable<string> {
  let buffer = '';
  for await (const line of lines) {
    buffer += line;
    if (buffer.length >= CHUNK_BYTES) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer !== '') yield buffer;
}

const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

export const logRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['logs'];
  app.addSchema(RequestLog);

  app.get(
    '/logs',
    {
      schema: {
        tags,
        summary: 'Request records, newest first, filtered',
        description:
          'Pages by a cursor made of the last record’s time and digest: records that arrive between ' +
          'pages are newer and neither repeat nor shift the next page.',
        querystring: Type.Object({ ...PageQuery, ...Filters }, { additionalProperties: false }),
        response: { 200: Page(Type.Ref('RequestLog')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { limit, cursor, ...query } = request.query;
      const filter = parseFilter(query, deps.clock.now());
      const after = cursor === undefined ? undefined : decodeLogCursor(cursor);
      const page = await logPage(request.scope.store.requestLogs, filter, limit ?? 100, after);
      return { items: page.items.map(requestLogView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/logs/export',
    {
      schema: {
        tags,
        summary: 'Export request records as CSV or NDJSON, streamed (intercepts: GET /intercepts/export)',
        description:
          'Oldest first. The answer is streamed as rows are read (memory does not grow with the table). ' +
          'CSV is RFC 4180 with a header row; a cell that a spreadsheet would read as a formula is ' +
          "prefixed with '.",
        querystring: Type.Object(
          {
            format: Type.Optional(Type.String({ description: 'csv or ndjson (default ndjson)' })),
            ...Filters,
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'the records, as an attachment',
            content: {
              'text/csv': { schema: { type: 'string' } },
              'application/x-ndjson': { schema: { type: 'string' } },
            },
          },
          ...problems(400, 401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const { format: formatText, ...query } = request.query;
      const issues: { path: string; message: string }[] = [];
      let format: ExportFormat = 'ndjson';
      try {
        format = oneOf('format', formatText ?? 'ndjson', FORMATS);
      } catch (error) {
        if (!(error instanceof SpecError)) throw error;
        issues.push(...error.issues);
      }
      let filter: RequestLogFilter | undefined;
      try {
        filter = parseFilter(query, deps.clock.now());
      } catch (error) {
        if (!(error instanceof SpecError)) throw error;
        issues.push(...error.issues);
      }
      if (issues.length > 0 || filter === undefined) throw new SpecError(issues);

      const { store } = request.scope;
      const lines = formatRows(store.requestLogs.stream(filter), format, REQUEST_COLUMNS, requestLogView);
      const name = `request-logs-${iso(deps.clock.now()).replace(/[:.]/g, '')}.${format}`;
      // Rows are pulled from the database only as fast as the reply is written (backpressure).
      return reply
        .type(CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Readable.from(chunked(lines), { objectMode: false }));
    },
  );
};
