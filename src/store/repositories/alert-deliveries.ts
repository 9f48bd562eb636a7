import type { Kysely, Selectable } from 'kysely';
import type {
  AlertDeliveriesTable,
  AlertDeliveryRecord,
  AlertDeliveryRepository,
  Database,
} from '../types.js';
import type { RepositoryContext } from './context.js';
import { numberOrNull } from './rows.js';

function toRecord(row: Selectable<AlertDeliveriesTable>): AlertDeliveryRecord {
  return {
    id: row.id,
    alertId: row.alert_id,
    kind: row.kind,
    url: row.url,
    status: row.status,
    attempts: Number(row.attempts),
    lastStatus: numberOrNull(row.last_status),
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    finishedAt: Number(row.finished_at),
  };
}

/** Webhook deliveries (records: writes do not bump the config version). */
export class SqlAlertDeliveryRepository implements AlertDeliveryRepository {
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#db = ctx.db;
  }

  async insert(delivery: AlertDeliveryRecord): Promise<void> {
    await this.#db
      .insertInto('alert_deliveries')
      .values({
        id: delivery.id,
        alert_id: delivery.alertId,
        kind: delivery.kind,
        url: delivery.url,
        status: delivery.status,
        attempts: delivery.attempts,
        last_status: delivery.lastStatus,
        last_error: delivery.lastError,
        created_at: delivery.createdAt,
        finished_at: delivery.finishedAt,
      })
      .execute();
  }

  async prune(before: number): Promise<number> {
    const result = await this.#db
      .deleteFrom('alert_deliveries')
      .where('created_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async list(filter: { alertId?: string; limit?: number } = {}): Promise<AlertDeliveryRecord[]> {
    let query = this.#db.selectFrom('alert_deliveries').selectAll();
    if (filter.alertId !== undefined) query = query.where('alert_id', '=', filter.alertId);
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}
