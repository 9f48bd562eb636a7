import type { Kysely, Selectable } from 'kysely';
import type { AnomaliesTable, AnomalyRecord, AnomalyRepository, AnomalyStatus, Database } from '../types.js';
import type { RepositoryContext } from './context.js';
import { fromJson, toJson } from './rows.js';

function toRecord(row: Selectable<AnomaliesTable>): AnomalyRecord {
  return {
    id: row.id,
    signal: row.signal,
    identityKind: row.identity_kind,
    identity: row.identity,
    bucketStart: Number(row.bucket_start),
    intervalMs: Number(row.interval_ms),
    detectedAt: Number(row.detected_at),
    lastSeenAt: Number(row.last_seen_at),
    occurrences: Number(row.occurrences),
    score: Number(row.score),
    observed: Number(row.observed),
    expected: Number(row.expected),
    explanation: row.explanation,
    evidence: fromJson<Record<string, unknown>>(row.evidence),
    action: row.action,
    blockId: row.block_id,
    blockExpiresAt: row.block_expires_at === null ? null : Number(row.block_expires_at),
    alertId: row.alert_id,
    status: row.status,
    resolvedAt: row.resolved_at === null ? null : Number(row.resolved_at),
    resolvedBy: row.resolved_by,
    resolutionNote: row.resolution_note,
  };
}

/** Anomaly incidents (records: writes do not bump the config version). */
export class SqlAnomalyRepository implements AnomalyRepository {
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#db = ctx.db;
  }

  async insert(a: AnomalyRecord): Promise<void> {
    await this.#db
      .insertInto('anomalies')
      .values({
        id: a.id,
        signal: a.signal,
        identity_kind: a.identityKind,
        identity: a.identity,
        bucket_start: a.bucketStart,
        interval_ms: a.intervalMs,
        detected_at: a.detectedAt,
        last_seen_at: a.lastSeenAt,
        occurrences: a.occurrences,
        score: a.score,
        observed: a.observed,
        expected: a.expected,
        explanation: a.explanation,
        evidence: toJson(a.evidence),
        action: a.action,
        block_id: a.blockId,
        block_expires_at: a.blockExpiresAt,
        alert_id: a.alertId,
        status: a.status,
        resolved_at: a.resolvedAt,
        resolved_by: a.resolvedBy,
        resolution_note: a.resolutionNote,
      })
      .execute();
  }

  async get(id: string): Promise<AnomalyRecord | undefined> {
    const row = await this.#db.selectFrom('anomalies').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async list(filter: Parameters<AnomalyRepository['list']>[0] = {}): Promise<AnomalyRecord[]> {
    let query = this.#db.selectFrom('anomalies').selectAll();
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.signal !== undefined) query = query.where('signal', '=', filter.signal);
    if (filter.identityKind !== undefined) query = query.where('identity_kind', '=', filter.identityKind);
    if (filter.identity !== undefined) query = query.where('identity', '=', filter.identity);
    if (filter.since !== undefined) query = query.where('detected_at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('detected_at', '<', filter.until);
    const before = filter.before;
    if (before !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb('detected_at', '<', before.detectedAt),
          eb.and([eb('detected_at', '=', before.detectedAt), eb('id', '<', before.id)]),
        ]),
      );
    }
    const rows = await query
      .orderBy('detected_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }

  async recur(
    id: string,
    seen: { at: number; observed: number; score: number; block?: { id: string; expiresAt: number | null } },
  ): Promise<void> {
    await this.#db
      .updateTable('anomalies')
      .set((eb) => ({
        occurrences: eb('occurrences', '+', 1),
        last_seen_at: seen.at,
        observed: seen.observed,
        score: seen.score,
        ...(seen.block ? { block_id: seen.block.id, block_expires_at: seen.block.expiresAt } : {}),
      }))
      .where('id', '=', id)
      .where('status', '=', 'open')
      .execute();
  }

  async resolve(
    id: string,
    by: { at: number; actor: string; note: string | null },
  ): Promise<AnomalyRecord | undefined> {
    await this.#db
      .updateTable('anomalies')
      .set({ status: 'resolved', resolved_at: by.at, resolved_by: by.actor, resolution_note: by.note })
      .where('id', '=', id)
      .where('status', '=', 'open')
      .execute();
    return this.get(id);
  }

  async count(filter: { status?: AnomalyStatus } = {}): Promise<number> {
    let query = this.#db.selectFrom('anomalies');
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const row = await query
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async prune(before: number): Promise<number> {
    const result = await this.#db
      .deleteFrom('anomalies')
      .where('detected_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
