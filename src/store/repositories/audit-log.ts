import type { Kysely, Selectable } from 'kysely';
import type { AuditLogRepository, AuditLogTable, AuditRecord, Database } from '../types.js';
import type { RepositoryContext } from './context.js';
import { fromJson, toJson } from './rows.js';

function toRecord(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    id: row.id,
    at: Number(row.at),
    actor: row.actor,
    source: row.source,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    before: row.before === null ? null : fromJson(row.before),
    after: row.after === null ? null : fromJson(row.after),
  };
}

/** The audit log (a record, not configuration: writes do not bump the config version). */
export class SqlAuditLogRepository implements AuditLogRepository {
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#db = ctx.db;
  }

  async insert(entry: AuditRecord): Promise<void> {
    await this.#db
      .insertInto('audit_log')
      .values({
        id: entry.id,
        at: entry.at,
        actor: entry.actor,
        source: entry.source,
        action: entry.action,
        target_type: entry.targetType,
        target_id: entry.targetId,
        before: entry.before === null || entry.before === undefined ? null : toJson(entry.before),
        after: entry.after === null || entry.after === undefined ? null : toJson(entry.after),
      })
      .execute();
  }

  async list(filter: Parameters<AuditLogRepository['list']>[0] = {}): Promise<AuditRecord[]> {
    let query = this.#db.selectFrom('audit_log').selectAll();
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
    if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
    const rows = await query
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}
