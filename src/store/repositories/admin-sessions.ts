import type { Kysely, Selectable } from 'kysely';
import { ConflictError, NotFoundError } from '../errors.js';
import type { AdminSessionRecord, AdminSessionRepository, AdminSessionsTable, Database } from '../types.js';
import { inTransaction, type RepositoryContext } from './context.js';

function toRecord(row: Selectable<AdminSessionsTable>): AdminSessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    tokenHash: row.token_hash,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    lastSeenAt: Number(row.last_seen_at),
    ip: row.ip,
    userAgent: row.user_agent,
  };
}

/**
 * Login sessions of admin users. Every write is bookkeeping: a write transaction of its own
 * (or the caller's), but no config-version bump, since no gateway decision depends on
 * sessions and a login must not make every instance reload its configuration.
 */
export class SqlAdminSessionRepository implements AdminSessionRepository {
  readonly #ctx: RepositoryContext;
  readonly #db: Kysely<Database>;

  constructor(ctx: RepositoryContext) {
    this.#ctx = ctx;
    this.#db = ctx.db;
  }

  insert(session: Omit<AdminSessionRecord, 'createdAt' | 'lastSeenAt'>): Promise<AdminSessionRecord> {
    return inTransaction(this.#ctx, async (db) => {
      // Looked up first so the usual failure raises nothing (a raised error would abort a
      // surrounding PostgreSQL transaction); the foreign key catches a concurrent removal.
      const user = await db
        .selectFrom('admin_users')
        .select('id')
        .where('id', '=', session.userId)
        .executeTakeFirst();
      if (!user) throw new NotFoundError('admin user', session.userId);
      const now = this.#ctx.clock.now();
      let row: Selectable<AdminSessionsTable> | undefined;
      try {
        row = await db
          .insertInto('admin_sessions')
          .values({
            id: session.id,
            user_id: session.userId,
            token_hash: session.tokenHash,
            created_at: now,
            expires_at: session.expiresAt,
            last_seen_at: now,
            ip: session.ip,
            user_agent: session.userAgent,
          })
          .onConflict((oc) => oc.doNothing())
          .returningAll()
          .executeTakeFirst();
      } catch (error) {
        if (this.#ctx.adapter.isForeignKeyViolation(error))
          throw new NotFoundError('admin user', session.userId);
        if (this.#ctx.adapter.isUniqueViolation(error)) throw new ConflictError('admin session', session.id);
        throw error;
      }
      if (!row) {
        const sameId = await db
          .selectFrom('admin_sessions')
          .select('id')
          .where('id', '=', session.id)
          .executeTakeFirst();
        throw sameId
          ? new ConflictError('admin session', session.id)
          : new ConflictError(
              'admin session',
              session.id,
              'an admin session with this token hash already exists',
            );
      }
      return toRecord(row);
    });
  }

  async findByTokenHash(tokenHash: string): Promise<AdminSessionRecord | undefined> {
    const row = await this.#db
      .selectFrom('admin_sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async touch(id: string, at: number): Promise<void> {
    // Only forward: touches from several instances may land out of order.
    await inTransaction(this.#ctx, (db) =>
      db
        .updateTable('admin_sessions')
        .set({ last_seen_at: at })
        .where('id', '=', id)
        .where('last_seen_at', '<', at)
        .execute(),
    );
  }

  revoke(id: string): Promise<boolean> {
    return inTransaction(this.#ctx, async (db) => {
      const result = await db.deleteFrom('admin_sessions').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  revokeForUser(userId: string): Promise<number> {
    return inTransaction(this.#ctx, async (db) => {
      const result = await db.deleteFrom('admin_sessions').where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  pruneExpired(now: number): Promise<number> {
    // `<=`: a session is valid strictly before its expiresAt, so one expiring now is dead.
    return inTransaction(this.#ctx, async (db) => {
      const result = await db.deleteFrom('admin_sessions').where('expires_at', '<=', now).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}
