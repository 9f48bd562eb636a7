import { type Kysely, sql } from 'kysely';
import type { Database, MetaRepository } from '../types.js';
import { inTransaction, type RepositoryContext } from './context.js';

/** Maintained by the store itself: bumped with every configuration change. */
export const CONFIG_VERSION_KEY = 'config_version';

/**
 * Installation facts. Writing one is not a configuration change, so it does not bump the
 * config version (gateways have nothing to reload when, say, the key fingerprint is recorded).
 */
export class SqlMetaRepository implements MetaRepository {
  readonly #ctx: RepositoryContext;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
  }

  get(key: string): Promise<string | undefined> {
    return readMeta(this.#ctx.db, key);
  }

  async set(key: string, value: string): Promise<void> {
    // Writing the counter by hand could move it backwards and hide changes from pollers.
    if (key === CONFIG_VERSION_KEY) {
      throw new Error(`meta key "${CONFIG_VERSION_KEY}" is maintained by the store and cannot be set`);
    }
    // Writes go through a write transaction even alone: on SQLite that is what waits for
    // another process's write lock without blocking the event loop (see dialect.ts).
    await inTransaction(this.#ctx, (db) =>
      db
        .insertInto('meta')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute(),
    );
  }

  setIfAbsent(key: string, value: string): Promise<string> {
    return inTransaction(this.#ctx, async (db) => {
      await db
        .insertInto('meta')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      const stored = await readMeta(db, key);
      // Unreachable unless something deletes meta rows concurrently.
      if (stored === undefined) throw new Error(`meta key "${key}" vanished while being initialised`);
      return stored;
    });
  }
}

async function readMeta(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

/** Add 1 to the config version on `db` (call inside the transaction of the change). */
export async function bumpConfigVersion(db: Kysely<Database>): Promise<number> {
  const row = await db
    .updateTable('meta')
    .set({ value: sql<string>`cast(cast(value as bigint) + 1 as text)` })
    .where('key', '=', CONFIG_VERSION_KEY)
    .returning('value')
    .executeTakeFirst();
  if (!row) throw new Error(`meta.${CONFIG_VERSION_KEY} is missing: run the store migrations first`);
  return Number(row.value);
}

export async function readConfigVersion(db: Kysely<Database>): Promise<number> {
  const value = await readMeta(db, CONFIG_VERSION_KEY);
  if (value === undefined)
    throw new Error(`meta.${CONFIG_VERSION_KEY} is missing: run the store migrations first`);
  return Number(value);
}
