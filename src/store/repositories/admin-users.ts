import type { Kysely, Selectable, Updateable } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type { AdminRole, AdminUserRecord, AdminUserRepository, AdminUsersTable, Database } from '../types.js';
import { applyChange, type RepositoryContext } from './context.js';

function toRecord(row: Selectable<AdminUsersTable>): AdminUserRecord {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    role: row.role,
    disabled: Number(row.disabled) !== 0,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    passwordChangedAt: Number(row.password_changed_at),
  };
}

/**
 * `toLowerCase`, not `toLocaleLowerCase`: the stored form must not depend on the locale of
 * whichever process wrote it.
 */
function normalizeUsername(username: string): string {
  return username.toLowerCase();
}

/**
 * People who log in to the admin API. Changes are configuration changes (they bump the
 * config version and are audited); lookups by name are case-insensitive.
 */
export class SqlAdminUserRepository implements AdminUserRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  async list(): Promise<AdminUserRecord[]> {
    const rows = await this.#db
      .selectFrom('admin_users')
      .selectAll()
      .orderBy(this.#ctx.adapter.binaryOrder('username'))
      .execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<AdminUserRecord | undefined> {
    const row = await this.#db.selectFrom('admin_users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async getByUsername(username: string): Promise<AdminUserRecord | undefined> {
    const row = await this.#db
      .selectFrom('admin_users')
      .selectAll()
      .where('username', '=', normalizeUsername(username))
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async count(): Promise<number> {
    const row = await this.#db
      .selectFrom('admin_users')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  insert(user: {
    id: string;
    username: string;
    passwordHash: string;
    role: AdminRole;
    disabled?: boolean;
  }): Promise<AdminUserRecord> {
    const username = normalizeUsername(user.username);
    return applyChange(this.#ctx, async (db) => {
      const conflict = async (): Promise<ConflictError> => {
        const sameId = await db
          .selectFrom('admin_users')
          .select('id')
          .where('id', '=', user.id)
          .executeTakeFirst();
        return sameId
          ? new ConflictError('admin user', user.id)
          : new ConflictError('admin user', username, `an admin user named "${username}" already exists`);
      };
      const now = this.#ctx.clock.now();
      let row: Selectable<AdminUsersTable> | undefined;
      try {
        // No conflict target: a duplicate id and a duplicate username are both caught without
        // raising (which would abort a surrounding PostgreSQL transaction).
        row = await db
          .insertInto('admin_users')
          .values({
            id: user.id,
            username,
            password_hash: user.passwordHash,
            role: user.role,
            disabled: user.disabled ? 1 : 0,
            created_at: now,
            updated_at: now,
            password_changed_at: now,
          })
          .onConflict((oc) => oc.doNothing())
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        // Raised, the transaction may be aborted (PostgreSQL): no further query to tell which.
        if (this.#ctx.adapter.isUniqueViolation(error)) throw new ConflictError('admin user', user.id);
        throw error;
      }
      if (!row) throw await conflict();
      return { changed: true, value: toRecord(row) };
    });
  }

  update(
    id: string,
    patch: { passwordHash?: string; role?: AdminRole; disabled?: boolean },
  ): Promise<AdminUserRecord> {
    return applyChange(this.#ctx, async (db) => {
      const now = this.#ctx.clock.now();
      const values: Updateable<AdminUsersTable> = {};
      if (patch.passwordHash !== undefined) {
        values.password_hash = patch.passwordHash;
        values.password_changed_at = now;
      }
      if (patch.role !== undefined) values.role = patch.role;
      if (patch.disabled !== undefined) values.disabled = patch.disabled ? 1 : 0;
      if (Object.keys(values).length === 0) {
        // Nothing to change: not a configuration change, but the user must exist.
        const row = await db.selectFrom('admin_users').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) throw new NotFoundError('admin user', id);
        return { changed: false, value: toRecord(row) };
      }
      const row = await db
        .updateTable('admin_users')
        .set({ ...values, updated_at: now })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new NotFoundError('admin user', id);
      return { changed: true, value: toRecord(row) };
    });
  }

  remove(id: string): Promise<boolean> {
    // Sessions go with the user (ON DELETE CASCADE), in the same statement.
    return applyChange(this.#ctx, async (db) => {
      const result = await db.deleteFrom('admin_users').where('id', '=', id).executeTakeFirst();
      const removed = result.numDeletedRows > 0n;
      return { changed: removed, value: removed };
    });
  }
}
