/**
 * 0002_identity: clients and what hangs off them (API keys and their secrets, grants, HMAC
 * secrets), JWT providers and service tokens. Written against the shape of the tables at this
 * point in history (no data is touched, so no table types are needed).
 *
 * Everything owned by a client references it with ON DELETE CASCADE, so removing a client is
 * one statement (SQLite enforces it because every connection sets `foreign_keys = ON`).
 * Grants do not reference routes: routes are replaced wholesale by declarative apply, and a
 * grant to an absent route grants nothing.
 */
import type { Kysely, Migration } from 'kysely';

export const identity0002: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('clients')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('name', 'text', (col) => col.notNull())
      .addColumn('status', 'text', (col) => col.notNull())
      .addColumn('status_reason', 'text')
      .addColumn('metadata', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .execute();

    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('client_id', 'text', (col) => col.notNull().references('clients.id').onDelete('cascade'))
      .addColumn('name', 'text')
      .addColumn('environment', 'text', (col) => col.notNull())
      .addColumn('scopes', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('ip_allow', 'text', (col) => col.notNull())
      .addColumn('binding_mode', 'text', (col) => col.notNull())
      .addColumn('max_ips', 'integer')
      .addColumn('policy', 'text')
      .addColumn('uses_budget', 'bigint')
      .addColumn('budget_version', 'integer', (col) => col.notNull().defaultTo(0))
      .addColumn('uses_consumed', 'bigint', (col) => col.notNull().defaultTo(0))
      .addColumn('status', 'text', (col) => col.notNull())
      .addColumn('revoked_reason', 'text')
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .addColumn('last_used_at', 'bigint')
      .execute();
    // PostgreSQL does not index referencing columns by itself; cascades and per-client
    // listings need these.
    await db.schema.createIndex('api_keys_client_id_idx').on('api_keys').column('client_id').execute();

    await db.schema
      .createTable('api_key_secrets')
      .addColumn('hash', 'text', (col) => col.primaryKey())
      .addColumn('key_id', 'text', (col) => col.notNull().references('api_keys.id').onDelete('cascade'))
      .addColumn('display_prefix', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('api_key_secrets_key_id_idx')
      .on('api_key_secrets')
      .column('key_id')
      .execute();

    await db.schema
      .createTable('grants')
      .addColumn('client_id', 'text', (col) => col.notNull().references('clients.id').onDelete('cascade'))
      .addColumn('route_id', 'text', (col) => col.notNull())
      .addColumn('methods', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addPrimaryKeyConstraint('grants_pk', ['client_id', 'route_id'])
      .execute();
    await db.schema.createIndex('grants_route_id_idx').on('grants').column('route_id').execute();

    await db.schema
      .createTable('hmac_secrets')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('client_id', 'text', (col) => col.notNull().references('clients.id').onDelete('cascade'))
      .addColumn('ciphertext', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('hmac_secrets_client_id_idx')
      .on('hmac_secrets')
      .column('client_id')
      .execute();

    await db.schema
      .createTable('jwt_providers')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('spec', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .execute();

    await db.schema
      .createTable('service_tokens')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('name', 'text', (col) => col.notNull())
      .addColumn('role', 'text', (col) => col.notNull())
      .addColumn('hash', 'text', (col) => col.notNull().unique())
      .addColumn('display_prefix', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .execute();
  },
};
