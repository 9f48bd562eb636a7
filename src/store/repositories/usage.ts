import { type Kysely, sql } from 'kysely';
import type { Database, UsageGranularity, UsageIncrement, UsageRepository } from '../types.js';
import type { RepositoryContext } from './context.js';

/** Rows per statement: 10 columns × 500 stays under both databases' parameter limits. */
const ROWS_PER_STATEMENT = 500;

/**
 * Usage roll-ups: additive upserts, so several instances (and retried batches, which run in the
 * same transaction as their request records) add each record exactly once.
 */
export class SqlUsageRepository implements UsageRepository {
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#db = ctx.db;
  }

  async add(increments: readonly UsageIncrement[]): Promise<void> {
    for (let i = 0; i < increments.length; i += ROWS_PER_STATEMENT) {
      const rows = increments.slice(i, i + ROWS_PER_STATEMENT).map((u) => ({
        granularity: u.granularity,
        bucket: u.bucket,
        key_id: u.keyId,
        client_id: u.clientId,
        route_id: u.routeId,
        status_class: u.statusClass,
        code: u.code,
        requests: u.requests,
        bytes_in: u.bytesIn,
        bytes_out: u.bytesOut,
      }));
      await this.#db
        .insertInto('usage_rollups')
        .values(rows)
        .onConflict((oc) =>
          oc
            .columns(['granularity', 'bucket', 'key_id', 'client_id', 'route_id', 'status_class', 'code'])
            .doUpdateSet({
              requests: sql`usage_rollups.requests + excluded.requests`,
              bytes_in: sql`usage_rollups.bytes_in + excluded.bytes_in`,
              bytes_out: sql`usage_rollups.bytes_out + excluded.bytes_out`,
            }),
        )
        .execute();
    }
  }

  async rows(filter: {
    granularity: UsageGranularity;
    keyId?: string;
    clientId?: string;
    since: number;
    until?: number;
  }): Promise<UsageIncrement[]> {
    let query = this.#db
      .selectFrom('usage_rollups')
      .selectAll()
      .where('granularity', '=', filter.granularity)
      .where('bucket', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('bucket', '<', filter.until);
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
    const rows = await query.orderBy('bucket').execute();
    return rows.map((r) => ({
      granularity: r.granularity,
      bucket: Number(r.bucket),
      keyId: r.key_id,
      clientId: r.client_id,
      routeId: r.route_id,
      statusClass: r.status_class,
      code: r.code,
      requests: Number(r.requests),
      bytesIn: Number(r.bytes_in),
      bytesOut: Number(r.bytes_out),
    }));
  }

  async prune(granularity: UsageGranularity, before: number): Promise<number> {
    const result = await this.#db
      .deleteFrom('usage_rollups')
      .where('granularity', '=', granularity)
      .where('bucket', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
