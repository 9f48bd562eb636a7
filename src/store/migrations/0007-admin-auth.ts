/**
 * 0007_admin_auth: people who log in to the admin API and console (PRODUCT.md §11).
 *
 * - `admin_users`: one row per person. `username` is stored lower-cased and unique, so
 *   "Admin" and "admin" can never be two accounts (nor two throttle subjects). Only the
 *   scrypt hash of the password is kept. `disabled` is 0/1 in an integer column: neither
 *   dialect needs a boolean type that way, and no other table uses one.
 * - `admin_sessions`: login sessions; only the keyed hash of the session token is stored.
 *   Sessions belong to their user with ON DELETE CASCADE, so removing a user ends every
 *   session of theirs in the same statement. Indexed by user (revoke all of one user) and by
 *   expiry (pruning).
 */
import type { Kysely, Migration } from 'kysely';

export const adminAuth0007: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('admin_users')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('username', 'text', (col) => col.notNull().unique())
      .addColumn('password_hash', 'text', (col) => col.notNull())
      .addColumn('role', 'text', (col) => col.notNull())
      .addColumn('disabled', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .addColumn('password_changed_at', 'bigint', (col) => col.notNull())
      .execute();

    await db.schema
      .createTable('admin_sessions')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('user_id', 'text', (col) => col.notNull().references('admin_users.id').onDelete('cascade'))
      .addColumn('token_hash', 'text', (col) => col.notNull().unique())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .addColumn('last_seen_at', 'bigint', (col) => col.notNull())
      .addColumn('ip', 'text', (col) => col.notNull())
      .addColumn('user_agent', 'text')
      .execute();
    await db.schema
      .createIndex('admin_sessions_user_id_idx')
      .on('admin_sessions')
      .column('user_id')
      .execute();
    await db.schema
      .createIndex('admin_sessions_expires_at_idx')
      .on('admin_sessions')
      .column('expires_at')
      .execute();
  },
};
