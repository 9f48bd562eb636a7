/**
 * 0003_policies: rate-limit policies. The validated spec (limits/policy.ts) is stored whole as
 * JSON, like JWT providers: policies are read all at once when the gateway compiles its
 * configuration, never queried by field. Routes and keys name policies by id without a
 * foreign key (declarative apply replaces both; references are checked when a plan is made).
 */
import type { Kysely, Migration } from 'kysely';

export const policies0003: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('policies')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('spec', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .execute();
  },
};
