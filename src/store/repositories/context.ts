/**
 * What a repository is built over: an executor that is either the store's database or an open
 * transaction, plus the dialect adapter and the clock. `store.write()` builds repositories over
 * its transaction so several changes commit (and bump the config version) together.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../../core/clock.js';
import type { DialectAdapter } from '../dialect.js';
import type { Database } from '../types.js';
import { bumpConfigVersion } from './meta.js';

export interface RepositoryContext {
  readonly db: Kysely<Database>;
  readonly adapter: DialectAdapter;
  readonly clock: Clock;
  /** True when `db` is already a transaction (inside `store.write`). */
  readonly inTransaction: boolean;
  /**
   * The SQLite connection behind `db` (SQLite only). Kysely prepares every statement anew;
   * the request recorder's bulk insert reuses one prepared statement on this same connection
   * (so it joins the surrounding transaction). Nothing else should use it.
   */
  readonly sqlite?: import('better-sqlite3').Database | undefined;
  /**
   * Told the new config version when a change bumped it: the store's listeners when `db` is
   * the database (the change committed), or the enclosing `store.write`, which tells them
   * once its transaction commits.
   */
  readonly changes?: { bumped(version: number): void } | undefined;
}

export interface Change<T> {
  value: T;
  /** False when the call turned out to change nothing (e.g. removing an absent row). */
  changed: boolean;
}

/**
 * Apply one configuration change and bump `meta.config_version` in the same transaction, so a
 * poller can never see the new version without the change or the change without the version.
 * Outside `store.write` the change gets a transaction of its own.
 */
export async function applyChange<T>(
  ctx: RepositoryContext,
  change: (db: Kysely<Database>) => Promise<Change<T>>,
): Promise<T> {
  let version: number | undefined;
  const value = await inTransaction(ctx, async (db) => {
    const { value, changed } = await change(db);
    if (changed) version = await bumpConfigVersion(db);
    return value;
  });
  if (version !== undefined) ctx.changes?.bumped(version);
  return value;
}

/** Run `fn` in the surrounding `store.write` transaction, or in a write transaction of its own. */
export function inTransaction<T>(
  ctx: RepositoryContext,
  fn: (db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return ctx.inTransaction ? fn(ctx.db) : ctx.adapter.transaction(ctx.db, fn);
}
