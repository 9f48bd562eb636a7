/**
 * The PostgreSQL introspector the store's Kysely instance uses: it looks at the connection's
 * own schema only, and names only.
 *
 * Its one user is Kysely's migrator, which asks whether its bookkeeping tables exist. Kysely's
 * own PostgreSQL introspector answers by listing every column of every table in every schema,
 * calling `has_schema_privilege(name, …)` and `pg_get_serial_sequence('schema.table', …)` per
 * row. Those functions look the name up in the live catalog, not in the query's snapshot: when
 * another installation or test run drops its schema while the query runs, they fail with
 * `schema "…" does not exist` and our migration fails with them (seen on CI, reproduced by
 * test/store/postgres-migrate-race.test.ts). The scan also grows with every schema in the
 * database. Here the catalogs are read by oid joins only (snapshot-consistent), filtered to
 * `current_schema()`, which is where the store's tables and the migrator's tables live.
 */
import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type DatabaseMetadataOptions,
  DEFAULT_MIGRATION_LOCK_TABLE,
  DEFAULT_MIGRATION_TABLE,
  type Kysely,
  PostgresDialect,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from 'kysely';

const KYSELY_TABLES = new Set([DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE]);

export class CurrentSchemaIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace`.execute(
      this.#db,
    );
    return rows.map((row) => ({ name: row.name }));
  }

  /** Tables and views of `current_schema()`, by name: `columns` is always empty. */
  async getTables(
    options: DatabaseMetadataOptions = { withInternalKyselyTables: false },
  ): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; schema: string; kind: string }>`
      select c.relname as name, ns.nspname as schema, c.relkind as kind
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
      where ns.nspname = current_schema() and c.relkind in ('r', 'v', 'p')
      order by c.relname`.execute(this.#db);
    return rows
      .filter((row) => options.withInternalKyselyTables || !KYSELY_TABLES.has(row.name))
      .map((row) => ({ name: row.name, schema: row.schema, isView: row.kind === 'v', columns: [] }));
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

/** Kysely's PostgreSQL dialect with the introspector above. */
export class StorePostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}
