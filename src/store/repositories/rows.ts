/**
 * Row helpers shared by repositories: JSON columns are text, timestamps and counters come back
 * as numbers from both drivers (PostgreSQL int8 is parsed per pool, see open-store.ts), and
 * references to clients are checked the same way everywhere.
 */
import type { Kysely } from 'kysely';
import { NotFoundError } from '../errors.js';
import type { Database } from '../types.js';
import type { RepositoryContext } from './context.js';

export function fromJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

export function numberOrNull(value: number | string | bigint | null): number | null {
  return value === null ? null : Number(value);
}

/**
 * Run `fn`, which inserts rows referencing client `clientId`, inside the caller's transaction:
 * the client is looked up first (so the usual case raises nothing, which on PostgreSQL would
 * abort a surrounding `store.write`), and a foreign-key violation from a client removed
 * concurrently in between is reported the same way. The foreign key itself is what guarantees
 * no orphan row is ever kept.
 */
export async function withClient<T>(
  ctx: RepositoryContext,
  db: Kysely<Database>,
  clientId: string,
  fn: () => Promise<T>,
): Promise<T> {
  const client = await db.selectFrom('clients').select('id').where('id', '=', clientId).executeTakeFirst();
  if (!client) throw new NotFoundError('client', clientId);
  try {
    return await fn();
  } catch (error) {
    if (ctx.adapter.isForeignKeyViolation(error)) throw new NotFoundError('client', clientId);
    throw error;
  }
}

/** Map a unique violation that slipped past ON CONFLICT (should not happen) to `conflict()`. */
export async function mapUniqueViolation<T>(
  ctx: RepositoryContext,
  run: () => Promise<T>,
  conflict: () => Error,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (ctx.adapter.isUniqueViolation(error)) throw conflict();
    throw error;
  }
}

/** The most rows one keyset `page()` reads. */
export const MAX_PAGE = 10_000;

/** Throws unless `limit` is a page size `page()` accepts (1 to MAX_PAGE). */
export function checkPageLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw new RangeError(`options.limit must be an integer from 1 to ${MAX_PAGE} (got ${limit})`);
}
