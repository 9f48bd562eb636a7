/**
 * 0004_ip_controls: IP controls (PRODUCT.md §8) and the alert deliveries they start.
 *
 * - `api_keys.ip_deny` and the binding prefix lengths (a `single` binding may cover the first
 *   IP's network rather than the one address).
 * - `key_bindings`: the IPs (or CIDRs) a key is bound to. First-use binding is made atomic by
 *   the database itself: a `single` binding claims slot 0, a `multiple` binding slots 0..N-1,
 *   and the unique (key_id, slot) index lets exactly one concurrent claimant win, on every
 *   instance, whatever the hot state is. `all` bindings only record (slot NULL).
 * - `key_bindings_archive`: bindings unused for the archive period are moved here (history
 *   kept; the next request binds again).
 * - `intercepts`: binding violations, one row each.
 * - `blocks`: the blocklist (one entry per kind and value).
 * - `alert_deliveries`: every webhook delivery, delivered or failed.
 */
import type { Kysely, Migration } from 'kysely';

export const ipControls0004: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('api_keys')
      .addColumn('ip_deny', 'text', (col) => col.notNull().defaultTo('[]'))
      .execute();
    await db.schema.alterTable('api_keys').addColumn('bind_prefix_v4', 'integer').execute();
    await db.schema.alterTable('api_keys').addColumn('bind_prefix_v6', 'integer').execute();

    await db.schema
      .createTable('key_bindings')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('key_id', 'text', (col) => col.notNull().references('api_keys.id').onDelete('cascade'))
      .addColumn('slot', 'integer')
      .addColumn('cidr', 'text', (col) => col.notNull())
      .addColumn('source', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('last_seen_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createIndex('key_bindings_slot_uq')
      .on('key_bindings')
      .columns(['key_id', 'slot'])
      .unique()
      .execute();
    await db.schema
      .createIndex('key_bindings_cidr_uq')
      .on('key_bindings')
      .columns(['key_id', 'cidr'])
      .unique()
      .execute();
    await db.schema
      .createIndex('key_bindings_last_seen_idx')
      .on('key_bindings')
      .column('last_seen_at')
      .execute();

    await db.schema
      .createTable('key_bindings_archive')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('key_id', 'text', (col) => col.notNull())
      .addColumn('cidr', 'text', (col) => col.notNull())
      .addColumn('source', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('last_seen_at', 'bigint', (col) => col.notNull())
      .addColumn('archived_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createIndex('key_bindings_archive_key_idx')
      .on('key_bindings_archive')
      .column('key_id')
      .execute();

    await db.schema
      .createTable('intercepts')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('at', 'bigint', (col) => col.notNull())
      .addColumn('key_id', 'text', (col) => col.notNull())
      .addColumn('client_id', 'text')
      .addColumn('ip', 'text', (col) => col.notNull())
      .addColumn('bound', 'text', (col) => col.notNull())
      .addColumn('route_id', 'text')
      .addColumn('method', 'text', (col) => col.notNull())
      .addColumn('path', 'text', (col) => col.notNull())
      .addColumn('request_id', 'text', (col) => col.notNull())
      .execute();
    await db.schema.createIndex('intercepts_key_at_idx').on('intercepts').columns(['key_id', 'at']).execute();
    await db.schema.createIndex('intercepts_at_idx').on('intercepts').column('at').execute();

    await db.schema
      .createTable('blocks')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('value', 'text', (col) => col.notNull())
      .addColumn('reason', 'text', (col) => col.notNull())
      .addColumn('source', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint')
      .execute();
    await db.schema
      .createIndex('blocks_kind_value_uq')
      .on('blocks')
      .columns(['kind', 'value'])
      .unique()
      .execute();

    await db.schema
      .createTable('alert_deliveries')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('alert_id', 'text', (col) => col.notNull())
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('url', 'text', (col) => col.notNull())
      .addColumn('status', 'text', (col) => col.notNull())
      .addColumn('attempts', 'integer', (col) => col.notNull())
      .addColumn('last_status', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('finished_at', 'bigint', (col) => col.notNull())
      .execute();
    await db.schema
      .createIndex('alert_deliveries_created_idx')
      .on('alert_deliveries')
      .column('created_at')
      .execute();
  },
};
