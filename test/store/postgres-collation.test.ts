/**
 * The store contract again, on a PostgreSQL database whose default collation is a language's
 * (ICU en-US) rather than "C". Most installations are created that way (initdb takes the
 * machine's locale), and such a collation ignores punctuation at first level and puts "a"
 * before "B": every list and keyset page that forgot `binaryOrder` would order differently from
 * SQLite, or skip and repeat rows across pages. The test server's own databases use C.UTF-8,
 * where that mistake cannot show, hence this database of its own (created once, kept; each run
 * uses a fresh schema in it, dropped after).
 */
import { after, describe } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.js';
import { inCI, POSTGRES_URL, postgresGate, uniqueName } from '../helpers/services.js';
import { runStoreContract } from './store-contract.js';

const DATABASE = 'portcullis_test_en_us';

/** The URL of the en-US database, created when missing; or why it cannot be had. */
async function collatedDatabase(): Promise<{ url: string } | { skip: string }> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  try {
    await client.connect();
    const exists = async () =>
      (await client.query('select 1 from pg_database where datname = $1', [DATABASE])).rows.length > 0;
    if (!(await exists())) {
      try {
        // PostgreSQL 15+: an ICU default collation for the whole database.
        await client.query(
          `create database ${DATABASE} template template0 encoding 'UTF8' locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'`,
        );
      } catch (error) {
        // Another test process may have created it in between (42P04, or 23505 when both got
        // past the check): fine if it is there now.
        if (!(await exists())) throw error;
      }
    }
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${DATABASE}`;
    // A database of that name made otherwise (say with the C collation) would test nothing.
    const collated = new pg.Client({ connectionString: url.toString() });
    try {
      await collated.connect();
      const { rows } = await collated.query(`select 'a' < 'B' as linguistic`);
      if (rows[0]?.linguistic !== true)
        throw new Error(`database ${DATABASE} exists but its default collation compares byte-wise`);
    } finally {
      await collated.end().catch(() => undefined);
    }
    return { url: url.toString() };
  } catch (error) {
    const why = `cannot create PostgreSQL database ${DATABASE} with an ICU en-US collation (needs PostgreSQL 15+ built with ICU, and CREATEDB): ${(error as Error).message}`;
    if (inCI) throw new Error(why);
    process.stderr.write(`[skip] ${why}\n`);
    return { skip: why };
  } finally {
    await client.end().catch(() => undefined);
  }
}

const gate = await postgresGate();
const target = gate.skip ? { skip: gate.skip } : await collatedDatabase();
const schema = uniqueName('pc_collation');

after(async () => {
  if (!('url' in target)) return;
  const admin = await openStore({ url: target.url });
  try {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
  } finally {
    await admin.close();
  }
});

describe('PostgreSQL store, en-US default collation', {
  skip: 'skip' in target ? target.skip : false,
}, () => {
  if (!('url' in target)) return;
  runStoreContract('PostgreSQL (en-US collation)', ({ clock }) =>
    openStore({ url: target.url, schema, clock, poolSize: 4 }),
  );
});
