/**
 * The store contract: every backend (SQLite file, SQLite :memory:, PostgreSQL) must pass this
 * one suite. `open` is called several times; unless `sharesDatabase` is false, every call must
 * open the SAME, initially empty database (that is how concurrent openers are tested). Tests
 * share that database, so each uses its own route ids and measures version deltas.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Clock, ManualClock } from '../../src/core/clock.js';
import type { RouteSpec } from '../../src/routing/spec.js';
import { ConflictError, NotFoundError } from '../../src/store/errors.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import type { MigrationReport, Store } from '../../src/store/types.js';

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

let sequence = 0;
/** Route ids unique within the run, valid per ROUTE_ID_PATTERN. */
function uid(name: string): string {
  sequence += 1;
  return `${name}-${sequence}`;
}

export function runStoreContract(label: string, open: OpenForContract, options: ContractOptions = {}): void {
  const shared = options.sharesDatabase ?? true;
  const notShared = shared ? false : 'each open() is a separate database';

  describe(`store contract: ${label}`, () => {
    const clock = new ManualClock();
    let store: Store;
    let other: Store;
    let reports: MigrationReport[];
    let versionAfterMigrate: number;

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
