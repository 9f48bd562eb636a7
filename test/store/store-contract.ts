/**
 * The store contract: every backend (SQLite file, SQLite :memory:, PostgreSQL) must pass this
 * one suite. `open` is called several times; unless `sharesDatabase` is false, every call must
 * open the SAME, initially empty database (that is how concurrent openers are tested). Tests
 * share that database, so each uses its own ids (routes, clients, keys…) and measures version
 * deltas.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type Clock, ManualClock } from '../../src/core/clock.js';
import type { PolicySpec } from '../../src/limits/policy.js';
import type { RouteSpec } from '../../src/routing/spec.js';
import { postgresAdapter, sqliteAdapter } from '../../src/store/dialect.js';
import { ConflictError, NotFoundError } from '../../src/store/errors.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import type {
  BindingPosition,
  CreationPosition,
  GrantPosition,
  GrantRecord,
  MigrationReport,
  NewApiKey,
  Store,
} from '../../src/store/types.js';
import { newApiKey } from '../helpers/records.js';

export type OpenForContract = (options: { clock: Clock }) => Promise<Store>;

export interface ContractOptions {
  /** False when each `open()` gets a database of its own (SQLite :memory:). */
  sharesDatabase?: boolean;
}

const ALL_MIGRATIONS = MIGRATIONS.map(([name]) => name);

function route(id: string, extra: Partial<RouteSpec> = {}): RouteSpec {
  return {
    id,
    host: '*',
    path: `/${id}/*`,
    methods: { GET: ['api_key'] },
    upstream: { url: 'http://upstream.internal:3000' },
    ...extra,
  };
}

function policy(id: string, extra: Partial<PolicySpec> = {}): PolicySpec {
  return {
    id,
    description: 'per key, ünïcode kept',
    algorithm: 'quota',
    limit: 1000,
    period: 'day',
    time_zone: 'Europe/Berlin',
    key_by: ['key', 'ip'],
    ipv6_prefix: 56,
    attach: ['global', 'route:orders', 'key:key_AbC'],
    on_store_failure: 'local',
    shadow: false,
    refund_on_5xx: true,
    ...extra,
  };
}

function secret(hash: string, displayPrefix = 'pc_live_x'): { hash: string; displayPrefix: string } {
  return { hash, displayPrefix };
}

let sequence = 0;
/** Route ids unique within the run, valid per ROUTE_ID_PATTERN. */
function uid(name: string): string {
  sequence += 1;
  return `${name}-${sequence}`;
}

/** The order of key and blocklist pages: creation time, then id compared byte-wise (UTF-8). */
function byCreation(a: CreationPosition, b: CreationPosition): number {
  return a.createdAt - b.createdAt || Buffer.compare(Buffer.from(a.id), Buffer.from(b.id));
}

/** Every page of `limit` in turn, each continuing after the last row of the one before. */
async function walkPages(
  limit: number,
  page: (options: { after?: CreationPosition; limit: number }) => Promise<CreationPosition[]>,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let after: CreationPosition | undefined;
  for (let pages = 1; ; pages++) {
    const rows = await page({ ...(after !== undefined ? { after } : {}), limit });
    assert.ok(rows.length <= limit);
    ids.push(...rows.map((r) => r.id));
    const last = rows.at(-1);
    if (rows.length < limit || last === undefined) return { ids, pages };
    after = { createdAt: last.createdAt, id: last.id };
  }
}

const BAD_LIMITS = [0, -1, 1.5, Number.NaN, 10_001];

export function runStoreContract(label: string, open: OpenForContract, options: ContractOptions = {}): void {
  const shared = options.sharesDatabase ?? true;
  const notShared = shared ? false : 'each open() is a separate database';

  describe(`store contract: ${label}`, () => {
    const clock = new ManualClock();
    let store: Store;
    let other: Store;
    let reports: MigrationReport[];
    let versionAfterMigrate: number;

    /** A fresh client (its id unique within the run). */
    async function newClient(): Promise<string> {
      const id = uid('client');
      await store.clients.insert({ id, name: id, metadata: {} });
      return id;
    }

    /** The definition of index `name` as the database reports it ('' when there is none). */
    async function indexDef(name: string): Promise<string> {
      const { rows } =
        store.dialect === 'postgres'
          ? await sql<{
              def: string;
            }>`select indexdef as def from pg_indexes where indexname = ${name} and schemaname = current_schema()`.execute(
              store.db,
            )
          : await sql<{ def: string }>`select sql as def from sqlite_master where name = ${name}`.execute(
              store.db,
            );
      return rows[0]?.def ?? '';
    }

    before(async () => {
      store = await open({ clock });
      other = await open({ clock });
      // Two openers migrating the same empty database at once, as two gateway processes
      // starting together would.
      reports = await Promise.all([store.migrate(), other.migrate()]);
      versionAfterMigrate = await store.configVersion();
    });

    after(async () => {
      await store?.close();
      await other?.close();
    });

    describe('migrations', () => {
      it('a fresh database gets every migration and config version 0', () => {
        assert.ok(reports.some((r) => JSON.stringify(r.applied) === JSON.stringify(ALL_MIGRATIONS)));
        assert.equal(versionAfterMigrate, 0);
      });

      it('two concurrent openers apply each migration exactly once', { skip: notShared }, () => {
        const applied = reports.map((r) => r.applied);
        assert.deepEqual(
          applied.sort((x, y) => x.length - y.length),
          [[], ALL_MIGRATIONS],
        );
      });

      it('is idempotent: a second migrate applies nothing', async () => {
        assert.deepEqual(await store.migrate(), { applied: [] });
        assert.deepEqual(await other.migrate(), { applied: [] });
      });

      it('roll-ups are indexed by route and time, as by key and client (migration 0012)', async () => {
        assert.match(await indexDef('usage_rollups_route_idx'), /route_id.*granularity.*bucket/s);
      });

      it('clients and grants pages have byte-wise indexes (migration 0013)', async () => {
        assert.match(await indexDef('grants_route_page_idx'), /route_id.*client_id/s);
        assert.equal(await indexDef('grants_route_id_idx'), '', 'replaced by grants_route_page_idx');
        if (store.dialect === 'postgres') {
          assert.equal((await indexDef('clients_page_idx')).match(/COLLATE "C"/g)?.length, 1);
          assert.match(await indexDef('grants_page_idx'), /client_id.*route_id/s);
          assert.equal((await indexDef('grants_page_idx')).match(/COLLATE "C"/g)?.length, 2);
          assert.equal((await indexDef('grants_route_page_idx')).match(/COLLATE "C"/g)?.length, 1);
          return;
        }
        // SQLite compares byte-wise by default: the primary keys serve, with no sort step.
        assert.equal(await indexDef('clients_page_idx'), '');
        assert.equal(await indexDef('grants_page_idx'), '');
        for (const query of [
          sql`explain query plan select * from clients where id > 'm' order by id limit 10`,
          sql`explain query plan select * from grants where (client_id, route_id) > ('m', 'n') order by client_id, route_id limit 10`,
          sql`explain query plan select * from grants where route_id = 'r' and client_id > 'm' order by client_id limit 10`,
        ]) {
          const { rows } = await query.execute(store.db);
          const plan = (rows as Array<{ detail: string }>).map((r) => r.detail).join('; ');
          assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
          assert.match(plan, /USING (COVERING )?INDEX|PRIMARY KEY/, plan);
        }
      });
    });

    describe('routes', () => {
      it('inserts and gets a route with clock timestamps', async () => {
        const id = uid('get');
        const inserted = await store.routes.insert(route(id));
        assert.deepEqual(inserted, { spec: route(id), createdAt: clock.now(), updatedAt: clock.now() });
        assert.deepEqual(await store.routes.get(id), inserted);
        assert.equal(await store.routes.get(uid('absent')), undefined);
      });

      it('round-trips a spec with every nested field through JSON', async () => {
        const spec = route(uid('nested'), {
          description: 'Orders API — ünïcödé, "quotes" and \\ backslashes',
          host: '*.example.com',
          path: '/v1/orders/:id',
          methods: { GET: ['api_key', 'jwt'], POST: ['hmac'], '*': ['public'] },
          upstream: {
            url: 'http://orders.internal:3000/base',
            strip_prefix: '/v1',
            timeout_ms: 5000,
            retries: 1,
            preserve_host: true,
          },
          environment: 'live',
          scopes: ['orders:read', 'orders:write'],
          policies: ['per-key-100rps'],
          ip: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: [] },
          open_to_all_clients: false,
          keep_credential: true,
        });
        await store.routes.insert(spec);
        assert.deepEqual((await store.routes.get(spec.id))?.spec, spec);
        if (shared)
          assert.deepEqual((await other.routes.get(spec.id))?.spec, spec, 'read back by another opener');
      });

      it('lists routes ordered by id, byte-wise, on every dialect', async () => {
        // Punctuation is where locale collations (PostgreSQL's default) and SQLite disagree.
        const base = uid('order');
        const ids = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`, `${base}0`, `${base}a-z`];
        for (const id of ids) await store.routes.insert(route(id));
        const listed = (await store.routes.list()).map((r) => r.spec.id);
        assert.deepEqual(listed, [...listed].sort(), 'whole list sorted by code point');
        assert.deepEqual(
          listed.filter((id) => ids.includes(id)),
          [...ids].sort(),
        );
      });

      it('replace swaps the whole spec, keeps createdAt and moves updatedAt', async () => {
        const id = uid('replace');
        const created = await store.routes.insert(route(id, { scopes: ['a'] }));
        clock.advance(60_000);
        const next = route(id, { path: '/moved', host: 'api.example.com' });
        const replaced = await store.routes.replace(next);
        assert.deepEqual(replaced, { spec: next, createdAt: created.createdAt, updatedAt: clock.now() });
        assert.deepEqual(await store.routes.get(id), replaced);
        assert.equal((await store.routes.get(id))?.spec.scopes, undefined, 'old fields are gone');
      });

      it('remove returns true once, then false', async () => {
        const id = uid('remove');
        await store.routes.insert(route(id));
        assert.equal(await store.routes.remove(id), true);
        assert.equal(await store.routes.get(id), undefined);
        assert.equal(await store.routes.remove(id), false);
      });

      it('insert of an existing id throws ConflictError and keeps the original', async () => {
        const id = uid('dup');
        await store.routes.insert(route(id, { path: '/original' }));
        await assert.rejects(store.routes.insert(route(id, { path: '/second' })), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.equal(error.resource, 'route');
          assert.equal(error.id, id);
          return true;
        });
        assert.equal((await store.routes.get(id))?.spec.path, '/original');
      });

      it('replace of a missing id throws NotFoundError', async () => {
        const id = uid('missing');
        await assert.rejects(store.routes.replace(route(id)), (error: unknown) => {
          assert.ok(error instanceof NotFoundError);
          assert.equal(error.resource, 'route');
          assert.equal(error.id, id);
          return true;
        });
        assert.equal(await store.routes.get(id), undefined);
      });

      it('concurrent inserts of one id from two openers: one wins, one conflicts', {
        skip: notShared,
      }, async () => {
        const id = uid('race');
        const before = await store.configVersion();
        const results = await Promise.allSettled([
          store.routes.insert(route(id, { path: '/a' })),
          other.routes.insert(route(id, { path: '/b' })),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const rejected = results.find((r) => r.status === 'rejected');
        assert.ok(rejected?.status === 'rejected' && rejected.reason instanceof ConflictError);
        assert.equal(await store.configVersion(), before + 1);
      });
    });

    describe('config version', () => {
      it('each mutation bumps it by exactly 1; reads and no-op removes do not', async () => {
        const id = uid('version');
        const v0 = await store.configVersion();
        await store.routes.insert(route(id));
        assert.equal(await store.configVersion(), v0 + 1);
        await store.routes.replace(route(id, { path: '/other' }));
        assert.equal(await store.configVersion(), v0 + 2);
        await store.routes.get(id);
        await store.routes.list();
        await store.health();
        await store.meta.get('config_version');
        assert.equal(await store.configVersion(), v0 + 2, 'reads do not bump');
        await store.routes.remove(id);
        assert.equal(await store.configVersion(), v0 + 3);
        await store.routes.remove(id);
        assert.equal(await store.configVersion(), v0 + 3, 'removing nothing changes nothing');
      });

      it('failed mutations do not bump it', async () => {
        const id = uid('failed');
        await store.routes.insert(route(id));
        const v0 = await store.configVersion();
        await assert.rejects(store.routes.insert(route(id)), ConflictError);
        await assert.rejects(store.routes.replace(route(uid('nope'))), NotFoundError);
        assert.equal(await store.configVersion(), v0);
      });

      it('concurrent mutations are each counted (atomic bump)', async () => {
        const v0 = await store.configVersion();
        const writers = shared ? [store, other] : [store];
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (writers[i % writers.length] as Store).routes.insert(route(uid('many'))),
          ),
        );
        assert.equal(await store.configVersion(), v0 + 10);
      });

      it('a change made through another opener is visible in the version', { skip: notShared }, async () => {
        const v0 = await store.configVersion();
        await other.routes.insert(route(uid('elsewhere')));
        assert.equal(await store.configVersion(), v0 + 1);
      });

      it('is a number', async () => {
        assert.equal(typeof (await store.configVersion()), 'number');
      });

      it('onConfigChange hears each committed change once, after commit, with its version', async () => {
        const heard: number[] = [];
        const stop = store.onConfigChange((version) => heard.push(version));
        try {
          const id = uid('heard');
          await store.routes.insert(route(id));
          const v1 = await store.configVersion();
          await store.routes.get(id);
          await store.routes.remove(uid('absent'));
          await assert.rejects(store.routes.insert(route(id)), ConflictError);
          await store.meta.set(uid('meta'), 'x');
          assert.deepEqual(heard, [v1], 'reads, no-ops, failures and bookkeeping are not changes');
          await store.write(async (repos) => {
            await repos.routes.replace(route(id, { path: '/two' }));
            await repos.routes.replace(route(id, { path: '/three' }));
            assert.equal(heard.length, 1, 'nothing is heard before the transaction commits');
          });
          assert.deepEqual(heard, [v1, v1 + 2], 'one call per transaction, with its last version');
          await assert.rejects(
            store.write(async (repos) => {
              await repos.routes.remove(id);
              throw new Error('roll back');
            }),
            /roll back/,
          );
          assert.equal(heard.length, 2, 'a rolled-back change is not heard');
        } finally {
          stop();
        }
        await store.routes.remove(uid('after'));
        await store.routes.insert(route(uid('after-stop')));
        assert.equal(heard.length, 2, 'a removed listener hears nothing');
      });

      it('onConfigChange: a throwing listener does not fail the change or silence the others', async () => {
        const heard: number[] = [];
        const stopThrowing = store.onConfigChange(() => {
          throw new Error('listener bug');
        });
        const stop = store.onConfigChange((version) => heard.push(version));
        try {
          await store.routes.insert(route(uid('throwing')));
          assert.equal(heard.length, 1);
        } finally {
          stopThrowing();
          stop();
        }
      });
    });

    describe('write()', () => {
      it('applies several mutations together, one bump each, and returns the value', async () => {
        const [a, b] = [uid('tx-a'), uid('tx-b')];
        const v0 = await store.configVersion();
        const result = await store.write(async (repos) => {
          await repos.routes.insert(route(a));
          await repos.routes.insert(route(b));
          await repos.routes.replace(route(a, { path: '/a2' }));
          assert.equal((await repos.routes.get(a))?.spec.path, '/a2', 'sees its own changes');
          assert.equal(await repos.routes.remove(b), true);
          return 'done';
        });
        assert.equal(result, 'done');
        assert.equal((await store.routes.get(a))?.spec.path, '/a2');
        assert.equal(await store.routes.get(b), undefined);
        assert.equal(await store.configVersion(), v0 + 4);
      });

      it('rolls everything back when fn throws: no change, no version bump', async () => {
        const [kept, added] = [uid('tx-kept'), uid('tx-added')];
        await store.routes.insert(route(kept, { path: '/before' }));
        const v0 = await store.configVersion();
        const boom = new Error('boom');
        await assert.rejects(
          store.write(async (repos) => {
            await repos.routes.insert(route(added));
            await repos.routes.replace(route(kept, { path: '/after' }));
            await repos.meta.set(uid('meta-in-rollback'), 'x');
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.equal(await store.routes.get(added), undefined);
        assert.equal((await store.routes.get(kept))?.spec.path, '/before');
        assert.equal(await store.configVersion(), v0);
      });

      it('rolls back when a repository error escapes fn', async () => {
        const [existing, added] = [uid('tx-existing'), uid('tx-added2')];
        await store.routes.insert(route(existing));
        const v0 = await store.configVersion();
        await assert.rejects(
          store.write(async (repos) => {
            await repos.routes.insert(route(added));
            await repos.routes.insert(route(existing));
          }),
          ConflictError,
        );
        assert.equal(await store.routes.get(added), undefined);
        assert.equal(await store.configVersion(), v0);
      });

      it('a ConflictError caught inside fn does not poison the transaction', async () => {
        // On PostgreSQL a raised unique violation would abort the transaction; the store must
        // behave the same on both dialects.
        const [existing, added] = [uid('tx-poison'), uid('tx-after')];
        await store.routes.insert(route(existing));
        const v0 = await store.configVersion();
        await store.write(async (repos) => {
          await assert.rejects(repos.routes.insert(route(existing)), ConflictError);
          await assert.rejects(repos.routes.replace(route(uid('tx-none'))), NotFoundError);
          await repos.routes.insert(route(added));
        });
        assert.ok(await store.routes.get(added));
        assert.equal(await store.configVersion(), v0 + 1);
      });
    });

    describe('meta', () => {
      it('get/set/setIfAbsent without bumping the config version', async () => {
        const key = uid('fact');
        const v0 = await store.configVersion();
        assert.equal(await store.meta.get(key), undefined);
        await store.meta.set(key, 'one');
        assert.equal(await store.meta.get(key), 'one');
        await store.meta.set(key, 'two');
        assert.equal(await store.meta.get(key), 'two');
        assert.equal(await store.meta.setIfAbsent(key, 'three'), 'two');
        const fresh = uid('fact');
        assert.equal(await store.meta.setIfAbsent(fresh, 'first'), 'first');
        assert.equal(await store.meta.get(fresh), 'first');
        assert.equal(await store.configVersion(), v0);
      });

      it('refuses to set config_version by hand', async () => {
        await assert.rejects(store.meta.set('config_version', '0'), /maintained by the store/);
      });

      it('concurrent setIfAbsent from two openers agree on one value', { skip: notShared }, async () => {
        const key = uid('race-fact');
        const values = await Promise.all([
          store.meta.setIfAbsent(key, 'a'),
          other.meta.setIfAbsent(key, 'b'),
        ]);
        assert.equal(values[0], values[1]);
      });
    });

    describe('clients', () => {
      it('inserts active clients with clock timestamps and round-trips metadata', async () => {
        const id = uid('client');
        const metadata = { team: 'Billing — ünïcödé', note: '"quoted" \\ back', empty: '' };
        const v0 = await store.configVersion();
        const inserted = await store.clients.insert({ id, name: 'Billing', metadata });
        assert.deepEqual(inserted, {
          id,
          name: 'Billing',
          status: 'active',
          statusReason: null,
          metadata,
          createdAt: clock.now(),
          updatedAt: clock.now(),
        });
        assert.deepEqual(await store.clients.get(id), inserted);
        assert.equal(await store.clients.get(uid('absent')), undefined);
        assert.equal(await store.configVersion(), v0 + 1);
        if (shared) assert.deepEqual(await other.clients.get(id), inserted, 'read back by another opener');
      });

      it('lists clients ordered by id, byte-wise', async () => {
        const base = uid('corder');
        const ids = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`, `${base}0`, `${base}A`];
        for (const id of ids) await store.clients.insert({ id, name: id, metadata: {} });
        const listed = (await store.clients.list()).map((c) => c.id);
        assert.deepEqual(listed, [...listed].sort(), 'whole list sorted by code point');
        assert.deepEqual(
          listed.filter((id) => ids.includes(id)),
          [...ids].sort(),
        );
      });

      it('pages clients by id, byte-wise, to exactly the list', async () => {
        const base = uid('cpage');
        const ids = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`, `${base}0`, `${base}A`];
        for (const id of ids) await store.clients.insert({ id, name: id, metadata: {} });
        const all = (await store.clients.list()).map((c) => c.id);
        for (const limit of [1, 2, 5, 10_000]) {
          const walked: string[] = [];
          let after: string | undefined;
          for (;;) {
            const rows = await store.clients.page({ ...(after === undefined ? {} : { after }), limit });
            assert.ok(rows.length <= limit);
            walked.push(...rows.map((c) => c.id));
            if (rows.length < limit) break;
            after = rows.at(-1)?.id;
          }
          assert.deepEqual(walked, all, `pages of ${limit}`);
        }
        const ours = async (after: string) =>
          (await store.clients.page({ after, limit: 10_000 }))
            .map((c) => c.id)
            .filter((id) => ids.includes(id));
        // Strictly after; a position that is no client starts at the next one ("." sorts after "-").
        assert.deepEqual(await ours(`${base}.b`), [`${base}0`, `${base}A`, `${base}_b`, `${base}b`]);
        assert.deepEqual(await ours(`${base}.a`), [
          `${base}.b`,
          `${base}0`,
          `${base}A`,
          `${base}_b`,
          `${base}b`,
        ]);
        assert.deepEqual(await ours(`${base}b`), []);
        for (const limit of BAD_LIMITS) await assert.rejects(store.clients.page({ limit }), RangeError);
      });

      it('insert of an existing id throws ConflictError, keeps the original, no bump', async () => {
        const id = uid('cdup');
        await store.clients.insert({ id, name: 'original', metadata: { a: '1' } });
        const v0 = await store.configVersion();
        await assert.rejects(store.clients.insert({ id, name: 'second', metadata: {} }), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.equal(error.resource, 'client');
          assert.equal(error.id, id);
          return true;
        });
        assert.equal((await store.clients.get(id))?.name, 'original');
        assert.equal(await store.configVersion(), v0);
      });

      it('update changes only the given fields, keeps createdAt and bumps the version', async () => {
        const id = uid('cupdate');
        const created = await store.clients.insert({ id, name: 'before', metadata: { a: '1' } });
        clock.advance(1000);
        const v0 = await store.configVersion();
        const suspended = await store.clients.update(id, { status: 'suspended', statusReason: 'unpaid' });
        assert.deepEqual(suspended, {
          ...created,
          status: 'suspended',
          statusReason: 'unpaid',
          updatedAt: clock.now(),
        });
        assert.equal(await store.configVersion(), v0 + 1);
        clock.advance(1000);
        const renamed = await store.clients.update(id, {
          name: 'after',
          metadata: { b: '2' },
          status: 'active',
          statusReason: null,
        });
        assert.deepEqual(renamed, {
          ...created,
          name: 'after',
          metadata: { b: '2' },
          updatedAt: clock.now(),
        });
        assert.deepEqual(await store.clients.get(id), renamed);
        assert.equal(await store.configVersion(), v0 + 2);
      });

      it('update with an empty patch changes nothing and does not bump', async () => {
        const id = uid('cnoop');
        const created = await store.clients.insert({ id, name: 'same', metadata: {} });
        clock.advance(1000);
        const v0 = await store.configVersion();
        assert.deepEqual(await store.clients.update(id, {}), created);
        assert.equal(await store.configVersion(), v0);
        await assert.rejects(store.clients.update(uid('cnone'), {}), NotFoundError);
      });

      it('update of a missing client throws NotFoundError without bumping', async () => {
        const id = uid('cmissing');
        const v0 = await store.configVersion();
        await assert.rejects(store.clients.update(id, { name: 'x' }), (error: unknown) => {
          assert.ok(error instanceof NotFoundError);
          assert.equal(error.resource, 'client');
          assert.equal(error.id, id);
          return true;
        });
        assert.equal(await store.clients.get(id), undefined);
        assert.equal(await store.configVersion(), v0);
      });

      it('remove cascades to keys, key secrets, grants and HMAC secrets, in one bump', async () => {
        const [gone, kept] = [uid('cgone'), uid('ckept')];
        await store.clients.insert({ id: gone, name: 'gone', metadata: {} });
        await store.clients.insert({ id: kept, name: 'kept', metadata: {} });
        const goneKey = uid('kgone');
        const keptKey = uid('kkept');
        const [hashA, hashB, hashKept] = [uid('h'), uid('h'), uid('h')];
        await store.apiKeys.insert(newApiKey(goneKey, gone), secret(hashA));
        await store.apiKeys.rotate(goneKey, secret(hashB), clock.now() + 60_000);
        await store.apiKeys.insert(newApiKey(uid('kgone2'), gone), secret(uid('h')));
        await store.apiKeys.insert(newApiKey(keptKey, kept), secret(hashKept));
        const route = uid('groute');
        await store.grants.upsert({ clientId: gone, routeId: route, methods: ['GET'] });
        await store.grants.upsert({ clientId: kept, routeId: route, methods: ['GET'] });
        await store.hmacSecrets.add({ id: uid('hgone'), clientId: gone, ciphertext: 'c1' }, clock.now());
        await store.hmacSecrets.add({ id: uid('hkept'), clientId: kept, ciphertext: 'c2' }, clock.now());

        const v0 = await store.configVersion();
        assert.equal(await store.clients.remove(gone), true);
        assert.equal(await store.configVersion(), v0 + 1);
        assert.equal(await store.clients.get(gone), undefined);
        assert.deepEqual(await store.apiKeys.list({ clientId: gone }), []);
        assert.equal(await store.apiKeys.get(goneKey), undefined);
        assert.deepEqual(await store.apiKeys.secrets(goneKey), []);
        assert.equal(await store.apiKeys.findByHash(hashA), undefined);
        assert.equal(await store.apiKeys.findByHash(hashB), undefined);
        assert.deepEqual(await store.grants.list({ clientId: gone }), []);
        assert.deepEqual(await store.hmacSecrets.list({ clientId: gone }), []);
        const orphans = await store.db
          .selectFrom('api_key_secrets')
          .select('hash')
          .where('key_id', 'not in', store.db.selectFrom('api_keys').select('id'))
          .execute();
        assert.deepEqual(orphans, [], 'no secret outlives its key');

        assert.ok(await store.clients.get(kept), 'other clients are untouched');
        assert.equal((await store.apiKeys.findByHash(hashKept))?.key.id, keptKey);
        assert.equal((await store.grants.list({ clientId: kept })).length, 1);
        assert.equal((await store.hmacSecrets.list({ clientId: kept })).length, 1);

        assert.equal(await store.clients.remove(gone), false);
        assert.equal(await store.configVersion(), v0 + 1, 'removing nothing changes nothing');
      });
      it('the database itself refuses rows of an absent client, and the adapter recognises it', async () => {
        // The repositories check the client first; the foreign key is what guarantees no orphan
        // when the client disappears concurrently (and is mapped to NotFoundError then).
        const adapter = [sqliteAdapter, postgresAdapter].find((a) => a.dialect === store.dialect);
        const nobody = uid('nobody');
        const now = clock.now();
        await assert.rejects(
          store.db
            .insertInto('hmac_secrets')
            .values({ id: uid('raw'), client_id: nobody, ciphertext: 'x', created_at: now, expires_at: null })
            .execute(),
          (error: unknown) => adapter?.isForeignKeyViolation(error) === true,
        );
        await assert.rejects(
          store.db
            .insertInto('grants')
            .values({ client_id: nobody, route_id: 'r', methods: '[]', created_at: now })
            .execute(),
          (error: unknown) => adapter?.isForeignKeyViolation(error) === true,
        );
        assert.deepEqual(await store.hmacSecrets.list({ clientId: nobody }), []);
      });
    });

    describe('api keys', () => {
      it('insert stores the key with its first secret, defaults and JSON fields', async () => {
        const client = await newClient();
        const id = uid('key');
        const hash = uid('hash');
        const spec = newApiKey(id, client, {
          name: 'CI — deploy',
          environment: 'test',
          scopes: ['orders:read', 'orders:write', 'ünï'],
          expiresAt: clock.now() + 86_400_000,
          ipAllow: ['10.0.0.0/8', '2001:db8::/32'],
          bindingMode: 'multiple',
          maxIps: 3,
          policy: 'per-key-100rps',
          usesBudget: 1000,
        });
        const v0 = await store.configVersion();
        const inserted = await store.apiKeys.insert(spec, secret(hash, 'pc_test_ab12'));
        assert.deepEqual(inserted, {
          ...spec,
          budgetVersion: 0,
          usesConsumed: 0,
          status: 'active',
          revokedReason: null,
          revokedAt: null,
          createdAt: clock.now(),
          updatedAt: clock.now(),
          lastUsedAt: null,
        });
        assert.deepEqual(await store.apiKeys.get(id), inserted);
        assert.deepEqual(await store.apiKeys.secrets(id), [
          { hash, keyId: id, displayPrefix: 'pc_test_ab12', createdAt: clock.now(), expiresAt: null },
        ]);
        assert.equal(await store.configVersion(), v0 + 1, 'key and secret are one change');
        assert.equal(await store.apiKeys.get(uid('absent')), undefined);
      });

      it('insert for an unknown client throws NotFoundError and leaves no orphan', async () => {
        const client = uid('nobody');
        const id = uid('orphan');
        const hash = uid('hash');
        const v0 = await store.configVersion();
        await assert.rejects(store.apiKeys.insert(newApiKey(id, client), secret(hash)), (error: unknown) => {
          assert.ok(error instanceof NotFoundError);
          assert.equal(error.resource, 'client');
          assert.equal(error.id, client);
          return true;
        });
        assert.equal(await store.apiKeys.get(id), undefined);
        assert.equal(await store.apiKeys.findByHash(hash), undefined);
        assert.deepEqual(await store.apiKeys.secrets(id), []);
        assert.equal(await store.configVersion(), v0);
      });

      it('insert of an existing id or secret hash throws ConflictError and keeps nothing new', async () => {
        const client = await newClient();
        const [id, hash] = [uid('kdup'), uid('hash')];
        await store.apiKeys.insert(newApiKey(id, client, { name: 'original' }), secret(hash));
        const v0 = await store.configVersion();
        await assert.rejects(
          store.apiKeys.insert(newApiKey(id, client, { name: 'second' }), secret(uid('hash'))),
          (error: unknown) =>
            error instanceof ConflictError && error.resource === 'api key' && error.id === id,
        );
        assert.equal((await store.apiKeys.get(id))?.name, 'original');
        const other = uid('kdup-hash');
        await assert.rejects(store.apiKeys.insert(newApiKey(other, client), secret(hash)), ConflictError);
        assert.equal(await store.apiKeys.get(other), undefined, 'the key row is not kept without its secret');
        assert.equal((await store.apiKeys.findByHash(hash))?.key.id, id);
        // Same inside write(), where the caller may catch the error and commit the rest.
        await store.write(async (repos) => {
          await assert.rejects(repos.apiKeys.insert(newApiKey(other, client), secret(hash)), ConflictError);
        });
        assert.equal(await store.apiKeys.get(other), undefined);
        assert.equal(await store.configVersion(), v0);
      });

      it('list filters by client and orders by id byte-wise', async () => {
        const [a, b] = [await newClient(), await newClient()];
        const base = uid('klist');
        const ids = [`${base}b`, `${base}-b`, `${base}_b`, `${base}0`];
        for (const id of ids) await store.apiKeys.insert(newApiKey(id, a), secret(uid('hash')));
        await store.apiKeys.insert(newApiKey(`${base}x`, b), secret(uid('hash')));
        assert.deepEqual(
          (await store.apiKeys.list({ clientId: a })).map((k) => k.id),
          [...ids].sort(),
        );
        const all = (await store.apiKeys.list()).map((k) => k.id);
        assert.deepEqual(all, [...all].sort());
        assert.ok(all.includes(`${base}x`));
        assert.deepEqual(await store.apiKeys.list({ clientId: uid('nobody') }), []);
      });

      it('update changes only the given fields and bumps the version', async () => {
        const client = await newClient();
        const id = uid('kupdate');
        const created = await store.apiKeys.insert(newApiKey(id, client), secret(uid('hash')));
        clock.advance(1000);
        const v0 = await store.configVersion();
        const updated = await store.apiKeys.update(id, {
          name: 'renamed',
          scopes: ['a:b'],
          expiresAt: clock.now() + 5000,
          ipAllow: ['192.0.2.1/32'],
          bindingMode: 'single',
          maxIps: 1,
          policy: 'strict',
        });
        assert.deepEqual(updated, {
          ...created,
          name: 'renamed',
          scopes: ['a:b'],
          expiresAt: clock.now() + 5000,
          ipAllow: ['192.0.2.1/32'],
          bindingMode: 'single',
          maxIps: 1,
          policy: 'strict',
          updatedAt: clock.now(),
        });
        assert.equal(await store.configVersion(), v0 + 1);
        const revoked = await store.apiKeys.update(id, {
          status: 'revoked',
          revokedReason: 'leaked',
          revokedAt: clock.now(),
          expiresAt: null,
          maxIps: null,
          policy: null,
        });
        assert.equal(revoked.status, 'revoked');
        assert.equal(revoked.revokedReason, 'leaked');
        assert.equal(revoked.revokedAt, clock.now());
        assert.equal(revoked.expiresAt, null);
        assert.equal(revoked.maxIps, null);
        assert.equal(revoked.policy, null);
        assert.equal(revoked.budgetVersion, 0, 'budget untouched');
        assert.deepEqual(await store.apiKeys.get(id), revoked);
        assert.equal(await store.configVersion(), v0 + 2);
        await assert.rejects(store.apiKeys.update(uid('kmissing'), { name: 'x' }), (error: unknown) => {
          assert.ok(error instanceof NotFoundError);
          assert.equal(error.resource, 'api key');
          return true;
        });
        assert.equal(await store.configVersion(), v0 + 2);
      });

      it('setting usesBudget (even to the same value) bumps budgetVersion and resets usesConsumed', async () => {
        const client = await newClient();
        const id = uid('kbudget');
        await store.apiKeys.insert(newApiKey(id, client, { usesBudget: 100 }), secret(uid('hash')));
        await store.apiKeys.recordUsage([
          { keyId: id, lastUsedAt: clock.now(), usesConsumed: { budgetVersion: 0, value: 40 } },
        ]);
        assert.equal((await store.apiKeys.get(id))?.usesConsumed, 40);

        const v0 = await store.configVersion();
        const same = await store.apiKeys.update(id, { usesBudget: 100 });
        assert.deepEqual([same.usesBudget, same.budgetVersion, same.usesConsumed], [100, 1, 0]);
        assert.equal(await store.configVersion(), v0 + 1);

        const renamed = await store.apiKeys.update(id, { name: 'no budget change' });
        assert.deepEqual([renamed.budgetVersion, renamed.usesConsumed], [1, 0]);

        await store.apiKeys.recordUsage([
          { keyId: id, lastUsedAt: clock.now(), usesConsumed: { budgetVersion: 1, value: 7 } },
        ]);
        const unlimited = await store.apiKeys.update(id, { usesBudget: null });
        assert.deepEqual(
          [unlimited.usesBudget, unlimited.budgetVersion, unlimited.usesConsumed],
          [null, 2, 0],
        );
        const raised = await store.apiKeys.update(id, { usesBudget: 5000 });
        assert.deepEqual([raised.usesBudget, raised.budgetVersion, raised.usesConsumed], [5000, 3, 0]);
        assert.deepEqual(await store.apiKeys.get(id), raised);
      });

      it('rotate adds a secret and retires the current ones at retireAt, never later', async () => {
        const client = await newClient();
        const id = uid('krotate');
        const neighbour = uid('kneighbour');
        const [h1, h2, h3, hn] = [uid('h1'), uid('h2'), uid('h3'), uid('hn')];
        await store.apiKeys.insert(newApiKey(id, client), secret(h1, 'p1'));
        await store.apiKeys.insert(newApiKey(neighbour, client), secret(hn));
        const t1 = clock.now();

        clock.advance(1000);
        const t2 = clock.now();
        const v0 = await store.configVersion();
        const retire1 = t2 + 3_600_000;
        const second = await store.apiKeys.rotate(id, secret(h2, 'p2'), retire1);
        assert.deepEqual(second, {
          hash: h2,
          keyId: id,
          displayPrefix: 'p2',
          createdAt: t2,
          expiresAt: null,
        });
        assert.equal(await store.configVersion(), v0 + 1);
        assert.deepEqual(await store.apiKeys.secrets(id), [
          { hash: h1, keyId: id, displayPrefix: 'p1', createdAt: t1, expiresAt: retire1 },
          second,
        ]);

        // A later retirement does not extend h1's earlier end; h2 (current) gets it.
        clock.advance(1000);
        const t3 = clock.now();
        const retire2 = t3 + 7_200_000;
        await store.apiKeys.rotate(id, secret(h3, 'p3'), retire2);
        assert.deepEqual(
          (await store.apiKeys.secrets(id)).map((s) => [s.hash, s.expiresAt]),
          [
            [h1, retire1],
            [h2, retire2],
            [h3, null],
          ],
        );
        // An immediate retirement (earlier than every end) cuts them all short.
        await store.apiKeys.rotate(id, secret(uid('h4')), t3);
        assert.deepEqual(
          (await store.apiKeys.secrets(id)).slice(0, 3).map((s) => s.expiresAt),
          [t3, t3, t3],
        );
        assert.equal((await store.apiKeys.secrets(neighbour))[0]?.expiresAt, null, 'other keys untouched');
        assert.equal(await store.configVersion(), v0 + 3);
      });

      it('rotate of an unknown key or to an existing hash fails without any change', async () => {
        const client = await newClient();
        const id = uid('krotfail');
        const hash = uid('hash');
        await store.apiKeys.insert(newApiKey(id, client), secret(hash));
        const v0 = await store.configVersion();
        const missing = uid('kmissing');
        await assert.rejects(
          store.apiKeys.rotate(missing, secret(uid('hash')), clock.now()),
          (error: unknown) => {
            assert.ok(error instanceof NotFoundError);
            assert.equal(error.resource, 'api key');
            assert.equal(error.id, missing);
            return true;
          },
        );
        await assert.rejects(store.apiKeys.rotate(id, secret(hash), clock.now()), ConflictError);
        assert.deepEqual(
          (await store.apiKeys.secrets(id)).map((s) => [s.hash, s.expiresAt]),
          [[hash, null]],
          'nothing retired',
        );
        assert.equal(await store.configVersion(), v0);
      });

      it('findByHash returns the key and the secret the hash belongs to', async () => {
        const client = await newClient();
        const id = uid('kfind');
        const [h1, h2] = [uid('hash'), uid('hash')];
        const created = await store.apiKeys.insert(
          newApiKey(id, client, { scopes: ['x'] }),
          secret(h1, 'old'),
        );
        clock.advance(10);
        const rotated = await store.apiKeys.rotate(id, secret(h2, 'new'), clock.now() + 1000);
        const key = await store.apiKeys.get(id);
        assert.deepEqual(await store.apiKeys.findByHash(h2), { key, secret: rotated });
        assert.deepEqual(await store.apiKeys.findByHash(h1), {
          key,
          secret: {
            hash: h1,
            keyId: id,
            displayPrefix: 'old',
            createdAt: created.createdAt,
            expiresAt: clock.now() + 1000,
          },
        });
        assert.equal(await store.apiKeys.findByHash(uid('unknown')), undefined);
        await store.apiKeys.update(id, { scopes: ['y', 'z'] });
        assert.deepEqual((await store.apiKeys.findByHash(h1))?.key.scopes, ['y', 'z']);
      });

      it('recordUsage is bookkeeping: no version bump, no updatedAt, lastUsedAt only moves forward', async () => {
        const client = await newClient();
        const [a, b] = [uid('kusage'), uid('kusage')];
        const createdA = await store.apiKeys.insert(newApiKey(a, client), secret(uid('hash')));
        await store.apiKeys.insert(newApiKey(b, client), secret(uid('hash')));
        const v0 = await store.configVersion();
        const t = clock.now() + 5000;
        await store.apiKeys.recordUsage([
          { keyId: a, lastUsedAt: t },
          { keyId: b, lastUsedAt: t - 100, usesConsumed: { budgetVersion: 0, value: 3 } },
          { keyId: uid('kgone'), lastUsedAt: t },
          { keyId: a, lastUsedAt: t - 1000 },
        ]);
        await store.apiKeys.recordUsage([]);
        const keyA = await store.apiKeys.get(a);
        assert.deepEqual(keyA, { ...createdA, lastUsedAt: t });
        assert.equal((await store.apiKeys.get(b))?.lastUsedAt, t - 100);
        assert.equal((await store.apiKeys.get(b))?.usesConsumed, 3);
        await store.apiKeys.recordUsage([{ keyId: a, lastUsedAt: t - 1 }]);
        assert.equal((await store.apiKeys.get(a))?.lastUsedAt, t, 'an older flush does not move it back');
        await store.apiKeys.recordUsage([{ keyId: a, lastUsedAt: t + 1 }]);
        assert.equal((await store.apiKeys.get(a))?.lastUsedAt, t + 1);
        assert.equal(await store.configVersion(), v0);
      });

      it('recordUsage ignores consumption counted against a previous budget version', async () => {
        const client = await newClient();
        const id = uid('kstale');
        await store.apiKeys.insert(newApiKey(id, client, { usesBudget: 10 }), secret(uid('hash')));
        await store.apiKeys.recordUsage([
          { keyId: id, lastUsedAt: clock.now(), usesConsumed: { budgetVersion: 0, value: 9 } },
        ]);
        await store.apiKeys.update(id, { usesBudget: 10 });
        const v0 = await store.configVersion();
        await store.apiKeys.recordUsage([
          { keyId: id, lastUsedAt: clock.now() + 1, usesConsumed: { budgetVersion: 0, value: 10 } },
        ]);
        const afterStale = await store.apiKeys.get(id);
        assert.equal(afterStale?.usesConsumed, 0, 'stale flush did not overwrite the reset');
        assert.equal(afterStale?.lastUsedAt, clock.now() + 1, 'last use is still recorded');
        await store.apiKeys.recordUsage([
          { keyId: id, lastUsedAt: clock.now() + 2, usesConsumed: { budgetVersion: 1, value: 2 } },
        ]);
        assert.equal((await store.apiKeys.get(id))?.usesConsumed, 2);
        assert.equal(await store.configVersion(), v0);
      });

      it('recordUsage inside write() rolls back with the rest', async () => {
        const client = await newClient();
        const id = uid('kusagetx');
        await store.apiKeys.insert(newApiKey(id, client), secret(uid('hash')));
        await assert.rejects(
          store.write(async (repos) => {
            await repos.apiKeys.recordUsage([{ keyId: id, lastUsedAt: clock.now() + 1 }]);
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal((await store.apiKeys.get(id))?.lastUsedAt, null);
      });

      it('secretsFor gives the secrets of many keys at once, each as secrets() does', async () => {
        const client = await newClient();
        const [one, two] = [uid('ksecrets'), uid('ksecrets')];
        await store.apiKeys.insert(newApiKey(one, client), secret(uid('hash')));
        // Two secrets of one creation time: the hash orders them, byte-wise ("-z" before "a").
        await store.apiKeys.insert(newApiKey(two, client), secret(`${two}a`));
        await store.apiKeys.rotate(two, secret(`${two}-z`, 'pc_live_rot'), clock.now() + 1000);
        clock.advance(5);
        await store.apiKeys.rotate(two, secret(`${two}0`, 'pc_live_rot2'), clock.now() + 1000);
        const unknown = uid('knone');
        const found = await store.apiKeys.secretsFor([two, unknown, one, two]);
        assert.deepEqual([...found.keys()].sort(), [one, two, unknown].sort());
        assert.deepEqual(found.get(one), await store.apiKeys.secrets(one));
        assert.deepEqual(found.get(two), await store.apiKeys.secrets(two));
        assert.deepEqual(
          found.get(two)?.map((s) => s.hash),
          [`${two}-z`, `${two}a`, `${two}0`],
        );
        assert.deepEqual(found.get(unknown), []);
        assert.deepEqual(await store.apiKeys.secretsFor([]), new Map());
        // More ids than one statement takes, the known ones in different chunks.
        const filler = (n: number, tag: string) =>
          Array.from({ length: n }, (_, i) => `${unknown}-${tag}${i}`);
        const many = [...filler(1500, 'a'), one, ...filler(700, 'b'), two];
        const chunked = await store.apiKeys.secretsFor(many);
        assert.equal(chunked.size, many.length);
        assert.deepEqual(chunked.get(one), found.get(one));
        assert.deepEqual(chunked.get(two), found.get(two));
        assert.equal([...chunked.values()].flat().length, 4);
      });

      describe('key pages', () => {
        type KeyFilter = Omit<Parameters<Store['apiKeys']['page']>[0], 'after' | 'limit'>;
        let stem: string;
        let mine: string;
        let theirs: string;
        let t0: number;
        let policy: string;
        const ours = (ids: readonly string[]) => ids.filter((id) => id.startsWith(stem));
        /** The keys `list()` gives, filtered as the admin API did in memory, in page order. */
        async function listed(filter: KeyFilter): Promise<string[]> {
          const all = await store.apiKeys.list(
            filter.clientId !== undefined ? { clientId: filter.clientId } : {},
          );
          return all
            .filter(
              (k) =>
                (filter.status === undefined || k.status === filter.status) &&
                (filter.environment === undefined || k.environment === filter.environment) &&
                (filter.policy === undefined || k.policy === filter.policy),
            )
            .sort(byCreation)
            .map((k) => k.id);
        }

        before(async () => {
          stem = uid('kpage');
          mine = await newClient();
          theirs = await newClient();
          t0 = clock.now();
          // Three keys of one millisecond: only the id orders them, byte-wise ("-" < "B" < "a";
          // a locale collation would put "a" before "B" and ignore "-").
          await store.apiKeys.insert(newApiKey(`${stem}a`, mine), secret(uid('hash')));
          await store.apiKeys.insert(
            newApiKey(`${stem}B`, mine, { environment: 'test' }),
            secret(uid('hash')),
          );
          await store.apiKeys.insert(newApiKey(`${stem}-z`, theirs), secret(uid('hash')));
          clock.advance(1);
          // Later, with smaller ids: creation time orders before id.
          await store.apiKeys.insert(newApiKey(`${stem}-a`, mine), secret(uid('hash')));
          await store.apiKeys.insert(
            newApiKey(`${stem}0`, theirs, { environment: 'test' }),
            secret(uid('hash')),
          );
          for (const id of [`${stem}a`, `${stem}0`])
            await store.apiKeys.update(id, {
              status: 'revoked',
              revokedReason: 'pages',
              revokedAt: clock.now(),
            });
          policy = uid('kpage-policy');
          for (const id of [`${stem}-z`, `${stem}a`]) await store.apiKeys.update(id, { policy });
        });

        it('indexes in the byte-wise order of the pages serve them (migration 0011)', async () => {
          const all = await indexDef('api_keys_page_idx');
          assert.match(all, /created_at.*\bid\b/s);
          assert.doesNotMatch(all, /client_id/);
          const byClient = await indexDef('api_keys_client_page_idx');
          assert.match(byClient, /client_id.*created_at.*\bid\b/s);
          if (store.dialect === 'postgres')
            for (const def of [all, byClient]) assert.equal(def.match(/COLLATE "C"/g)?.length, 1, def);
        });

        it('follow creation time, then id byte-wise, whatever list() orders by', async () => {
          const page = await store.apiKeys.page({ limit: 10_000 });
          const all = [...(await store.apiKeys.list())].sort(byCreation);
          assert.deepEqual(page, all);
          assert.deepEqual(ours(page.map((k) => k.id)), [
            `${stem}-z`,
            `${stem}B`,
            `${stem}a`,
            `${stem}-a`,
            `${stem}0`,
          ]);
        });

        it('walk every page size with each filter to exactly the filtered list', async () => {
          const cases: Array<[KeyFilter, string[]]> = [
            [{}, [`${stem}-z`, `${stem}B`, `${stem}a`, `${stem}-a`, `${stem}0`]],
            [{ clientId: mine }, [`${stem}B`, `${stem}a`, `${stem}-a`]],
            [{ clientId: theirs }, [`${stem}-z`, `${stem}0`]],
            [{ status: 'revoked' }, [`${stem}a`, `${stem}0`]],
            [{ status: 'active' }, [`${stem}-z`, `${stem}B`, `${stem}-a`]],
            [{ environment: 'test' }, [`${stem}B`, `${stem}0`]],
            [{ clientId: mine, status: 'active', environment: 'live' }, [`${stem}-a`]],
            [{ clientId: theirs, status: 'revoked', environment: 'live' }, []],
            [{ policy }, [`${stem}-z`, `${stem}a`]],
            [{ clientId: mine, policy }, [`${stem}a`]],
            [{ policy: uid('no-such-policy') }, []],
          ];
          for (const [filter, expected] of cases) {
            const all = await listed(filter);
            assert.deepEqual(ours(all), expected, JSON.stringify(filter));
            for (const limit of [1, 2, 3, 5]) {
              const { ids, pages } = await walkPages(limit, (o) => store.apiKeys.page({ ...filter, ...o }));
              assert.deepEqual(ids, all, `${JSON.stringify(filter)}, pages of ${limit}`);
              assert.equal(
                pages,
                Math.floor(all.length / limit) + 1,
                `${JSON.stringify(filter)}, pages of ${limit}`,
              );
            }
          }
        });

        it('start strictly after a position, a key or not', async () => {
          const page = (after: CreationPosition) => store.apiKeys.page({ clientId: mine, after, limit: 10 });
          const ids = async (after: CreationPosition) => (await page(after)).map((k) => k.id);
          assert.deepEqual(await ids({ createdAt: t0, id: `${stem}B` }), [`${stem}a`, `${stem}-a`]);
          // "A" sorts between "-z" and "B": no key there, the page starts at the next one.
          assert.deepEqual(await ids({ createdAt: t0, id: `${stem}A` }), [
            `${stem}B`,
            `${stem}a`,
            `${stem}-a`,
          ]);
          assert.deepEqual(await ids({ createdAt: t0, id: `${stem}a` }), [`${stem}-a`]);
          assert.deepEqual(await ids({ createdAt: t0 + 1, id: '' }), [`${stem}-a`]);
          assert.deepEqual(await ids({ createdAt: t0 - 1, id: '~' }), [`${stem}B`, `${stem}a`, `${stem}-a`]);
        });

        it('answer empty pages', async () => {
          assert.deepEqual(await store.apiKeys.page({ clientId: uid('nobody'), limit: 10 }), []);
          const last = (await store.apiKeys.page({ limit: 10_000 })).at(-1) as CreationPosition;
          assert.deepEqual(await store.apiKeys.page({ after: last, limit: 10 }), []);
          assert.deepEqual(
            await store.apiKeys.page({ after: { createdAt: Number.MAX_SAFE_INTEGER, id: '' }, limit: 10 }),
            [],
          );
          assert.deepEqual(
            await store.apiKeys.page({ clientId: theirs, status: 'revoked', environment: 'live', limit: 10 }),
            [],
          );
        });

        it('refuse a limit outside 1 to 10000', async () => {
          for (const limit of BAD_LIMITS)
            await assert.rejects(store.apiKeys.page({ limit }), {
              name: 'RangeError',
              message: `options.limit must be an integer from 1 to 10000 (got ${limit})`,
            });
          assert.equal((await store.apiKeys.page({ limit: 1 })).length, 1);
        });
      });
    });

    describe('grants', () => {
      it('pages grants by client then route, byte-wise, with each filter, to exactly the list', async () => {
        const base = uid('gpage');
        const clients = [`${base}a0`, `${base}a.`, `${base}a-`];
        const routes = [`${base}r-b`, `${base}r0`, `${base}rA`];
        for (const id of clients) {
          await store.clients.insert({ id, name: id, metadata: {} });
          for (const routeId of routes)
            await store.grants.upsert({ clientId: id, routeId, methods: ['GET'] });
        }
        const ours = (grants: readonly GrantRecord[]) =>
          grants.filter((g) => clients.includes(g.clientId)).map((g) => `${g.clientId} ${g.routeId}`);
        const filters: Array<{ clientId?: string; routeId?: string }> = [
          {},
          { clientId: `${base}a.` },
          { routeId: `${base}r0` },
          { clientId: `${base}a-`, routeId: `${base}rA` },
          { clientId: uid('nobody') },
        ];
        for (const filter of filters) {
          const all = ours(await store.grants.list(filter));
          for (const limit of [1, 2, 4]) {
            const walked: GrantRecord[] = [];
            let after: GrantPosition | undefined;
            for (;;) {
              const rows = await store.grants.page({ ...filter, ...(after ? { after } : {}), limit });
              assert.ok(rows.length <= limit);
              walked.push(...rows);
              const last = rows.at(-1);
              if (rows.length < limit || !last) break;
              after = { clientId: last.clientId, routeId: last.routeId };
            }
            assert.deepEqual(ours(walked), all, `${JSON.stringify(filter)}, pages of ${limit}`);
          }
        }
        assert.deepEqual(ours(await store.grants.list({ clientId: `${base}a-` })), [
          `${base}a- ${base}r-b`,
          `${base}a- ${base}r0`,
          `${base}a- ${base}rA`,
        ]);
        // Strictly after a position that is no grant: the next one.
        const next = await store.grants.page({
          after: { clientId: `${base}a-`, routeId: `${base}r1` },
          limit: 2,
        });
        assert.deepEqual(ours(next), [`${base}a- ${base}rA`, `${base}a. ${base}r-b`]);
        for (const limit of BAD_LIMITS) await assert.rejects(store.grants.page({ limit }), RangeError);
      });

      it('upsert creates, then replaces the methods keeping createdAt; each bumps', async () => {
        const client = await newClient();
        const route = uid('route');
        const v0 = await store.configVersion();
        const created = await store.grants.upsert({
          clientId: client,
          routeId: route,
          methods: ['GET', 'POST'],
        });
        assert.deepEqual(created, {
          clientId: client,
          routeId: route,
          methods: ['GET', 'POST'],
          createdAt: clock.now(),
        });
        assert.equal(await store.configVersion(), v0 + 1);
        clock.advance(1000);
        const replaced = await store.grants.upsert({ clientId: client, routeId: route, methods: ['*'] });
        assert.deepEqual(replaced, { ...created, methods: ['*'] });
        assert.deepEqual(await store.grants.list({ clientId: client }), [replaced]);
        assert.equal(await store.configVersion(), v0 + 2);
      });

      it('upsert for an unknown client throws NotFoundError; an absent route is fine', async () => {
        const client = uid('nobody');
        const v0 = await store.configVersion();
        await assert.rejects(
          store.grants.upsert({ clientId: client, routeId: uid('route'), methods: ['GET'] }),
          (error: unknown) =>
            error instanceof NotFoundError && error.resource === 'client' && error.id === client,
        );
        assert.deepEqual(await store.grants.list({ clientId: client }), []);
        assert.equal(await store.configVersion(), v0);
        const known = await newClient();
        const route = uid('no-such-route');
        await store.grants.upsert({ clientId: known, routeId: route, methods: ['GET'] });
        assert.equal((await store.grants.list({ routeId: route })).length, 1);
      });

      it('list filters by client, route or both, ordered by (client, route) byte-wise', async () => {
        const base = uid('gl');
        const clients = [`${base}b`, `${base}-b`, `${base}_b`];
        for (const id of clients) await store.clients.insert({ id, name: id, metadata: {} });
        const routes = [`${base}r`, `${base}-r`, `${base}.r`];
        for (const clientId of clients)
          for (const routeId of routes) await store.grants.upsert({ clientId, routeId, methods: ['GET'] });
        const pairs = (list: { clientId: string; routeId: string }[]) =>
          list.map((g) => `${g.clientId} ${g.routeId}`);
        const expected = [...clients].sort().flatMap((c) => [...routes].sort().map((r) => `${c} ${r}`));
        const all = pairs(await store.grants.list());
        assert.deepEqual(
          all.filter((p) => p.startsWith(base)),
          expected,
        );
        const first = clients[0] as string;
        const route = routes[0] as string;
        assert.deepEqual(
          pairs(await store.grants.list({ clientId: first })),
          [...routes].sort().map((r) => `${first} ${r}`),
        );
        assert.deepEqual(
          pairs(await store.grants.list({ routeId: route })),
          [...clients].sort().map((c) => `${c} ${route}`),
        );
        assert.deepEqual(pairs(await store.grants.list({ clientId: first, routeId: route })), [
          `${first} ${route}`,
        ]);
      });

      it('remove returns true once (bumping), then false (not bumping)', async () => {
        const client = await newClient();
        const route = uid('route');
        await store.grants.upsert({ clientId: client, routeId: route, methods: ['GET'] });
        const v0 = await store.configVersion();
        assert.equal(await store.grants.remove(client, route), true);
        assert.deepEqual(await store.grants.list({ clientId: client }), []);
        assert.equal(await store.configVersion(), v0 + 1);
        assert.equal(await store.grants.remove(client, route), false);
        assert.equal(await store.configVersion(), v0 + 1);
      });
    });

    describe('hmac secrets', () => {
      it('add retires the current secrets of that client only, never extending an earlier end', async () => {
        const [client, neighbour] = [await newClient(), await newClient()];
        const [s1, s2, s3, sn] = [uid('s1'), uid('s2'), uid('s3'), uid('sn')];
        const v0 = await store.configVersion();
        const first = await store.hmacSecrets.add({ id: s1, clientId: client, ciphertext: 'iv|tag|one' }, 0);
        assert.deepEqual(first, {
          id: s1,
          clientId: client,
          ciphertext: 'iv|tag|one',
          createdAt: clock.now(),
          expiresAt: null,
        });
        await store.hmacSecrets.add({ id: sn, clientId: neighbour, ciphertext: 'n' }, 0);
        clock.advance(1000);
        const retire1 = clock.now() + 60_000;
        await store.hmacSecrets.add({ id: s2, clientId: client, ciphertext: 'two' }, retire1);
        clock.advance(1000);
        const retire2 = clock.now() + 120_000;
        await store.hmacSecrets.add({ id: s3, clientId: client, ciphertext: 'three' }, retire2);
        assert.deepEqual(
          (await store.hmacSecrets.list({ clientId: client })).map((s) => [s.id, s.expiresAt]),
          [
            [s1, retire1],
            [s2, retire2],
            [s3, null],
          ],
        );
        assert.equal((await store.hmacSecrets.list({ clientId: neighbour }))[0]?.expiresAt, null);
        assert.equal(await store.configVersion(), v0 + 4);
      });

      it('lists by created_at then id', async () => {
        const client = await newClient();
        const base = uid('sorder');
        clock.advance(1000);
        for (const id of [`${base}b`, `${base}-b`, `${base}_b`])
          await store.hmacSecrets.add({ id, clientId: client, ciphertext: 'x' }, clock.now());
        clock.advance(1000);
        await store.hmacSecrets.add({ id: `${base}0`, clientId: client, ciphertext: 'x' }, clock.now());
        assert.deepEqual(
          (await store.hmacSecrets.list({ clientId: client })).map((s) => s.id),
          [...[`${base}b`, `${base}-b`, `${base}_b`].sort(), `${base}0`],
        );
        const all = await store.hmacSecrets.list();
        const keys = all.map((s) => [s.createdAt, s.id] as const);
        assert.deepEqual(
          keys,
          [...keys].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0)),
        );
      });

      it('add for an unknown client or an existing id fails without any change', async () => {
        const client = await newClient();
        const id = uid('sdup');
        await store.hmacSecrets.add({ id, clientId: client, ciphertext: 'original' }, 0);
        const v0 = await store.configVersion();
        const nobody = uid('nobody');
        await assert.rejects(
          store.hmacSecrets.add({ id: uid('s'), clientId: nobody, ciphertext: 'x' }, 0),
          (error: unknown) =>
            error instanceof NotFoundError && error.resource === 'client' && error.id === nobody,
        );
        await assert.rejects(
          store.hmacSecrets.add({ id, clientId: client, ciphertext: 'second' }, 0),
          (error: unknown) =>
            error instanceof ConflictError && error.resource === 'hmac secret' && error.id === id,
        );
        assert.deepEqual(
          (await store.hmacSecrets.list({ clientId: client })).map((s) => [s.ciphertext, s.expiresAt]),
          [['original', null]],
        );
        assert.equal(await store.configVersion(), v0);
      });

      it('remove returns true once, then false', async () => {
        const client = await newClient();
        const id = uid('srm');
        await store.hmacSecrets.add({ id, clientId: client, ciphertext: 'x' }, 0);
        const v0 = await store.configVersion();
        assert.equal(await store.hmacSecrets.remove(id), true);
        assert.equal(await store.hmacSecrets.remove(id), false);
        assert.deepEqual(await store.hmacSecrets.list({ clientId: client }), []);
        assert.equal(await store.configVersion(), v0 + 1);
      });
    });

    describe('jwt providers', () => {
      const spec = (issuer: string): Record<string, unknown> => ({
        issuer,
        audience: ['api', 'ünï'],
        jwks_url: 'https://idp.example.com/.well-known/jwks.json',
        algorithms: ['RS256'],
        clock_skew_s: 30,
        nested: { secret_encrypted: 'iv|tag|data', flags: [true, false, null] },
      });

      it('insert, get, replace (keeping createdAt) and remove, each bumping once', async () => {
        const id = uid('jwt');
        const v0 = await store.configVersion();
        const created = await store.jwtProviders.insert(id, spec('https://a'));
        assert.deepEqual(created, {
          id,
          spec: spec('https://a'),
          createdAt: clock.now(),
          updatedAt: clock.now(),
        });
        assert.deepEqual(await store.jwtProviders.get(id), created);
        clock.advance(1000);
        const replaced = await store.jwtProviders.replace(id, { issuer: 'https://b' });
        assert.deepEqual(replaced, {
          id,
          spec: { issuer: 'https://b' },
          createdAt: created.createdAt,
          updatedAt: clock.now(),
        });
        assert.deepEqual(await store.jwtProviders.get(id), replaced);
        assert.equal(await store.jwtProviders.remove(id), true);
        assert.equal(await store.jwtProviders.get(id), undefined);
        assert.equal(await store.jwtProviders.remove(id), false);
        assert.equal(await store.configVersion(), v0 + 3);
      });

      it('conflicts on an existing id, NotFoundError on replacing a missing one, no bump', async () => {
        const id = uid('jwtdup');
        await store.jwtProviders.insert(id, spec('https://original'));
        const v0 = await store.configVersion();
        await assert.rejects(
          store.jwtProviders.insert(id, spec('https://second')),
          (error: unknown) =>
            error instanceof ConflictError && error.resource === 'jwt provider' && error.id === id,
        );
        const missing = uid('jwtmissing');
        await assert.rejects(
          store.jwtProviders.replace(missing, spec('https://x')),
          (error: unknown) =>
            error instanceof NotFoundError && error.resource === 'jwt provider' && error.id === missing,
        );
        assert.equal(await store.jwtProviders.get(missing), undefined);
        assert.deepEqual((await store.jwtProviders.get(id))?.spec, spec('https://original'));
        assert.equal(await store.configVersion(), v0);
      });

      it('lists ordered by id, byte-wise', async () => {
        const base = uid('jorder');
        const ids = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`];
        for (const id of ids) await store.jwtProviders.insert(id, spec(id));
        const listed = (await store.jwtProviders.list()).map((p) => p.id);
        assert.deepEqual(listed, [...listed].sort());
        assert.deepEqual(
          listed.filter((id) => ids.includes(id)),
          [...ids].sort(),
        );
      });
    });

    describe('policies', () => {
      it('insert, get, replace (keeping createdAt) and remove, each bumping once', async () => {
        const id = uid('pol');
        const v0 = await store.configVersion();
        const created = await store.policies.insert(policy(id));
        assert.deepEqual(created, { id, spec: policy(id), createdAt: clock.now(), updatedAt: clock.now() });
        assert.deepEqual(await store.policies.get(id), created);
        assert.deepEqual(
          Object.keys(created.spec),
          Object.keys(policy(id)),
          'field order survives the JSON column (exports read like the docs)',
        );
        clock.advance(1000);
        const next: PolicySpec = {
          id,
          algorithm: 'token_bucket',
          rate: '100/s',
          burst: 200,
          key_by: ['key'],
          on_store_failure: 'closed',
          shadow: true,
          refund_on_5xx: false,
        };
        const replaced = await store.policies.replace(next);
        assert.deepEqual(replaced, { id, spec: next, createdAt: created.createdAt, updatedAt: clock.now() });
        assert.deepEqual(await store.policies.get(id), replaced);
        assert.equal(await store.policies.remove(id), true);
        assert.equal(await store.policies.get(id), undefined);
        assert.equal(await store.policies.remove(id), false);
        assert.equal(await store.configVersion(), v0 + 3);
      });

      it('conflicts on an existing id, NotFoundError on replacing a missing one, no bump', async () => {
        const id = uid('poldup');
        await store.policies.insert(policy(id));
        const v0 = await store.configVersion();
        await assert.rejects(
          store.policies.insert(policy(id, { limit: 1 })),
          (error: unknown) =>
            error instanceof ConflictError && error.resource === 'policy' && error.id === id,
        );
        const missing = uid('polmissing');
        await assert.rejects(
          store.policies.replace(policy(missing)),
          (error: unknown) =>
            error instanceof NotFoundError && error.resource === 'policy' && error.id === missing,
        );
        assert.equal(await store.policies.get(missing), undefined);
        assert.deepEqual((await store.policies.get(id))?.spec, policy(id));
        assert.equal(await store.configVersion(), v0);
      });

      it('lists ordered by id, byte-wise', async () => {
        const base = uid('porder');
        const ids = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`];
        for (const id of ids) await store.policies.insert(policy(id));
        const listed = (await store.policies.list()).map((p) => p.id);
        assert.deepEqual(listed, [...listed].sort());
        assert.deepEqual(
          listed.filter((id) => ids.includes(id)),
          [...ids].sort(),
        );
        assert.ok((await store.policies.list()).every((p) => p.id === p.spec.id));
      });

      it('is visible to another opener of the same database', { skip: notShared }, async () => {
        const id = uid('polshared');
        await store.policies.insert(policy(id));
        assert.deepEqual((await other.policies.get(id))?.spec, policy(id));
      });

      it('commits or rolls back together with routes in one write()', async () => {
        const [kept, gone, routeId] = [uid('polkeep'), uid('polgone'), uid('polroute')];
        await store.policies.insert(policy(kept));
        const v0 = await store.configVersion();
        const boom = new Error('boom');
        await assert.rejects(
          store.write(async (repos) => {
            await repos.policies.insert(policy(gone));
            await repos.policies.replace(policy(kept, { limit: 1 }));
            await repos.routes.insert(route(routeId));
            await assert.rejects(repos.policies.insert(policy(kept)), ConflictError);
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.equal(await store.policies.get(gone), undefined);
        assert.equal((await store.policies.get(kept))?.spec.limit, 1000);
        assert.equal(await store.routes.get(routeId), undefined);
        assert.equal(await store.configVersion(), v0);

        await store.write(async (repos) => {
          await repos.policies.remove(kept);
          await repos.policies.insert(policy(gone));
          await repos.routes.insert(route(routeId));
        });
        assert.equal(await store.policies.get(kept), undefined);
        assert.ok(await store.policies.get(gone));
        assert.ok(await store.routes.get(routeId));
        assert.equal(await store.configVersion(), v0 + 3);
      });
    });

    describe('service tokens', () => {
      const token = (id: string, hash: string) => ({
        id,
        name: `token ${id}`,
        role: 'viewer' as const,
        hash,
        displayPrefix: 'pcs_ab12',
        expiresAt: clock.now() + 86_400_000,
      });

      it('insert and findByHash, bumping once', async () => {
        const [id, hash] = [uid('tok'), uid('thash')];
        const v0 = await store.configVersion();
        const inserted = await store.serviceTokens.insert(token(id, hash));
        assert.deepEqual(inserted, {
          ...token(id, hash),
          createdAt: clock.now(),
          revokedAt: null,
          lastUsedAt: null,
        });
        assert.deepEqual(await store.serviceTokens.findByHash(hash), inserted);
        assert.equal(await store.serviceTokens.findByHash(uid('thash')), undefined);
        assert.equal(await store.configVersion(), v0 + 1);
      });

      it('insert of an existing id or hash throws ConflictError without any change', async () => {
        const [id, hash] = [uid('tokdup'), uid('thash')];
        await store.serviceTokens.insert({ ...token(id, hash), role: 'admin' });
        const v0 = await store.configVersion();
        await assert.rejects(
          store.serviceTokens.insert(token(id, uid('thash'))),
          (error: unknown) =>
            error instanceof ConflictError && error.resource === 'service token' && error.id === id,
        );
        const other = uid('tokdup');
        await assert.rejects(store.serviceTokens.insert(token(other, hash)), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.match(error.message, /hash/);
          return true;
        });
        assert.equal((await store.serviceTokens.findByHash(hash))?.role, 'admin');
        assert.ok(!(await store.serviceTokens.list()).some((t) => t.id === other));
        assert.equal(await store.configVersion(), v0);
      });

      it('revoke sets revokedAt once; false when absent or already revoked', async () => {
        const [id, hash] = [uid('tokrev'), uid('thash')];
        await store.serviceTokens.insert(token(id, hash));
        clock.advance(1000);
        const v0 = await store.configVersion();
        assert.equal(await store.serviceTokens.revoke(id), true);
        const revokedAt = clock.now();
        assert.equal((await store.serviceTokens.findByHash(hash))?.revokedAt, revokedAt);
        clock.advance(1000);
        assert.equal(await store.serviceTokens.revoke(id), false);
        assert.equal(
          (await store.serviceTokens.findByHash(hash))?.revokedAt,
          revokedAt,
          'first revocation kept',
        );
        assert.equal(await store.serviceTokens.revoke(uid('toknone')), false);
        assert.equal(await store.configVersion(), v0 + 1);
      });

      it('touch is bookkeeping: no bump, lastUsedAt only moves forward', async () => {
        const [id, hash] = [uid('toktouch'), uid('thash')];
        await store.serviceTokens.insert(token(id, hash));
        const v0 = await store.configVersion();
        const t = clock.now() + 500;
        await store.serviceTokens.touch(id, t);
        assert.equal((await store.serviceTokens.findByHash(hash))?.lastUsedAt, t);
        await store.serviceTokens.touch(id, t - 100);
        assert.equal((await store.serviceTokens.findByHash(hash))?.lastUsedAt, t);
        await store.serviceTokens.touch(uid('toknone'), t);
        assert.equal(await store.configVersion(), v0);
      });

      it('lists ordered by id, byte-wise', async () => {
        const base = uid('torder');
        const ids = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`];
        for (const id of ids) await store.serviceTokens.insert(token(id, uid('thash')));
        const listed = (await store.serviceTokens.list()).map((t) => t.id);
        assert.deepEqual(listed, [...listed].sort());
        assert.deepEqual(
          listed.filter((id) => ids.includes(id)),
          [...ids].sort(),
        );
      });
    });

    describe('admin users', () => {
      const user = (
        id: string,
        username: string,
        extra: { role?: 'admin' | 'viewer'; disabled?: boolean } = {},
      ) => ({
        id,
        username,
        passwordHash: `scrypt$32768$8$1$salt-${id}$hash-${id}`,
        role: extra.role ?? ('viewer' as const),
        ...(extra.disabled === undefined ? {} : { disabled: extra.disabled }),
      });

      it('insert stores the username lower-cased, finds it case-insensitively, and bumps once', async () => {
        const id = uid('usr');
        const name = `Mixed.Case-${id}`;
        const n0 = await store.adminUsers.count();
        const v0 = await store.configVersion();
        const inserted = await store.adminUsers.insert(user(id, name, { role: 'admin' }));
        assert.deepEqual(inserted, {
          id,
          username: name.toLowerCase(),
          passwordHash: user(id, name).passwordHash,
          role: 'admin',
          disabled: false,
          createdAt: clock.now(),
          updatedAt: clock.now(),
          passwordChangedAt: clock.now(),
        });
        assert.deepEqual(await store.adminUsers.get(id), inserted);
        assert.deepEqual(await store.adminUsers.getByUsername(name.toUpperCase()), inserted);
        if (shared)
          assert.deepEqual(await other.adminUsers.getByUsername(name), inserted, 'seen by another opener');
        assert.equal(await store.adminUsers.count(), n0 + 1);
        assert.equal(await store.configVersion(), v0 + 1);
      });

      it('absent users: get and getByUsername give undefined, update throws NotFoundError, remove false', async () => {
        const id = uid('usrnone');
        const v0 = await store.configVersion();
        assert.equal(await store.adminUsers.get(id), undefined);
        assert.equal(await store.adminUsers.getByUsername(id), undefined);
        await assert.rejects(
          store.adminUsers.update(id, { role: 'admin' }),
          (error: unknown) =>
            error instanceof NotFoundError && error.resource === 'admin user' && error.id === id,
        );
        await assert.rejects(store.adminUsers.update(id, {}), NotFoundError);
        assert.equal(await store.adminUsers.remove(id), false);
        assert.equal(await store.configVersion(), v0);
      });

      it('a duplicate username (in any case) or id throws ConflictError without any change', async () => {
        const [id, name] = [uid('usrdup'), uid('dupname')];
        await store.adminUsers.insert(user(id, name, { role: 'admin' }));
        const n0 = await store.adminUsers.count();
        const v0 = await store.configVersion();
        const again = uid('usrdup');
        await assert.rejects(store.adminUsers.insert(user(again, name.toUpperCase())), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.equal(error.resource, 'admin user');
          assert.equal(error.id, name);
          assert.match(error.message, /named/);
          return true;
        });
        await assert.rejects(
          store.adminUsers.insert(user(id, uid('othername'))),
          (error: unknown) => error instanceof ConflictError && error.id === id,
        );
        assert.equal(await store.adminUsers.get(again), undefined);
        assert.equal((await store.adminUsers.getByUsername(name))?.role, 'admin', 'the first one kept');
        assert.equal(await store.adminUsers.count(), n0);
        assert.equal(await store.configVersion(), v0);
      });

      it('update changes only the given fields; a new password hash moves passwordChangedAt', async () => {
        const id = uid('usrupd');
        const created = await store.adminUsers.insert(user(id, id));
        clock.advance(1000);
        const v0 = await store.configVersion();
        const disabled = await store.adminUsers.update(id, { disabled: true, role: 'admin' });
        assert.deepEqual(disabled, {
          ...created,
          role: 'admin',
          disabled: true,
          updatedAt: clock.now(),
        });
        clock.advance(1000);
        const rehashed = await store.adminUsers.update(id, { passwordHash: 'scrypt$new', disabled: false });
        assert.deepEqual(rehashed, {
          ...disabled,
          passwordHash: 'scrypt$new',
          disabled: false,
          updatedAt: clock.now(),
          passwordChangedAt: clock.now(),
        });
        assert.deepEqual(await store.adminUsers.get(id), rehashed);
        assert.equal(await store.configVersion(), v0 + 2);
        assert.deepEqual(await store.adminUsers.update(id, {}), rehashed, 'an empty patch changes nothing');
        assert.equal(await store.configVersion(), v0 + 2);
      });

      it('lists ordered by username, byte-wise', async () => {
        const base = uid('uorder');
        const names = [`${base}b`, `${base}-b`, `${base}.b`, `${base}_b`];
        for (const name of names) await store.adminUsers.insert(user(uid('usrord'), name));
        const listed = (await store.adminUsers.list()).map((u) => u.username);
        assert.deepEqual(listed, [...listed].sort());
        assert.deepEqual(
          listed.filter((name) => names.includes(name)),
          [...names].sort(),
        );
      });

      it('remove deletes the user and every session of theirs, bumping once', async () => {
        const [id, keep] = [uid('usrrm'), uid('usrkeep')];
        await store.adminUsers.insert(user(id, id));
        await store.adminUsers.insert(user(keep, keep));
        const [mine, theirs] = [uid('shash'), uid('shash')];
        const expiresAt = clock.now() + 3_600_000;
        await store.adminSessions.insert({
          id: uid('ses'),
          userId: id,
          tokenHash: mine,
          expiresAt,
          ip: '192.0.2.1',
          userAgent: null,
        });
        await store.adminSessions.insert({
          id: uid('ses'),
          userId: keep,
          tokenHash: theirs,
          expiresAt,
          ip: '192.0.2.1',
          userAgent: null,
        });
        const n0 = await store.adminUsers.count();
        const v0 = await store.configVersion();
        assert.equal(await store.adminUsers.remove(id), true);
        assert.equal(await store.adminUsers.remove(id), false);
        assert.equal(await store.adminUsers.get(id), undefined);
        assert.equal(await store.adminSessions.findByTokenHash(mine), undefined, 'cascaded');
        assert.ok(await store.adminSessions.findByTokenHash(theirs), 'other users keep theirs');
        assert.equal(await store.adminUsers.count(), n0 - 1);
        assert.equal(await store.configVersion(), v0 + 1);
      });
    });

    describe('admin sessions', () => {
      async function newUser(): Promise<string> {
        const id = uid('susr');
        await store.adminUsers.insert({ id, username: id, passwordHash: 'scrypt$x', role: 'viewer' });
        return id;
      }
      const session = (userId: string, extra: { expiresAt?: number; tokenHash?: string } = {}) => ({
        id: uid('ses'),
        userId,
        tokenHash: extra.tokenHash ?? uid('shash'),
        expiresAt: extra.expiresAt ?? clock.now() + 3_600_000,
        ip: '2001:db8::1',
        userAgent: 'Mozilla/5.0 (ünïcode)',
      });

      it('insert and findByTokenHash are bookkeeping: clock timestamps, no bump', async () => {
        const userId = await newUser();
        const s = session(userId);
        const v0 = await store.configVersion();
        const inserted = await store.adminSessions.insert(s);
        assert.deepEqual(inserted, { ...s, createdAt: clock.now(), lastSeenAt: clock.now() });
        assert.deepEqual(await store.adminSessions.findByTokenHash(s.tokenHash), inserted);
        if (shared) assert.deepEqual(await other.adminSessions.findByTokenHash(s.tokenHash), inserted);
        assert.equal(await store.adminSessions.findByTokenHash(uid('shash')), undefined);
        const anonymous = { ...session(userId), userAgent: null };
        assert.equal((await store.adminSessions.insert(anonymous)).userAgent, null);
        assert.equal(await store.configVersion(), v0);
      });

      it('insert for an absent user throws NotFoundError; a duplicate id or token hash ConflictError', async () => {
        const userId = await newUser();
        const absent = uid('susrnone');
        await assert.rejects(
          store.adminSessions.insert(session(absent)),
          (error: unknown) =>
            error instanceof NotFoundError && error.resource === 'admin user' && error.id === absent,
        );
        const first = session(userId);
        await store.adminSessions.insert(first);
        await assert.rejects(
          store.adminSessions.insert({ ...session(userId), id: first.id }),
          (error: unknown) => error instanceof ConflictError && error.id === first.id,
        );
        const sameHash = session(userId, { tokenHash: first.tokenHash });
        await assert.rejects(store.adminSessions.insert(sameHash), (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.match(error.message, /token hash/);
          return true;
        });
        assert.equal((await store.adminSessions.findByTokenHash(first.tokenHash))?.id, first.id);
      });

      it('findByTokenHash returns an expired session too (expiry is the caller’s check)', async () => {
        const s = session(await newUser(), { expiresAt: clock.now() - 1 });
        await store.adminSessions.insert(s);
        assert.equal((await store.adminSessions.findByTokenHash(s.tokenHash))?.expiresAt, clock.now() - 1);
      });

      it('touch moves lastSeenAt forward only, ignores absent sessions, no bump', async () => {
        const s = session(await newUser());
        await store.adminSessions.insert(s);
        const v0 = await store.configVersion();
        const t = clock.now() + 500;
        await store.adminSessions.touch(s.id, t);
        assert.equal((await store.adminSessions.findByTokenHash(s.tokenHash))?.lastSeenAt, t);
        await store.adminSessions.touch(s.id, t - 100);
        assert.equal((await store.adminSessions.findByTokenHash(s.tokenHash))?.lastSeenAt, t);
        await store.adminSessions.touch(uid('sesnone'), t);
        assert.equal(await store.configVersion(), v0);
      });

      it('revoke deletes one session; revokeForUser all of a user; no bump', async () => {
        const [alice, bob] = [await newUser(), await newUser()];
        const [a1, a2, a3, b1] = [session(alice), session(alice), session(alice), session(bob)];
        for (const s of [a1, a2, a3, b1]) await store.adminSessions.insert(s);
        const v0 = await store.configVersion();
        assert.equal(await store.adminSessions.revoke(a1.id), true);
        assert.equal(await store.adminSessions.revoke(a1.id), false);
        assert.equal(await store.adminSessions.findByTokenHash(a1.tokenHash), undefined);
        assert.equal(await store.adminSessions.revokeForUser(alice), 2);
        assert.equal(await store.adminSessions.revokeForUser(alice), 0);
        assert.equal(await store.adminSessions.revokeForUser(uid('susrnone')), 0);
        assert.equal(await store.adminSessions.findByTokenHash(a3.tokenHash), undefined);
        assert.ok(await store.adminSessions.findByTokenHash(b1.tokenHash));
        assert.ok(await store.adminUsers.get(alice), 'the user stays');
        assert.equal(await store.configVersion(), v0);
      });

      it('pruneExpired deletes sessions expiring at or before now, and only those', async () => {
        const userId = await newUser();
        // Far in the past, so sessions of other tests (expiring around the test clock) are untouched.
        const [past, atNow, future] = [
          session(userId, { expiresAt: 1_000 }),
          session(userId, { expiresAt: 2_000 }),
          session(userId, { expiresAt: 2_001 }),
        ];
        for (const s of [past, atNow, future]) await store.adminSessions.insert(s);
        const v0 = await store.configVersion();
        assert.equal(await store.adminSessions.pruneExpired(2_000), 2);
        assert.equal(await store.adminSessions.findByTokenHash(past.tokenHash), undefined);
        assert.equal(await store.adminSessions.findByTokenHash(atNow.tokenHash), undefined);
        assert.ok(await store.adminSessions.findByTokenHash(future.tokenHash));
        assert.equal(await store.adminSessions.pruneExpired(2_000), 0);
        assert.equal(await store.configVersion(), v0);
      });

      it('write(): a user and a session roll back together; a caught conflict does not poison it', async () => {
        const existing = await newUser();
        const [id, hash, added] = [uid('wusr'), uid('shash'), uid('wusr')];
        const boom = new Error('boom');
        await assert.rejects(
          store.write(async (repos) => {
            await repos.adminUsers.insert({ id, username: id, passwordHash: 'scrypt$x', role: 'admin' });
            await repos.adminSessions.insert({ ...session(id), tokenHash: hash });
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.equal(await store.adminUsers.get(id), undefined);
        assert.equal(await store.adminSessions.findByTokenHash(hash), undefined);
        const v0 = await store.configVersion();
        await store.write(async (repos) => {
          await assert.rejects(
            repos.adminUsers.insert({
              id: uid('wusr'),
              username: existing,
              passwordHash: 'scrypt$x',
              role: 'admin',
            }),
            ConflictError,
          );
          await assert.rejects(repos.adminSessions.insert(session(uid('susrnone'))), NotFoundError);
          await repos.adminUsers.insert({
            id: added,
            username: added,
            passwordHash: 'scrypt$x',
            role: 'viewer',
          });
        });
        assert.ok(await store.adminUsers.get(added));
        assert.equal(await store.configVersion(), v0 + 1);
      });
    });

    describe('write() across identity repositories', () => {
      it('commits a multi-repository change with one bump per mutation', async () => {
        const [client, key, route, hmac] = [uid('wc'), uid('wk'), uid('wr'), uid('wh')];
        const v0 = await store.configVersion();
        await store.write(async (repos) => {
          await repos.clients.insert({ id: client, name: 'w', metadata: {} });
          await repos.apiKeys.insert(newApiKey(key, client), secret(uid('hash')));
          await repos.grants.upsert({ clientId: client, routeId: route, methods: ['GET'] });
          await repos.hmacSecrets.add({ id: hmac, clientId: client, ciphertext: 'x' }, 0);
          assert.equal((await repos.apiKeys.list({ clientId: client })).length, 1, 'sees its own changes');
        });
        assert.ok(await store.clients.get(client));
        assert.ok(await store.apiKeys.get(key));
        assert.equal((await store.grants.list({ clientId: client })).length, 1);
        assert.equal((await store.hmacSecrets.list({ clientId: client })).length, 1);
        assert.equal(await store.configVersion(), v0 + 4);
      });

      it('rolls back a multi-repository change as a whole', async () => {
        const existing = await newClient();
        const existingKey = uid('wkeep');
        await store.apiKeys.insert(newApiKey(existingKey, existing, { name: 'before' }), secret(uid('hash')));
        const [client, key, keyHash, route, hmac, jwt, tok, tokHash] = [
          uid('wc'),
          uid('wk'),
          uid('hash'),
          uid('wr'),
          uid('wh'),
          uid('wj'),
          uid('wt'),
          uid('thash'),
        ];
        const v0 = await store.configVersion();
        const boom = new Error('boom');
        await assert.rejects(
          store.write(async (repos) => {
            await repos.clients.insert({ id: client, name: 'w', metadata: {} });
            await repos.apiKeys.insert(newApiKey(key, client), secret(keyHash));
            await repos.apiKeys.update(existingKey, { name: 'after', usesBudget: 5 });
            await repos.grants.upsert({ clientId: client, routeId: route, methods: ['GET'] });
            await repos.hmacSecrets.add({ id: hmac, clientId: client, ciphertext: 'x' }, 0);
            await repos.jwtProviders.insert(jwt, { issuer: 'https://w' });
            await repos.serviceTokens.insert({
              id: tok,
              name: 't',
              role: 'admin',
              hash: tokHash,
              displayPrefix: 'p',
              expiresAt: null,
            });
            await repos.clients.update(existing, { status: 'revoked', statusReason: 'x' });
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.equal(await store.clients.get(client), undefined);
        assert.equal(await store.apiKeys.get(key), undefined);
        assert.equal(await store.apiKeys.findByHash(keyHash), undefined);
        const kept = await store.apiKeys.get(existingKey);
        assert.deepEqual([kept?.name, kept?.budgetVersion], ['before', 0]);
        assert.deepEqual(await store.grants.list({ clientId: client }), []);
        assert.deepEqual(await store.hmacSecrets.list({ clientId: client }), []);
        assert.equal(await store.jwtProviders.get(jwt), undefined);
        assert.equal(await store.serviceTokens.findByHash(tokHash), undefined);
        assert.equal((await store.clients.get(existing))?.status, 'active');
        assert.equal(await store.configVersion(), v0);
      });

      it('NotFoundError and ConflictError caught inside fn do not poison the transaction', async () => {
        const client = await newClient();
        const hash = uid('hash');
        await store.apiKeys.insert(newApiKey(uid('wp'), client), secret(hash));
        const added = uid('wadded');
        const v0 = await store.configVersion();
        await store.write(async (repos) => {
          await assert.rejects(
            repos.apiKeys.insert(newApiKey(uid('wx'), uid('nobody')), secret(uid('h'))),
            NotFoundError,
          );
          await assert.rejects(
            repos.clients.insert({ id: client, name: 'dup', metadata: {} }),
            ConflictError,
          );
          await assert.rejects(repos.apiKeys.rotate(uid('wnone'), secret(uid('h')), 0), NotFoundError);
          await assert.rejects(
            repos.grants.upsert({ clientId: uid('nobody'), routeId: 'r', methods: ['GET'] }),
            NotFoundError,
          );
          await assert.rejects(
            repos.apiKeys.insert(newApiKey(uid('wy'), client), secret(hash)),
            ConflictError,
          );
          await repos.apiKeys.insert(newApiKey(added, client), secret(uid('hash')));
        });
        assert.ok(await store.apiKeys.get(added));
        assert.equal(await store.configVersion(), v0 + 1);
      });
    });

    describe('ip controls', () => {
      async function newKeyId(extra: Partial<NewApiKey> = {}): Promise<string> {
        const clientId = await newClient();
        const id = uid('key');
        await store.apiKeys.insert(newApiKey(id, clientId, extra), {
          hash: uid('hash'),
          displayPrefix: 'pcl_live_x',
        });
        return id;
      }
      const binding = (keyId: string, slot: number | null, cidr: string) => ({
        id: uid('bnd'),
        keyId,
        slot,
        cidr,
        source: 'first_use' as const,
        createdAt: clock.now(),
        lastSeenAt: clock.now(),
      });

      it('keys keep their IP deny-list and bind prefixes', async () => {
        const id = await newKeyId({ ipDeny: ['10.0.0.0/8'], bindPrefixV4: 24, bindPrefixV6: 64 });
        const key = await store.apiKeys.get(id);
        assert.deepEqual([key?.ipDeny, key?.bindPrefixV4, key?.bindPrefixV6], [['10.0.0.0/8'], 24, 64]);
        const updated = await store.apiKeys.update(id, { ipDeny: [], bindPrefixV4: null });
        assert.deepEqual([updated.ipDeny, updated.bindPrefixV4, updated.bindPrefixV6], [[], null, 64]);
      });

      it('blocks: upsert by kind and value, active filter, removal bumps the version; pruning does not', async () => {
        const value = `${uid('user')}`;
        const v0 = await store.configVersion();
        const first = await store.blocks.upsert({
          id: uid('blk'),
          kind: 'user',
          value,
          reason: 'abuse',
          source: 'manual',
          expiresAt: null,
        });
        const again = await store.blocks.upsert({
          id: uid('blk'),
          kind: 'user',
          value,
          reason: 'still abuse',
          source: 'anomaly',
          expiresAt: clock.now() + 1000,
        });
        assert.equal(again.id, first.id, 'one entry per kind and value');
        assert.deepEqual([again.reason, again.source], ['still abuse', 'anomaly']);
        assert.deepEqual(await store.blocks.find('user', value), again, 'found by kind and value');
        assert.equal(await store.blocks.find('key', value), undefined, 'another kind');
        assert.equal(await store.blocks.find('user', `${value}x`), undefined);
        assert.ok(
          (await store.blocks.list({ kind: 'user', activeAt: clock.now() })).some((b) => b.id === first.id),
        );
        assert.ok(
          !(await store.blocks.list({ kind: 'user', activeAt: clock.now() + 1000 })).some(
            (b) => b.id === first.id,
          ),
        );
        assert.equal(await store.configVersion(), v0 + 2);
        const v1 = await store.configVersion();
        assert.equal(await store.blocks.pruneExpired(clock.now() + 2000), 1);
        assert.equal(await store.blocks.get(first.id), undefined);
        assert.equal(await store.configVersion(), v1, 'expired entries stopped applying already');
        const ip = await store.blocks.upsert({
          id: uid('blk'),
          kind: 'ip',
          value: '192.0.2.0/24',
          reason: 'scanner',
          source: 'manual',
          expiresAt: null,
        });
        assert.equal(await store.blocks.removeFor('ip', '192.0.2.0/24'), true);
        assert.equal(await store.blocks.remove(ip.id), false);
        assert.equal(await store.configVersion(), v1 + 2);
      });

      describe('block pages', () => {
        type BlockFilter = Omit<Parameters<Store['blocks']['page']>[0], 'after' | 'limit'>;
        let stem: string;
        let t0: number;
        const ours = (ids: readonly string[]) => ids.filter((id) => id.startsWith(stem));
        /** The entries `list()` gives (already in page order), filtered as the admin API did in memory. */
        async function listed(filter: BlockFilter): Promise<string[]> {
          return (await store.blocks.list())
            .filter(
              (b) =>
                (filter.kind === undefined || b.kind === filter.kind) &&
                (filter.source === undefined || b.source === filter.source) &&
                (filter.activeAt === undefined || b.expiresAt === null || b.expiresAt > filter.activeAt) &&
                (filter.expiredAt === undefined || (b.expiresAt !== null && b.expiresAt <= filter.expiredAt)),
            )
            .map((b) => b.id);
        }
        const entry = (
          id: string,
          kind: 'user' | 'key' | 'client',
          source: 'manual' | 'anomaly' | 'threshold',
          expiresAt: number | null,
        ) => store.blocks.upsert({ id, kind, value: uid('blocked'), reason: 'pages', source, expiresAt });

        before(async () => {
          stem = uid('bpage');
          t0 = clock.now();
          // Three entries of one millisecond: only the id orders them, byte-wise.
          await entry(`${stem}a`, 'user', 'manual', null);
          await entry(`${stem}B`, 'key', 'manual', null);
          await entry(`${stem}-z`, 'client', 'anomaly', t0 + 1000);
          clock.advance(1);
          await entry(`${stem}-a`, 'user', 'threshold', t0 + 500);
          await entry(`${stem}0`, 'user', 'anomaly', t0 + 5000);
        });

        it('indexes in the byte-wise order of the pages serve them (migration 0011)', async () => {
          const all = await indexDef('blocks_page_idx');
          assert.match(all, /created_at.*\bid\b/s);
          assert.doesNotMatch(all, /kind/);
          const byKind = await indexDef('blocks_kind_page_idx');
          assert.match(byKind, /kind.*created_at.*\bid\b/s);
          if (store.dialect === 'postgres')
            for (const def of [all, byKind]) assert.equal(def.match(/COLLATE "C"/g)?.length, 1, def);
        });

        it('walk every page size with each filter to exactly the filtered list, in its order', async () => {
          // Expiring exactly at `at` is expired then: in force means an expiry after it.
          const at = t0 + 1000;
          const cases: Array<[BlockFilter, string[]]> = [
            [{}, [`${stem}-z`, `${stem}B`, `${stem}a`, `${stem}-a`, `${stem}0`]],
            [{ kind: 'user' }, [`${stem}a`, `${stem}-a`, `${stem}0`]],
            [{ kind: 'ip' }, []],
            [{ source: 'anomaly' }, [`${stem}-z`, `${stem}0`]],
            [{ activeAt: at }, [`${stem}B`, `${stem}a`, `${stem}0`]],
            [{ expiredAt: at }, [`${stem}-z`, `${stem}-a`]],
            [{ kind: 'user', activeAt: at }, [`${stem}a`, `${stem}0`]],
            [{ kind: 'user', expiredAt: at }, [`${stem}-a`]],
            [{ kind: 'user', source: 'anomaly', expiredAt: t0 + 5000 }, [`${stem}0`]],
            [{ source: 'manual', activeAt: at }, [`${stem}B`, `${stem}a`]],
          ];
          for (const [filter, expected] of cases) {
            const all = await listed(filter);
            assert.deepEqual(ours(all), expected, JSON.stringify(filter));
            for (const limit of [1, 2, 3, 5]) {
              const { ids, pages } = await walkPages(limit, (o) => store.blocks.page({ ...filter, ...o }));
              assert.deepEqual(ids, all, `${JSON.stringify(filter)}, pages of ${limit}`);
              assert.equal(
                pages,
                Math.floor(all.length / limit) + 1,
                `${JSON.stringify(filter)}, pages of ${limit}`,
              );
            }
          }
          const page = await store.blocks.page({ limit: 10_000 });
          assert.deepEqual(page, await store.blocks.list());
        });

        it('start strictly after a position, an entry or not', async () => {
          const ids = async (after: CreationPosition) =>
            ours((await store.blocks.page({ after, limit: 10_000 })).map((b) => b.id));
          assert.deepEqual(await ids({ createdAt: t0, id: `${stem}B` }), [
            `${stem}a`,
            `${stem}-a`,
            `${stem}0`,
          ]);
          assert.deepEqual(await ids({ createdAt: t0, id: `${stem}A` }), [
            `${stem}B`,
            `${stem}a`,
            `${stem}-a`,
            `${stem}0`,
          ]);
          assert.deepEqual(await ids({ createdAt: t0 + 1, id: '' }), [`${stem}-a`, `${stem}0`]);
          assert.deepEqual(
            (
              await store.blocks.page({
                kind: 'user',
                after: { createdAt: t0 + 1, id: `${stem}-a` },
                limit: 10,
              })
            ).map((b) => b.id),
            [`${stem}0`],
          );
        });

        it('answer empty pages', async () => {
          const last = (await store.blocks.list()).at(-1) as CreationPosition;
          assert.deepEqual(await store.blocks.page({ after: last, limit: 10 }), []);
          assert.deepEqual(
            await store.blocks.page({ after: { createdAt: Number.MAX_SAFE_INTEGER, id: '' }, limit: 10 }),
            [],
          );
          // In force and expired at once: nothing.
          assert.deepEqual(await store.blocks.page({ activeAt: t0, expiredAt: t0, limit: 10 }), []);
        });

        it('refuse a limit outside 1 to 10000', async () => {
          for (const limit of BAD_LIMITS)
            await assert.rejects(store.blocks.page({ limit }), {
              name: 'RangeError',
              message: `options.limit must be an integer from 1 to 10000 (got ${limit})`,
            });
          assert.equal((await store.blocks.page({ limit: 1 })).length, 1);
        });
      });

      it('binding claims: exactly one of many concurrent claimants wins a slot, from two openers', async () => {
        const keyId = await newKeyId({ bindingMode: 'single' });
        const v0 = await store.configVersion();
        const claims = Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 || !shared ? store : other).bindings.claim(
            binding(keyId, 0, `198.51.100.${i + 1}/32`),
          ),
        );
        const won = await Promise.all(claims);
        assert.equal(won.filter(Boolean).length, 1);
        const bound = await store.bindings.list({ keyId });
        assert.equal(bound.length, 1);
        assert.equal(await store.configVersion(), v0, 'first-use binding is not a configuration change');
        assert.equal(
          await store.bindings.claim(binding(keyId, null, bound[0]?.cidr as string)),
          false,
          'the same address cannot be bound twice',
        );
      });

      it('binding replace, touch, archive and removal', async () => {
        const keyId = await newKeyId({ bindingMode: 'multiple', maxIps: 3 });
        const v0 = await store.configVersion();
        const replaced = await store.bindings.replace(
          keyId,
          ['203.0.113.0/24', '2001:db8::/64'],
          clock.now(),
          [uid('bnd'), uid('bnd')],
        );
        assert.deepEqual(
          replaced.map((b) => [b.slot, b.cidr, b.source]),
          [
            [0, '203.0.113.0/24', 'admin'],
            [1, '2001:db8::/64', 'admin'],
          ],
        );
        assert.equal(await store.configVersion(), v0 + 1);
        const start = clock.now();
        clock.advance(10 * 86_400_000);
        await store.bindings.touch([{ id: replaced[1]?.id as string, lastSeenAt: clock.now() }]);
        await store.bindings.touch([{ id: replaced[1]?.id as string, lastSeenAt: start }]);
        const moved = await store.bindings.archiveUnusedSince(clock.now() - 86_400_000, clock.now());
        assert.ok(moved >= 1);
        assert.deepEqual(
          (await store.bindings.list({ keyId })).map((b) => b.cidr),
          ['2001:db8::/64'],
          'touched binding stays; a stale touch never moves last-seen back',
        );
        const archived = await store.bindings.archived({ keyId });
        assert.deepEqual(
          archived.map((a) => [a.cidr, a.archivedAt]),
          [['203.0.113.0/24', clock.now()]],
        );
        assert.equal(await store.configVersion(), v0 + 2, 'archiving is a change (caches drop the binding)');
        assert.equal(await store.bindings.removeAll(keyId), 1);
        assert.equal(await store.bindings.removeAll(keyId), 0);
        assert.equal(await store.configVersion(), v0 + 3);
      });

      describe('binding pages', () => {
        it('an index in the byte-wise order of the pages serves them (migration 0010)', async () => {
          const { rows } =
            store.dialect === 'postgres'
              ? await sql<{
                  def: string;
                }>`select indexdef as def from pg_indexes where indexname = 'key_bindings_page_idx'`.execute(
                  store.db,
                )
              : await sql<{
                  def: string;
                }>`select sql as def from sqlite_master where name = 'key_bindings_page_idx'`.execute(
                  store.db,
                );
          const def = rows[0]?.def ?? '';
          assert.match(def, /key_id.*created_at.*\bid\b/s);
          if (store.dialect === 'postgres') assert.equal(def.match(/COLLATE "C"/g)?.length, 2, def);
        });

        /** A key with this exact id (ids chosen to sort differently byte-wise than by locale). */
        async function keyNamed(id: string): Promise<string> {
          await store.apiKeys.insert(newApiKey(id, await newClient(), { bindingMode: 'all' }), {
            hash: uid('hash'),
            displayPrefix: 'pcl_live_x',
          });
          return id;
        }
        const recorded = (keyId: string, id: string, createdAt: number, cidr: string) => ({
          id,
          keyId,
          slot: null,
          cidr,
          source: 'first_use' as const,
          createdAt,
          lastSeenAt: createdAt,
        });
        /** Every page of `limit` in turn, each continuing after the last binding of the one before. */
        async function walk(limit: number, keyId?: string): Promise<{ ids: string[]; pages: number }> {
          const ids: string[] = [];
          let after: BindingPosition | undefined;
          for (let pages = 1; ; pages++) {
            const page = await store.bindings.page({
              ...(keyId !== undefined ? { keyId } : {}),
              ...(after !== undefined ? { after } : {}),
              limit,
            });
            assert.ok(page.length <= limit);
            ids.push(...page.map((b) => b.id));
            const last = page.at(-1);
            if (page.length < limit || last === undefined) return { ids, pages };
            after = { keyId: last.keyId, createdAt: last.createdAt, id: last.id };
          }
        }

        let stem: string;
        let upper: string;
        let lower: string;
        let dashed: string;
        before(async () => {
          stem = uid('pg');
          // Byte-wise: "-" < "B" < "a"; a locale collation would put "a" before "B" and ignore "-".
          upper = await keyNamed(`${stem}B`);
          lower = await keyNamed(`${stem}a`);
          dashed = await keyNamed(`${stem}-z`);
          const at = clock.now();
          // Three bindings of one key created in the same millisecond: only the id orders them.
          for (const [id, octet] of [
            ['bnd-m', 1],
            ['bnd-Z', 2],
            ['bnd-a', 3],
          ] as const)
            assert.ok(
              await store.bindings.claim(recorded(lower, `${stem}-${id}`, at, `192.0.2.${octet}/32`)),
            );
          // Creation time orders before id.
          assert.ok(await store.bindings.claim(recorded(upper, `${stem}-bnd-1`, at + 5, '198.51.100.1/32')));
          assert.ok(await store.bindings.claim(recorded(upper, `${stem}-bnd-2`, at - 5, '198.51.100.2/32')));
          assert.ok(await store.bindings.claim(recorded(dashed, `${stem}-bnd-0`, at, '203.0.113.1/32')));
        });

        const ours = (ids: readonly string[]) => ids.filter((id) => id.startsWith(`${stem}-`));
        const expected = () => [
          `${stem}-bnd-0`,
          `${stem}-bnd-2`,
          `${stem}-bnd-1`,
          `${stem}-bnd-Z`,
          `${stem}-bnd-a`,
          `${stem}-bnd-m`,
        ];

        it('follow list() order: key, then creation time, then id, byte-wise', async () => {
          const page = await store.bindings.page({ limit: 10_000 });
          assert.deepEqual(
            page.map((b) => b.id),
            (await store.bindings.list()).map((b) => b.id),
          );
          assert.deepEqual(ours(page.map((b) => b.id)), expected());
          const first = page.find((b) => b.id === `${stem}-bnd-Z`);
          assert.deepEqual(
            first,
            recorded(lower, `${stem}-bnd-Z`, first?.createdAt as number, '192.0.2.2/32'),
          );
        });

        it('continue after a cursor with no repeats or gaps, whatever the page size', async () => {
          const all = (await store.bindings.list()).map((b) => b.id);
          for (const limit of [1, 2, 3, 5]) {
            const { ids, pages } = await walk(limit);
            assert.deepEqual(ids, all, `pages of ${limit}`);
            assert.equal(pages, Math.floor(all.length / limit) + 1, `pages of ${limit}`);
          }
          // Within one key and millisecond the id decides; a page may end between them.
          const { ids, pages } = await walk(1, lower);
          assert.deepEqual(ids, expected().slice(3));
          assert.equal(pages, 4, 'three full pages, then an empty one');
        });

        it('filter by key, before and after the cursor', async () => {
          assert.deepEqual(
            (await store.bindings.page({ keyId: upper, limit: 10 })).map((b) => b.id),
            [`${stem}-bnd-2`, `${stem}-bnd-1`],
          );
          const [z] = await store.bindings.page({ keyId: lower, limit: 1 });
          assert.equal(z?.id, `${stem}-bnd-Z`);
          const rest = await store.bindings.page({ keyId: lower, after: z as BindingPosition, limit: 10 });
          assert.deepEqual(
            rest.map((b) => b.id),
            [`${stem}-bnd-a`, `${stem}-bnd-m`],
          );
          // A cursor on another key: the filter still holds.
          assert.deepEqual(
            (
              await store.bindings.page({
                keyId: lower,
                after: { keyId: dashed, createdAt: 0, id: '' },
                limit: 10,
              })
            ).length,
            3,
          );
          assert.deepEqual(
            await store.bindings.page({
              keyId: dashed,
              after: { keyId: lower, createdAt: 0, id: '' },
              limit: 10,
            }),
            [],
          );
        });

        it('resume after a binding that is gone since the page was read', async () => {
          const gone = (await store.bindings.page({ keyId: upper, limit: 1 }))[0] as BindingPosition;
          const key = await keyNamed(`${stem}C`);
          assert.ok(await store.bindings.claim(recorded(key, `${stem}-bnd-c1`, 1, '192.0.2.9/32')));
          assert.ok(await store.bindings.claim(recorded(key, `${stem}-bnd-c2`, 2, '192.0.2.10/32')));
          const [c1] = await store.bindings.page({ keyId: key, limit: 1 });
          assert.equal(await store.bindings.removeAll(key), 2);
          assert.deepEqual(
            (await store.bindings.page({ keyId: upper, after: gone, limit: 10 })).map((b) => b.id),
            [`${stem}-bnd-1`],
          );
          assert.deepEqual(
            await store.bindings.page({ keyId: key, after: c1 as BindingPosition, limit: 10 }),
            [],
          );
        });

        it('answer empty pages', async () => {
          assert.deepEqual(await store.bindings.page({ keyId: uid('key-unbound'), limit: 10 }), []);
          // "~" sorts after every id character.
          assert.deepEqual(
            await store.bindings.page({ after: { keyId: '~', createdAt: 0, id: '' }, limit: 10 }),
            [],
          );
          const last = (await store.bindings.list()).at(-1) as BindingPosition;
          assert.deepEqual(await store.bindings.page({ after: last, limit: 10 }), []);
        });

        it('refuse a limit outside 1 to 10000', async () => {
          for (const limit of [0, -1, 1.5, Number.NaN, 10_001])
            await assert.rejects(store.bindings.page({ limit }), {
              name: 'RangeError',
              message: `options.limit must be an integer from 1 to 10000 (got ${limit})`,
            });
          assert.equal((await store.bindings.page({ limit: 1 })).length, 1);
        });
      });

      it('bindings disappear with their key', async () => {
        const clientId = await newClient();
        const keyId = uid('key');
        await store.apiKeys.insert(newApiKey(keyId, clientId, { bindingMode: 'single' }), {
          hash: uid('hash'),
          displayPrefix: 'pcl_live_x',
        });
        await store.bindings.claim(binding(keyId, 0, '192.0.2.7/32'));
        await store.clients.remove(clientId);
        assert.deepEqual(await store.bindings.list({ keyId }), []);
      });

      it('intercepts and alert deliveries are recorded and listed newest first', async () => {
        const keyId = uid('key');
        for (let i = 0; i < 3; i++) {
          await store.intercepts.insert({
            id: uid('icp'),
            at: clock.now() + i,
            keyId,
            clientId: null,
            ip: `192.0.2.${i}`,
            bound: ['198.51.100.1/32'],
            routeId: 'orders',
            method: 'GET',
            path: '/v1/orders',
            requestId: `r${i}`,
          });
        }
        const listed = await store.intercepts.list({ keyId, since: clock.now() + 1 });
        assert.deepEqual(
          listed.map((i) => [i.ip, i.bound]),
          [
            ['192.0.2.2', ['198.51.100.1/32']],
            ['192.0.2.1', ['198.51.100.1/32']],
          ],
        );
        assert.equal((await store.intercepts.list({ keyId, limit: 1 })).length, 1);
        const alertId = uid('alr');
        await store.alertDeliveries.insert({
          id: uid('dlv'),
          alertId,
          kind: 'intercepts',
          url: 'https://hooks.example',
          status: 'delivered',
          attempts: 2,
          lastStatus: 200,
          lastError: null,
          createdAt: clock.now(),
          finishedAt: clock.now() + 5,
        });
        const [delivery] = await store.alertDeliveries.list({ alertId });
        assert.deepEqual([delivery?.status, delivery?.attempts, delivery?.lastStatus], ['delivered', 2, 200]);
      });

      it('intercepts page by keyset: time, then id byte-wise, both descending; route filtered in SQL', async () => {
        const keyId = uid('key');
        const at = clock.now() + 10_000;
        // Ids whose byte order differs from a language collation's ('B' < 'a' < 'b', '_' < 'a').
        const ids = ['icp_a', 'icp_B', 'icp_b', 'icp__z', 'icp_A1', 'icp_ab'].map(
          (id) => `${id}_${uid('x')}`,
        );
        const times = [at, at, at, at, at - 1, at + 1];
        for (const [i, id] of ids.entries())
          await store.intercepts.insert({
            id,
            at: times[i] as number,
            keyId,
            clientId: null,
            ip: '192.0.2.1',
            bound: [],
            routeId: i % 2 === 0 ? 'orders' : 'users',
            method: 'GET',
            path: '/',
            requestId: id,
          });
        const expected = ids
          .map((id, i) => ({ id, at: times[i] as number }))
          .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
          .map((r) => r.id);
        assert.deepEqual(
          (await store.intercepts.list({ keyId })).map((r) => r.id),
          expected,
        );
        const walked: string[] = [];
        let before: { at: number; id: string } | undefined;
        for (;;) {
          const [row] = await store.intercepts.list({ keyId, limit: 1, ...(before ? { before } : {}) });
          if (row === undefined) break;
          walked.push(row.id);
          before = { at: row.at, id: row.id };
        }
        assert.deepEqual(walked, expected, 'one at a time, none twice, none left out');
        assert.deepEqual(
          (await store.intercepts.list({ keyId, routeId: 'users' })).map((r) => r.id),
          expected.filter((id) => ids.indexOf(id) % 2 === 1),
        );
        assert.equal(await store.intercepts.count({ keyId, routeId: 'orders' }), 3);
        const streamed: string[] = [];
        for await (const r of store.intercepts.stream({ keyId, routeId: 'orders' })) streamed.push(r.id);
        assert.deepEqual(new Set(streamed), new Set(ids.filter((_, i) => i % 2 === 0)));
      });
    });

    describe('health', () => {
      it('reports ok with the dialect and a latency', async () => {
        const health = await store.health();
        assert.equal(health.ok, true);
        assert.equal(health.dialect, store.dialect);
        assert.equal(typeof health.latencyMs, 'number');
        assert.equal(health.error, undefined);
      });

      it('a closed store reports ok:false instead of throwing', async () => {
        const closed = await open({ clock });
        await closed.close();
        const health = await closed.health();
        assert.equal(health.ok, false);
        assert.equal(health.dialect, store.dialect);
        assert.equal(typeof health.error, 'string');
        await closed.close();
      });
    });
  });
}
