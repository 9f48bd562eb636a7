import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { openStore } from '../../src/store/open-store.js';
import { POSTGRES_URL, postgresGate, uniqueName } from '../helpers/services.js';
import { runStoreContract } from './store-contract.js';

const gate = await postgresGate();
const schemas: string[] = [];

function newSchema(): string {
  const schema = uniqueName('pc_store');
  schemas.push(schema);
  return schema;
}

after(async () => {
  if (gate.skip || schemas.length === 0) return;
  const admin = await openStore({ url: POSTGRES_URL });
  try {
    for (const schema of schemas)
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
  } finally {
    await admin.close();
  }
});

describe('PostgreSQL store', { skip: gate.skip }, () => {
  const schema = newSchema();
  runStoreContract('PostgreSQL', ({ clock }) => openStore({ url: POSTGRES_URL, schema, clock, poolSize: 4 }));

  describe('PostgreSQL specifics', () => {
    it('keeps each schema apart, Kysely bookkeeping included', async () => {
      // Kysely's migrator would see another schema's kysely_migration table and skip creating
      // its own unless pinned to the current schema.
      const [one, two] = [newSchema(), newSchema()];
      const a = await openStore({ url: POSTGRES_URL, schema: one });
      const b = await openStore({ url: POSTGRES_URL, schema: two });
      try {
        const all = MIGRATIONS.map(([name]) => name);
        assert.deepEqual(await a.migrate(), { applied: all });
        assert.deepEqual(await b.migrate(), { applied: all });
        await a.routes.insert({
          id: 'only-in-one',
          host: '*',
          path: '/x',
          methods: { GET: ['public'] },
          upstream: { url: 'http://127.0.0.1:1' },
        });
        assert.equal((await b.routes.list()).length, 0);
        const { rows } = await sql<{ schema: string }>`
          select table_schema as schema from information_schema.tables
          where table_name = 'kysely_migration' and table_schema in (${one}, ${two})`.execute(a.db);
        assert.deepEqual(rows.map((r) => r.schema).sort(), [one, two].sort());
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('parses int8 to number in its own pool and leaves the global pg parser alone', async () => {
      const store = await openStore({ url: POSTGRES_URL, schema: newSchema() });
      try {
        const { rows } = await sql<{ n: unknown }>`select cast(9007199254740991 as bigint) as n`.execute(
          store.db,
        );
        assert.equal(rows[0]?.n, 9007199254740991);
        assert.equal(pg.types.getTypeParser(20, 'text')('42'), '42');
        assert.equal(store.dialect, 'postgres');
        assert.deepEqual(store.capabilities, { multiWriter: true, transactionalDdl: true });
      } finally {
        await store.close();
      }
    });

    it('two openers creating the same schema at once both succeed', async () => {
      const shared = newSchema();
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => openStore({ url: POSTGRES_URL, schema: shared })),
      );
      await Promise.all(stores.map((s) => s.close()));
    });

    it('an unreachable server gives health ok:false, not an exception', async () => {
      const store = await openStore({ url: 'postgres://postgres@127.0.0.1:1/test' });
      try {
        const health = await store.health();
        assert.equal(health.ok, false);
        assert.equal(health.dialect, 'postgres');
        assert.match(health.error ?? '', /ECONNREFUSED|connect/);
      } finally {
        await store.close();
      }
    });

    it('accepts postgresql:// too', async () => {
      const store = await openStore({ url: POSTGRES_URL.replace(/^postgres:/, 'postgresql:') });
      try {
        assert.equal((await store.health()).ok, true);
      } finally {
        await store.close();
      }
    });
  });
});
