/**
 * Everything that differs between SQLite and PostgreSQL, in one place. Repositories and
 * migrations are written once against Kysely and ask this adapter when the databases disagree
 * (STYLE: capability flags and a few methods, never `if (dialect === 'postgres')` elsewhere).
 *
 * Things that turned out NOT to differ, so they are plain shared SQL: bumping a counter
 * (`cast(cast(value as bigint) + 1 as text)` works on both), `on conflict … do nothing`,
 * `returning`.
 */
import { type Expression, type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database, StoreCapabilities, StoreDialect } from './types.js';

/** Also the budget for waiting on another process's SQLite write lock. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

export interface DialectAdapter {
  readonly dialect: StoreDialect;
  readonly capabilities: StoreCapabilities;
  /** True when `error` is a primary-key or unique-constraint violation raised by the driver. */
  isUniqueViolation(error: unknown): boolean;
  /** True when `error` is a foreign-key violation (a referenced row is missing). */
  isForeignKeyViolation(error: unknown): boolean;
  /**
   * Run `fn` in one write transaction on `db` (which must not already be a transaction).
   * Rolls back and rethrows when `fn` throws.
   */
  transaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Run the migrator with whatever cross-process exclusion Kysely does not already give.
   * `fn` receives the executor the migrator must use; when it throws, nothing is kept.
   */
  withMigrationLock<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Schema that holds Kysely's own migration tables (undefined: the connection's default). */
  migrationTableSchema(db: Kysely<Database>): Promise<string | undefined>;
  /**
   * `column` as an ordering key that compares byte-wise, so `list()` orders alike everywhere.
   * Keyset comparisons (`> cursor`) must use it too, to agree with the order; an index serves
   * them on PostgreSQL only when its column is declared `collate "C"` as well.
   */
  binaryOrder(column: string): Expression<unknown>;
  /**
   * True when the default collation already compares byte-wise (SQLite's BINARY), so an index
   * on a plain column already serves a `binaryOrder` on it (a primary key's, say).
   */
  readonly byteWiseByDefault: boolean;
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class SqliteAdapter implements DialectAdapter {
  readonly dialect = 'sqlite' as const;
  readonly byteWiseByDefault = true;
  readonly capabilities: StoreCapabilities = Object.freeze({ multiWriter: false, transactionalDdl: true });

  isUniqueViolation(error: unknown): boolean {
    const code = errorCode(error);
    return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
  }

  isForeignKeyViolation(error: unknown): boolean {
    return errorCode(error) === 'SQLITE_CONSTRAINT_FOREIGNKEY';
  }

  async transaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    // Kysely's SQLite driver owns one connection behind a mutex, so holding it for the whole
    // callback makes every statement of `fn` part of this transaction and queues other callers.
    return db.connection().execute(async (conn) => {
      await this.#beginImmediate(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (error) {
        // SQLite may already have rolled back on its own (e.g. SQLITE_FULL); the original error
        // is the one worth reporting.
        await sql`rollback`.execute(conn).catch(() => {});
        throw error;
      }
    });
  }

  withMigrationLock<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    // Kysely runs SQLite migrations with no lock and no transaction, so two processes starting
    // together could both apply 0001. One IMMEDIATE transaction around the whole run (bookkeeping
    // tables included) serialises them, and a failed migration leaves nothing half-applied.
    return this.transaction(db, fn);
  }

  async migrationTableSchema(): Promise<string | undefined> {
    return undefined;
  }

  binaryOrder(column: string): Expression<unknown> {
    // SQLite's default collation is BINARY already.
    return sql.ref(column);
  }

  /**
   * BEGIN IMMEDIATE takes the write lock up front: a deferred BEGIN that reads and then writes
   * fails with SQLITE_BUSY (no retry possible) when another process committed in between.
   * The wait is polled with timers instead of SQLite's busy handler because better-sqlite3 is
   * synchronous: its busy handler would freeze the event loop, and deadlock against a second
   * connection in the same process, for up to the whole timeout.
   */
  async #beginImmediate(conn: Kysely<Database>): Promise<void> {
    const deadline = performance.now() + SQLITE_BUSY_TIMEOUT_MS;
    let delay = 1;
    await sql`pragma busy_timeout = 0`.execute(conn);
    try {
      for (;;) {
        try {
          await sql`begin immediate`.execute(conn);
          return;
        } catch (error) {
          const code = errorCode(error);
          const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
          if (!busy || performance.now() >= deadline) throw error;
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 50);
      }
    } finally {
      await sql.raw(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`).execute(conn);
    }
  }
}

class PostgresAdapter implements DialectAdapter {
  readonly dialect = 'postgres' as const;
  readonly byteWiseByDefault = false;
  readonly capabilities: StoreCapabilities = Object.freeze({ multiWriter: true, transactionalDdl: true });

  isUniqueViolation(error: unknown): boolean {
    return errorCode(error) === '23505';
  }

  isForeignKeyViolation(error: unknown): boolean {
    return errorCode(error) === '23503';
  }

  transaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return db.transaction().execute(fn);
  }

  withMigrationLock<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    // Kysely's migrator already takes a session advisory lock and runs the migrations in a
    // transaction on PostgreSQL; its table bootstrap tolerates concurrent creators.
    return fn(db);
  }

  async migrationTableSchema(db: Kysely<Database>): Promise<string | undefined> {
    // Kysely's migrator looks for its tables in EVERY schema unless told which one; a
    // kysely_migration table in another schema (another installation, another test run) would
    // make it skip creating ours and then fail. Pin it to the schema our tables go to.
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    const schema = rows[0]?.schema;
    if (!schema) {
      throw new Error(
        'PostgreSQL search_path names no existing schema; create one or set the store schema option',
      );
    }
    return schema;
  }

  binaryOrder(column: string): RawBuilder<unknown> {
    // The database's default collation (often en_US.UTF-8) ignores punctuation at first level,
    // so "a-b" and "ab" would sort differently than on SQLite.
    return sql`${sql.ref(column)} collate "C"`;
  }
}

export const sqliteAdapter: DialectAdapter = new SqliteAdapter();
export const postgresAdapter: DialectAdapter = new PostgresAdapter();
