import type { Kysely } from 'kysely';
import type { Database, LiveSettingsRepository } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';

/** One meta row holds the overrides as JSON: few keys, always read and written whole. */
const ROW = 'live_settings';

async function read(db: Kysely<Database>): Promise<Record<string, unknown>> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', ROW).executeTakeFirst();
  if (!row) return {};
  const parsed = JSON.parse(row.value) as unknown;
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : {};
}

/**
 * Live setting overrides (config/live.ts). Unlike other meta rows a change here is a
 * configuration change: it bumps the config version, so every gateway reloads it.
 */
export class SqlLiveSettingsRepository implements LiveSettingsRepository {
  readonly #ctx: RepositoryContext;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
  }

  get(): Promise<Record<string, unknown>> {
    return read(this.#ctx.db);
  }

  replace(values: Record<string, unknown>): Promise<Record<string, unknown>> {
    return applyChange(this.#ctx, async (db) => {
      const before = await read(db);
      const value = JSON.stringify(values);
      if (JSON.stringify(before) === value) return { changed: false, value: values };
      await db
        .insertInto('meta')
        .values({ key: ROW, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
      return { changed: true, value: values };
    });
  }
}
