/** The audit log of administrative changes, newest first (what `portcullis audit list` shows). */
import { Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import type { AuditLogRepository, AuditRecord } from '../../../store/types.js';
import { redact } from '../../../telemetry/audit.js';
import type { ResourceRoutes } from '../context.js';
import { since as pastTime } from '../input.js';
import { decodeCursor, encodeCursor, pageOfRows } from '../pagination.js';
import { iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';

export const AuditEntry = Type.Object(
  {
    id: Type.String(),
    at: Timestamp,
    actor: Type.String({ description: 'OS user (CLI), admin user or API token name, or system' }),
    source: Type.String({ description: '`cli`, or the admin API caller’s address' }),
    action: Type.String({ description: '<repository>.<operation>, e.g. clients.update' }),
    targetType: Type.String(),
    targetId: Type.String(),
    before: Type.Unknown({ description: 'redacted snapshot before the change, or null' }),
    after: Type.Unknown({ description: 'redacted snapshot after the change, or null' }),
  },
  { $id: 'AuditEntry' },
);

/** An entry as shown. Snapshots were redacted when written; redacted again here in case. */
export function auditView(e: AuditRecord) {
  return {
    id: e.id,
    at: iso(e.at),
    actor: e.actor,
    source: e.source,
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId,
    before: redact(e.before ?? null),
    after: redact(e.after ?? null),
  };
}

type AuditFilter = NonNullable<Parameters<AuditLogRepository['list']>[0]>;

/** Entries of one millisecond are read whole when a page starts inside it. */
const MILLISECOND_CAP = 100_000;

/** Time descending, then id descending by code unit (the same in every database collation). */
const newestFirst = (a: AuditRecord, b: AuditRecord): number =>
  b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/**
 * One page, newest first. The cursor is the (time, id) of the last entry returned; the next
 * page starts strictly after it, so entries written between pages (newer) neither repeat nor
 * shift it. Within a millisecond entries are ordered here, not by the database's collation,
 * so the order a page was cut in is the order the next page resumes in.
 */
async function auditPage(
  repo: AuditLogRepository,
  filter: AuditFilter,
  limit: number,
  cursor: string | undefined,
): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
  const wholeMillisecond = (at: number) =>
    repo.list({ ...filter, since: at, until: at + 1, limit: MILLISECOND_CAP });
  const rows: AuditRecord[] = [];
  let until = filter.until;
  if (cursor !== undefined) {
    const match = /^(\d{1,16}):(.+)$/s.exec(decodeCursor(cursor));
    if (!match) throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
    const at = Number(match[1]);
    const id = match[2] as string;
    if (
      (filter.since === undefined || at >= filter.since) &&
      (filter.until === undefined || at < filter.until)
    )
      rows.push(...(await wholeMillisecond(at)).filter((e) => e.id < id).sort(newestFirst));
    until = until === undefined ? at : Math.min(until, at);
  }
  if (rows.length <= limit) {
    const want = limit + 1 - rows.length;
    let older = await repo.list({ ...filter, ...(until !== undefined ? { until } : {}), limit: want });
    if (older.length === want) {
      // The oldest millisecond read may be cut by the limit: read it whole instead.
      const oldest = (older.at(-1) as AuditRecord).at;
      older = [...older.filter((e) => e.at !== oldest), ...(await wholeMillisecond(oldest))];
    }
    rows.push(...older.sort(newestFirst));
  }
  return pageOfRows(rows, limit, (last) => encodeCursor(`${last.at}:${last.id}`));
}

export const auditRoutes: ResourceRoutes = (app, deps) => {
  app.addSchema(AuditEntry);

  app.get(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit log of administrative changes, newest first',
        description: 'Snapshots are redacted: no secret, hash or ciphertext is ever recorded or shown.',
        querystring: Type.Object(
          {
            ...PageQuery,
            since: Type.Optional(
              Type.String({
                maxLength: 100,
                description: 'from (inclusive): a duration ago (7d) or an ISO date',
              }),
            ),
            until: Type.Optional(
              Type.String({
                maxLength: 100,
                description: 'until (exclusive): a duration ago or an ISO date',
              }),
            ),
            actor: Type.Optional(Type.String({ maxLength: 200 })),
            action: Type.Optional(Type.String({ maxLength: 200, description: 'e.g. clients.update' })),
            targetType: Type.Optional(Type.String({ maxLength: 200, description: 'e.g. apiKeys' })),
            targetId: Type.Optional(Type.String({ maxLength: 500 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Type.Ref('AuditEntry')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { limit, cursor, since, until, actor, action, targetType, targetId } = request.query;
      const now = deps.clock.now();
      const issues: { path: string; message: string }[] = [];
      const time = (field: string, value: string | undefined): number | undefined => {
        if (value === undefined) return undefined;
        try {
          return pastTime(field, value, now);
        } catch (error) {
          if (!(error instanceof SpecError)) throw error;
          issues.push(...error.issues);
          return undefined;
        }
      };
      const from = time('since', since);
      const to = time('until', until);
      if (issues.length > 0) throw new SpecError(issues);
      const filter: AuditFilter = {
        ...(from !== undefined ? { since: from } : {}),
        ...(to !== undefined ? { until: to } : {}),
        ...(actor !== undefined ? { actor } : {}),
        ...(action !== undefined ? { action } : {}),
        ...(targetType !== undefined ? { targetType } : {}),
        ...(targetId !== undefined ? { targetId } : {}),
      };
      const page = await auditPage(request.scope.store.auditLog, filter, limit ?? 100, cursor);
      return { items: page.items.map(auditView), nextCursor: page.nextCursor };
    },
  );
};
