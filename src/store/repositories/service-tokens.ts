import type { Kysely, Selectable } from 'kysely';
import { ConflictError } from '../errors.js';
import type { Database, ServiceTokenRecord, ServiceTokenRepository, ServiceTokensTable } from '../types.js';
import { applyChange, inTransaction, type RepositoryContext } from './context.js';
import { numberOrNull } from './rows.js';

function toRecord(row: Selectable<ServiceTokensTable>): ServiceTokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    hash: row.hash,
    displayPrefix: row.display_prefix,
    createdAt: Number(row.created_at),
    expiresAt: numberOrNull(row.expires_at),
    revokedAt: numberOrNull(row.revoked_at),
    lastUsedAt: numberOrNull(row.last_used_at),
  };
}

/** Tokens of the admin API. `touch` is bookkeeping and does not bump the config version. */
export class SqlServiceTokenRepository implements ServiceTokenRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(): Promise<ServiceTokenRecord[]> {
    const rows = await this.#db
      .selectFrom('service_tokens')
      .selectAll()
      .orderBy(this.#ctx.adapter.binaryOrder('id'))
      .execute();
    return rows.map(toRecord);
  }

  insert(
    token: Omit<ServiceTokenRecord, 'createdAt' | 'revokedAt' | 'lastUsedAt'>,
  ): Promise<ServiceTokenRecord> {
    return applyChange(this.#ctx, async (db) => {
      const conflict = async (): Promise<ConflictError> => {
        const sameId = await db
          .selectFrom('service_tokens')
          .select('id')
          .where('id', '=', token.id)
          .executeTakeFirst();
        return sameId
          ? new ConflictError('service token', token.id)
          : new ConflictError('service token', token.id, 'a service token with this hash already exists');
      };
      let row: Selectable<ServiceTokensTable> | undefined;
      try {
        // No conflict target: a duplicate id and a duplicate hash are both caught without
        // raising (which would abort a surrounding PostgreSQL transaction).
        row = await db
          .insertInto('service_tokens')
          .values({
            id: token.id,
            name: token.name,
            role: token.role,
            hash: token.hash,
            display_prefix: token.displayPrefix,
            created_at: this.#ctx.clock.now(),
            expires_at: token.expiresAt,
            revoked_at: null,
            last_used_at: null,
          })
          .onConflict((oc) => oc.doNothing())
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        if (this.#ctx.adapter.isUniqueViolation(error)) throw new ConflictError('service token', token.id);
        throw error;
      }
      if (!row) throw await conflict();
      return { changed: true, value: toRecord(row) };
    });
  }

  async findByHash(hash: string): Promise<ServiceTokenRecord | undefined> {
    const row = await this.#db
      .selectFrom('service_tokens')
      .selectAll()
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  revoke(id: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db
        .updateTable('service_tokens')
        .set({ revoked_at: this.#ctx.clock.now() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      const revoked = result.numUpdatedRows > 0n;
      return { changed: revoked, value: revoked };
    });
  }

  async touch(id: string, at: number): Promise<void> {
    // A write transaction even alone (SQLite waits for the write lock without blocking the
    // event loop, see dialect.ts), but no version bump; last_used_at only moves forward.
    await inTransaction(this.#ctx, (db) =>
      db
        .updateTable('service_tokens')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
        .execute(),
    );
  }
}
