import type { Kysely, Selectable } from 'kysely';
import { ConflictError } from '../errors.js';
import type { Database, HmacSecretRecord, HmacSecretRepository, HmacSecretsTable } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';
import { mapUniqueViolation, numberOrNull, withClient } from './rows.js';

function toRecord(row: Selectable<HmacSecretsTable>): HmacSecretRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    ciphertext: row.ciphertext,
    createdAt: Number(row.created_at),
    expiresAt: numberOrNull(row.expires_at),
  };
}

/** Encrypted HMAC secrets of clients; a new one retires the current ones after an overlap. */
export class SqlHmacSecretRepository implements HmacSecretRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(filter: { clientId?: string } = {}): Promise<HmacSecretRecord[]> {
    let query = this.#db.selectFrom('hmac_secrets').selectAll();
    if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
    const rows = await query.orderBy('created_at').orderBy(this.#ctx.adapter.binaryOrder('id')).execute();
    return rows.map(toRecord);
  }

  add(
    secret: { id: string; clientId: string; ciphertext: string },
    retireAt: number,
  ): Promise<HmacSecretRecord> {
    return applyChange(this.#ctx, (db) =>
      withClient(this.#ctx, db, secret.clientId, async () => {
        // Insert first: a conflict then throws before the other secrets were retired.
        const row = await mapUniqueViolation(
          this.#ctx,
          () =>
            db
              .insertInto('hmac_secrets')
              .values({
                id: secret.id,
                client_id: secret.clientId,
                ciphertext: secret.ciphertext,
                created_at: this.#ctx.clock.now(),
                expires_at: null,
              })
              .onConflict((oc) => oc.column('id').doNothing())
              .returningAll()
              .executeTakeFirst(),
          () => new ConflictError('hmac secret', secret.id),
        );
        if (!row) throw new ConflictError('hmac secret', secret.id);
        await db
          .updateTable('hmac_secrets')
          .set({ expires_at: retireAt })
          .where('client_id', '=', secret.clientId)
          .where('id', '!=', secret.id)
          .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', retireAt)]))
          .execute();
        return { changed: true, value: toRecord(row) };
      }),
    );
  }

  remove(id: string): Promise<boolean> {
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('hmac_secrets').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
