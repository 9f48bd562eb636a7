/**
 * The PostgreSQL pool as configured (size, idle and connect timeouts, application name) and
 * TLS, against the real server: what PostgreSQL itself sees in pg_stat_activity.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { POSTGRES_URL, postgresGate, uniqueName } from '../helpers/services.js';

const gate = await postgresGate();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The URL with an application_name of its own, so this test's connections can be counted. */
function tagged(name: string): string {
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('application_name', name);
  return url.toString();
}

describe('PostgreSQL pool', { skip: gate.skip }, () => {
  let admin: pg.Client;
  let serverSsl = 'off';
  const stores: Store[] = [];

  before(async () => {
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    serverSsl = (await admin.query<{ ssl: string }>('show ssl')).rows[0]!.ssl;
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await admin.end();
  });

  const connections = async (name: string): Promise<number> =>
    Number(
      (
        await admin.query<{ n: string }>(
          'select count(*) as n from pg_stat_activity where application_name = $1',
          [name],
        )
      ).rows[0]!.n,
    );

  async function open(options: Parameters<typeof openStore>[0]): Promise<Store> {
    const store = await openStore(options);
    stores.push(store);
    return store;
  }

  it('never opens more than the pool size, however many queries wait', async () => {
    const name = uniqueName('pcl_pool');
    const store = await open({ url: tagged(name), poolSize: 2 });
    let most = 0;
    let running = true;
    const watcher = (async () => {
      while (running) {
        most = Math.max(most, await connections(name));
        await sleep(20);
      }
    })();
    const started = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => sql`select pg_sleep(0.15)`.execute(store.db)));
    const elapsed = performance.now() - started;
    running = false;
    await watcher;
    assert.equal(most, 2, `at most 2 server connections (saw ${most})`);
    // Eight sleeps of 150 ms on two connections take about four rounds.
    assert.ok(elapsed >= 550, `took ${Math.round(elapsed)} ms`);
  });

  it('closes connections idle longer than the idle timeout', async () => {
    const name = uniqueName('pcl_idle');
    const store = await open({ url: tagged(name), poolSize: 3, idleTimeoutMs: 300 });
    await Promise.all(Array.from({ length: 3 }, () => sql`select pg_sleep(0.05)`.execute(store.db)));
    assert.equal(await connections(name), 3);
    const deadline = Date.now() + 5_000;
    while ((await connections(name)) > 0 && Date.now() < deadline) await sleep(50);
    assert.equal(await connections(name), 0);
  });

  it('a query waiting for a full pool fails after the connect timeout', async () => {
    const store = await open({ url: tagged(uniqueName('pcl_wait')), poolSize: 1, connectTimeoutMs: 200 });
    const busy = sql`select pg_sleep(1)`.execute(store.db);
    await sleep(50);
    const started = performance.now();
    await assert.rejects(sql`select 1`.execute(store.db), /timeout exceeded when trying to connect/);
    const waited = performance.now() - started;
    assert.ok(waited >= 150 && waited < 900, `waited ${Math.round(waited)} ms`);
    await busy;
  });

  it('names its connections portcullis in pg_stat_activity unless the URL names them', async () => {
    const store = await open({ url: POSTGRES_URL, poolSize: 1 });
    const { rows } = await sql<{ name: string }>`select current_setting('application_name') as name`.execute(
      store.db,
    );
    assert.equal(rows[0]!.name, 'portcullis');
  });

  it('TLS required against a server without TLS fails with a clear error', async (t) => {
    if (serverSsl === 'on') {
      t.skip('this PostgreSQL has TLS on (SHOW ssl), so a TLS requirement cannot fail here');
      return;
    }
    for (const mode of ['require', 'verify-full'] as const) {
      const store = await open({ url: POSTGRES_URL, poolSize: 1, tls: { mode } });
      await assert.rejects(sql`select 1`.execute(store.db), /The server does not support SSL connections/);
      assert.match((await store.health()).error ?? '', /does not support SSL/);
    }
    // disable: plaintext, as this server wants.
    const plain = await open({ url: POSTGRES_URL, poolSize: 1, tls: { mode: 'disable' } });
    await sql`select 1`.execute(plain.db);
  });

  it('TLS options are validated, and may not be set twice (URL and option)', async () => {
    await assert.rejects(
      openStore({ url: POSTGRES_URL, tls: { mode: 'prefer' as never } }),
      /options\.tls\.mode must be one of disable, require, verify-ca, verify-full/,
    );
    await assert.rejects(
      openStore({ url: POSTGRES_URL, tls: { mode: 'require', caFile: '/x.pem' } }),
      /options\.tls\.caFile needs options\.tls\.mode verify-ca or verify-full/,
    );
    await assert.rejects(
      openStore({ url: `${POSTGRES_URL}?sslmode=disable`, tls: { mode: 'verify-full' } }),
      /sets TLS too \(sslmode=…\)/,
    );
    await assert.rejects(
      openStore({ url: POSTGRES_URL, tls: { mode: 'verify-full', caFile: '/nonexistent/ca.pem' } }),
      /cannot read the PostgreSQL CA file \/nonexistent\/ca\.pem \(ENOENT\)/,
    );
    await assert.rejects(
      openStore({ url: 'sqlite::memory:', tls: { mode: 'require' } }),
      /applies to PostgreSQL only/,
    );
    await assert.rejects(
      openStore({ url: POSTGRES_URL, idleTimeoutMs: 0 }),
      /options\.idleTimeoutMs must be a positive integer/,
    );
  });
});
