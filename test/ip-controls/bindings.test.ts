/**
 * Key bindings against a real store (SQLite file shared by two KeyBindings, standing in for two
 * gateway instances, and PostgreSQL when available): first use, mismatch, networks, multiple,
 * record-only, races, cache invalidation, archiving and store faults.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import { KeyBindings } from '../../src/ip-controls/bindings.js';
import { rebindKey, unbindKey } from '../../src/ip-controls/operations.js';
import { openStore } from '../../src/store/open-store.js';
import type { ApiKeyRecord, NewApiKey, Store } from '../../src/store/types.js';
import { newApiKey } from '../helpers/records.js';
import { POSTGRES_URL, postgresGate } from '../helpers/services.js';

const logger = pino({ level: 'silent' });
let seq = 0;

function suite(label: string, open: (clock: ManualClock) => Promise<[Store, Store]>, skip: string | false) {
  describe(`key bindings: ${label}`, { skip }, () => {
    const clock = new ManualClock(Date.now());
    let store: Store;
    let otherStore: Store;
    let a: KeyBindings;
    let b: KeyBindings;
    let clientId: string;

    before(async () => {
      [store, otherStore] = await open(clock);
      await store.migrate();
      await otherStore.migrate();
      clientId = `c${Date.now()}${seq++}`;
      await store.clients.insert({ id: clientId, name: 'c', metadata: {} });
      a = new KeyBindings({ store, clock, logger });
      b = new KeyBindings({ store: otherStore, clock, logger });
    });
    after(async () => {
      await a.stop();
      await b.stop();
      await store.close();
      await otherStore.close();
    });

    async function key(extra: Partial<NewApiKey>): Promise<ApiKeyRecord> {
      const id = `key_${Date.now()}_${seq++}`;
      return store.apiKeys.insert(newApiKey(id, clientId, extra), {
        hash: `h${id}`,
        displayPrefix: 'pcl_live_x',
      });
    }

    it('off: anything goes, nothing is stored', async () => {
      const k = await key({});
      assert.deepEqual(await a.check(k, '192.0.2.1'), { ok: true });
      assert.deepEqual(await store.bindings.list({ keyId: k.id }), []);
    });

    it('single: the first address binds; another is refused with the binding named', async () => {
      const k = await key({ bindingMode: 'single' });
      assert.equal((await a.check(k, '192.0.2.1')).ok, true);
      assert.equal((await a.check(k, '192.0.2.1')).ok, true);
      const refused = await a.check(k, '192.0.2.2');
      assert.deepEqual(refused, { ok: false, bound: ['192.0.2.1/32'] });
      assert.deepEqual(await b.check(k, '192.0.2.2'), refused, 'another instance agrees');
    });

    it("single with a bind prefix covers the first address's network (IPv4 /24, IPv6 /64)", async () => {
      const k4 = await key({ bindingMode: 'single', bindPrefixV4: 24 });
      assert.equal((await a.check(k4, '203.0.113.7')).ok, true);
      assert.equal((await a.check(k4, '203.0.113.200')).ok, true);
      assert.equal((await a.check(k4, '203.0.114.1')).ok, false);
      const k6 = await key({ bindingMode: 'single', bindPrefixV6: 64 });
      assert.equal((await a.check(k6, '2001:db8:1:2::5')).ok, true);
      assert.equal((await a.check(k6, '2001:db8:1:2:ffff::1')).ok, true);
      assert.equal((await a.check(k6, '2001:db8:1:3::1')).ok, false);
    });

    it('multiple: up to N distinct addresses, then refused', async () => {
      const k = await key({ bindingMode: 'multiple', maxIps: 3 });
      for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
        assert.equal((await a.check(k, ip)).ok, true, ip);
      const refused = await a.check(k, '10.0.0.4');
      assert.equal(refused.ok, false);
      assert.deepEqual([...(refused.bound ?? [])].sort(), ['10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32']);
      assert.equal((await b.check(k, '10.0.0.2')).ok, true);
    });

    it('all: records every address, refuses none', async () => {
      const k = await key({ bindingMode: 'all' });
      for (const ip of ['10.1.0.1', '10.1.0.2', '2001:db8::9']) assert.equal((await a.check(k, ip)).ok, true);
      const recorded = await store.bindings.list({ keyId: k.id });
      assert.deepEqual(recorded.map((r) => [r.cidr, r.slot]).sort(), [
        ['10.1.0.1/32', null],
        ['10.1.0.2/32', null],
        ['2001:db8::9/128', null],
      ]);
    });

    it('a race of first requests from two addresses on two instances creates exactly one binding', async () => {
      for (let round = 0; round < 5; round++) {
        const k = await key({ bindingMode: 'single' });
        const verdicts = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? a : b).check(k, i % 2 === 0 ? '198.51.100.1' : '198.51.100.2'),
          ),
        );
        const bound = await store.bindings.list({ keyId: k.id });
        assert.equal(bound.length, 1, 'exactly one binding');
        const winner = bound[0]?.cidr === '198.51.100.1/32' ? 0 : 1;
        for (const [i, v] of verdicts.entries()) assert.equal(v.ok, i % 2 === winner, `request ${i}`);
      }
    });

    it('an admin unbind or re-bind takes effect once caches are invalidated', async () => {
      const k = await key({ bindingMode: 'single' });
      assert.equal((await a.check(k, '192.0.2.50')).ok, true);
      await unbindKey(store, k.id);
      a.invalidate();
      assert.equal((await a.check(k, '192.0.2.51')).ok, true, 'binds afresh');
      assert.equal((await a.check(k, '192.0.2.50')).ok, false);
      await rebindKey(store, k.id, ['192.0.2.0/28'], clock.now());
      a.invalidate();
      assert.equal((await a.check(k, '192.0.2.5')).ok, true);
      assert.equal((await a.check(k, '192.0.2.51')).ok, false);
      await assert.rejects(
        rebindKey(store, k.id, ['10.0.0.1', '10.0.0.2'], clock.now()),
        /at most 1 address/,
      );
      await assert.rejects(rebindKey(store, k.id, ['nope'], clock.now()), /not an IP address/);
    });

    it('a mode change never lets leftover rows in: all → single, and a lowered max-ips', async () => {
      const k = await key({ bindingMode: 'all' });
      for (let i = 1; i <= 5; i++) assert.equal((await a.check(k, `10.90.0.${i}`)).ok, true);
      const single = await store.apiKeys.update(k.id, { bindingMode: 'single' });
      a.invalidate();
      assert.equal((await a.check(single, '10.90.0.3')).ok, true, 'the first request after the change binds');
      for (const ip of ['10.90.0.1', '10.90.0.2', '10.90.0.9'])
        assert.equal((await a.check(single, ip)).ok, false, ip);
      const m = await key({ bindingMode: 'multiple', maxIps: 5 });
      for (let i = 1; i <= 5; i++) assert.equal((await a.check(m, `10.91.0.${i}`)).ok, true);
      const fewer = await store.apiKeys.update(m.id, { maxIps: 2 });
      a.invalidate();
      const still = (await store.bindings.list({ keyId: m.id })).map((r) => r.cidr);
      assert.equal(still.length, 2, 'slots beyond the new size are dropped with the change');
      for (let i = 1; i <= 5; i++) {
        const ip = `10.91.0.${i}`;
        assert.equal((await a.check(fewer, ip)).ok, still.includes(`${ip}/32`), ip);
      }
    });

    it('multiple: many concurrent first requests fill every slot and refuse only beyond it', async () => {
      const k = await key({ bindingMode: 'multiple', maxIps: 20 });
      const verdicts = await Promise.all(
        Array.from({ length: 25 }, (_, i) => (i % 2 ? a : b).check(k, `10.92.0.${i + 1}`)),
      );
      assert.equal(verdicts.filter((v) => v.ok).length, 20);
      assert.equal((await store.bindings.list({ keyId: k.id })).length, 20);
    });

    it('archiving moves any number of stale bindings (in chunks)', async () => {
      const keys = [await key({ bindingMode: 'all' }), await key({ bindingMode: 'all' })];
      const start = clock.now();
      for (const k of keys) {
        for (let i = 0; i < 700; i++) {
          await store.bindings.claim({
            id: `bnd_${k.id}_${i}`,
            keyId: k.id,
            slot: null,
            cidr: `10.${93 + keys.indexOf(k)}.${i >> 8}.${i & 255}/32`,
            source: 'first_use',
            createdAt: start,
            lastSeenAt: start,
          });
        }
      }
      clock.advance(3 * 86_400_000);
      assert.ok((await a.archive(1)) >= 1400);
      for (const k of keys) assert.deepEqual(await store.bindings.list({ keyId: k.id }), []);
    });

    it('a hit is answered from the cache, synchronously', async () => {
      const k = await key({ bindingMode: 'single' });
      await a.check(k, '192.0.2.77');
      const verdict = a.check(k, '192.0.2.77');
      assert.ok(!(verdict instanceof Promise));
      assert.deepEqual(verdict, { ok: true });
    });

    it('bindings unused for the archive period are archived and the next request binds again', async () => {
      const k = await key({ bindingMode: 'single' });
      assert.equal((await a.check(k, '192.0.2.90')).ok, true);
      clock.advance(2 * 86_400_000);
      const moved = await a.archive(1);
      assert.ok(moved >= 1);
      a.invalidate();
      assert.equal((await a.check(k, '192.0.2.91')).ok, true, 're-bound to the new address');
      assert.deepEqual(
        (await store.bindings.archived({ keyId: k.id })).map((r) => r.cidr),
        ['192.0.2.90/32'],
      );
    });

    it('use keeps a binding from being archived (last-seen written in batches)', async () => {
      const k = await key({ bindingMode: 'single' });
      assert.equal((await a.check(k, '192.0.2.95')).ok, true);
      clock.advance(2 * 86_400_000);
      assert.equal((await a.check(k, '192.0.2.95')).ok, true);
      await a.flush();
      await a.archive(1);
      assert.deepEqual(
        (await store.bindings.list({ keyId: k.id })).map((r) => r.cidr),
        ['192.0.2.95/32'],
      );
    });

    it('a store that cannot answer rejects (the stage applies the failsafe)', async () => {
      const k = await key({ bindingMode: 'single' });
      const gone = await open(clock);
      await gone[0].migrate();
      const lonely = new KeyBindings({ store: gone[0], clock, logger });
      await gone[0].close();
      await gone[1].close();
      await assert.rejects(async () => lonely.check(k, '192.0.2.1'));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bindings-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
suite(
  'SQLite file, two openers',
  async (clock) => {
    const url = `sqlite:${join(dir, `b${files++}.db`)}`;
    return [await openStore({ url, clock }), await openStore({ url, clock })];
  },
  false,
);
const pg = await postgresGate();
suite(
  'PostgreSQL, two pools',
  async (clock) => [
    await openStore({ url: POSTGRES_URL, clock }),
    await openStore({ url: POSTGRES_URL, clock }),
  ],
  pg.skip,
);
