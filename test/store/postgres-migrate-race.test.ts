/**
 * Migrating on a PostgreSQL database that other installations (or test runs) share: their
 * schemas coming and going must not fail our migration, and what the migrator is told about
 * tables is our schema's alone (src/store/pg-introspector.ts). Real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { POSTGRES_URL, postgresGate, uniqueName } from '../helpers/services.js';

const pg = await postgresGate();
const schemas: string[] = [];

async function dropSchemas(names: string[]): Promise<void> {
  if (names.length === 0) return;
  const admin = await openStore({ url: POSTGRES_URL });
  try {
    for (const schema of names) await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
  } finally {
    await admin.close();
  }
}

after(async () => {
  if (!pg.skip) await dropSchemas(schemas);
});

function schemaName(prefix: string): string {
  const schema = uniqueName(prefix);
  schemas.push(schema);
  return schema;
}

describe('PostgreSQL migration beside other schemas', { skip: pg.skip }, () => {
  test('succeeds while other schemas are created and dropped concurrently', async () => {
    // Another "installation" creating and dropping its schema in a loop. Before the store had
    // its own introspector, about half the migrations run beside this failed with
    // `schema "…" does not exist` (Kysely's introspector resolved every schema by name).
    const churn = await openStore({ url: POSTGRES_URL, poolSize: 1 });
    let churning = true;
    let churned = 0;
    const churnLoop = (async () => {
      while (churning) {
        const other = uniqueName('pc_churn');
        await sql`create schema ${sql.id(other)}`.execute(churn.db);
        await sql`create table ${sql.id(other, 'items')} (id serial primary key, name text, note text)`.execute(
          churn.db,
        );
        await sql`drop schema ${sql.id(other)} cascade`.execute(churn.db);
        churned++;
      }
    })();
    const failures: string[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const store = await openStore({
          url: POSTGRES_URL,
          schema: schemaName('pc_migrate_race'),
          poolSize: 2,
        });
        try {
          await store.migrate();
        } catch (error) {
          failures.push((error as Error).message);
        } finally {
          await store.close();
        }
      }
    } finally {
      churning = false;
      await churnLoop;
      await churn.close();
    }
    assert.ok(churned > 0, 'the other schemas really came and went');
    assert.deepEqual(failures, []);
  });

  test('the migrator sees the tables of its own schema only', async () => {
    const ours = schemaName('pc_introspect_ours');
    const theirs = schemaName('pc_introspect_theirs');
    const stores: Store[] = [];
    try {
      const other = await openStore({ url: POSTGRES_URL, schema: theirs, poolSize: 1 });
      stores.push(other);
      await sql`create table ${sql.id(theirs, 'only_theirs')} (id int)`.execute(other.db);
      const store = await openStore({ url: POSTGRES_URL, schema: ours, poolSize: 1 });
      stores.push(store);
      await store.migrate();

      const names = (await store.db.introspection.getTables()).map((t) => t.name);
      assert.ok(names.includes('routes') && names.includes('request_logs'), names.join(', '));
      assert.ok(!names.includes('only_theirs'), 'another schema’s table is not listed');
      assert.ok(!names.includes('kysely_migration'), 'Kysely’s own tables only when asked for');
      const withKysely = await store.db.introspection.getTables({ withInternalKyselyTables: true });
      assert.ok(withKysely.some((t) => t.name === 'kysely_migration' && t.schema === ours));
      assert.ok(withKysely.every((t) => t.schema === ours));
      // The other schema migrates on its own, unaffected by ours having the migrator's tables.
      await other.migrate();
      assert.ok((await other.db.introspection.getTables()).some((t) => t.name === 'only_theirs'));
    } finally {
      for (const store of stores) await store.close();
    }
  });
});
