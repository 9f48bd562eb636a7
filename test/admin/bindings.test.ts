import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, createKey } from '../../src/identity/operations.js';
import type { BindingRecord, InterceptRecord } from '../../src/store/types.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const HOUR = 3_600_000;

forEachDialect('admin API /bindings and /intercepts', (open) => {
  let h: AdminHarness;
  let single: string;
  let multi: string;
  let off: string;
  let secret: string;
  const identity = () => ({ store: h.store, keys: h.deps.keys, clock: h.clock, keyPrefix: 'pcl' });
  const newKey = async (input: Partial<Parameters<typeof createKey>[1]> = {}) =>
    (await createKey(identity(), { clientId: 'app', environment: 'live', ...input })).record.id;

  before(async () => {
    h = await open();
    await createClient(identity(), { id: 'app', name: 'App' });
    const issued = await createKey(identity(), {
      clientId: 'app',
      environment: 'live',
      bindingMode: 'single',
    });
    single = issued.record.id;
    secret = issued.key;
    multi = await newKey({ bindingMode: 'multiple', maxIps: 5 });
    off = await newKey();
  });
  after(() => h.close());

  describe('200/201', () => {
    it('rebinds, lists, shows and unbinds a key, without its secret', async () => {
      const rebound = await h.call('POST', `/bindings/${single}/rebind`, { body: { ips: [' 10.0.0.1 '] } });
      assert.equal(rebound.status, 200, rebound.text);
      assert.equal(rebound.body.length, 1);
      assert.deepEqual(
        [rebound.body[0].key, rebound.body[0].address, rebound.body[0].slot, rebound.body[0].source],
        [single, '10.0.0.1/32', 0, 'admin'],
      );
      assert.equal(rebound.body[0].createdAt, '2026-01-01T00:00:00.000Z');

      const listed = await h.call('GET', '/bindings', { query: { key: single }, token: h.tokens.viewer });
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(
        listed.body.items.map((b: { address: string }) => b.address),
        ['10.0.0.1/32'],
      );
      assert.equal(listed.body.nextCursor, null);

      const shown = await h.call('GET', `/bindings/${single}`, { token: h.tokens.viewer });
      assert.equal(shown.status, 200, shown.text);
      assert.deepEqual(
        [shown.body.key, shown.body.mode, shown.body.maxIps, shown.body.banned, shown.body.archived],
        [single, 'single', null, null, []],
      );
      assert.equal(shown.body.bindings[0].address, '10.0.0.1/32');
      for (const answer of [rebound, listed, shown]) assert.ok(!answer.text.includes(secret));

      const unbound = await h.call('POST', `/bindings/${single}/unbind`);
      assert.equal(unbound.status, 200, unbound.text);
      assert.deepEqual(unbound.body, { key: single, removed: 1 });
      assert.deepEqual((await h.call('GET', '/bindings', { query: { key: single } })).body.items, []);
      assert.deepEqual((await h.call('POST', `/bindings/${single}/unbind`)).body, {
        key: single,
        removed: 0,
      });
    });

    it('pages bindings by cursor without repeats or gaps', async () => {
      const ips = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '2001:db8::/64'];
      const rebound = await h.call('POST', `/bindings/${multi}/rebind`, { body: { ips } });
      assert.equal(rebound.status, 200, rebound.text);
      assert.equal(rebound.body.at(-1).address, '2001:db8::/64');
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.call('GET', '/bindings', {
          query: { key: multi, limit: 2, ...(cursor ? { cursor } : {}) },
        });
        assert.equal(page.status, 200, page.text);
        seen.push(...page.body.items.map((b: { id: string }) => b.id));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(new Set(seen), new Set(rebound.body.map((b: { id: string }) => b.id)));
      assert.equal(seen.length, 5);
    });

    it('walks every binding of every key exactly once, in list order, one page at a time', async () => {
      const keys = [
        await newKey({ bindingMode: 'multiple', maxIps: 4 }),
        await newKey({ bindingMode: 'multiple', maxIps: 4 }),
        await newKey({ bindingMode: 'single' }),
      ];
      // Rebinding stamps one creation time on all of a key's bindings: pages must split them
      // by id alone.
      for (const [n, key] of keys.entries()) {
        const ips = Array.from({ length: n === 2 ? 1 : 4 }, (_, i) => `10.20.${n}.${i + 1}`);
        const rebound = await h.call('POST', `/bindings/${key}/rebind`, { body: { ips } });
        assert.equal(rebound.status, 200, rebound.text);
      }
      const everything = (await h.store.bindings.list()).map((b) => b.id);
      assert.ok(everything.length >= 9);
      for (const limit of [1, 2, 4]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await h.call('GET', '/bindings', {
            query: { limit, ...(cursor ? { cursor } : {}) },
            token: h.tokens.viewer,
          });
          assert.equal(page.status, 200, page.text);
          assert.ok(page.body.items.length <= limit);
          seen.push(...page.body.items.map((b: { id: string }) => b.id));
          cursor = page.body.nextCursor ?? undefined;
          pages++;
        } while (cursor);
        assert.deepEqual(seen, everything, `pages of ${limit}`);
        assert.equal(pages, Math.ceil(everything.length / limit), `no empty last page (limit ${limit})`);
      }
    });

    it('still accepts a cursor naming a binding that is gone', async () => {
      const key = await newKey({ bindingMode: 'multiple', maxIps: 3 });
      await h.call('POST', `/bindings/${key}/rebind`, { body: { ips: ['10.30.0.1', '10.30.0.2'] } });
      const first = await h.call('GET', '/bindings', { query: { key, limit: 1 } });
      assert.equal(first.status, 200, first.text);
      assert.ok(first.body.nextCursor);
      const [kept] = (await h.store.bindings.list({ keyId: key })).slice(1);
      await h.store.bindings.removeAll(key);
      await h.store.bindings.claim({ ...(kept as BindingRecord), slot: 1 });
      const rest = await h.call('GET', '/bindings', { query: { key, cursor: first.body.nextCursor } });
      assert.equal(rest.status, 200, rest.text);
      assert.deepEqual(
        rest.body.items.map((b: { id: string }) => b.id),
        [kept?.id],
      );
      assert.equal(rest.body.nextCursor, null);
    });

    it('edits a key’s binding settings', async () => {
      const key = await newKey({ bindingMode: 'single' });
      const edited = await h.call('PATCH', `/bindings/${key}`, {
        body: { mode: 'multiple', maxIps: 3, bindPrefixV4: 24 },
      });
      assert.equal(edited.status, 200, edited.text);
      assert.deepEqual(edited.body, {
        key,
        mode: 'multiple',
        maxIps: 3,
        bindPrefixV4: 24,
        bindPrefixV6: null,
      });
      const cleared = await h.call('PATCH', `/bindings/${key}`, {
        body: { bindPrefixV4: null, bindPrefixV6: 56 },
      });
      assert.equal(cleared.status, 200, cleared.text);
      assert.deepEqual([cleared.body.bindPrefixV4, cleared.body.bindPrefixV6], [null, 56]);
      assert.equal((await h.store.apiKeys.get(key))?.bindingMode, 'multiple');
    });

    it('bans through the blocklist (201, then 200 replacing it) and unbans', async () => {
      const key = await newKey();
      const banned = await h.call('POST', `/bindings/${key}/ban`, {
        body: { reason: 'leaked', expires: '24h' },
      });
      assert.equal(banned.status, 201, banned.text);
      assert.deepEqual(
        [banned.body.kind, banned.body.value, banned.body.reason, banned.body.source, banned.body.active],
        ['key', key, 'leaked', 'manual', true],
      );
      assert.equal(banned.body.expiresAt, new Date(h.clock.now() + 24 * HOUR).toISOString());
      const again = await h.call('POST', `/bindings/${key}/ban`, { body: { reason: 'still leaked' } });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.id, banned.body.id);
      assert.deepEqual([again.body.reason, again.body.expiresAt], ['still leaked', null]);
      const shown = await h.call('GET', `/bindings/${key}`);
      assert.deepEqual(shown.body.banned, { reason: 'still leaked', expiresAt: null });
      const blocks = await h.call('GET', '/blocks', { query: { kind: 'key' } });
      assert.ok(blocks.body.items.some((b: { value: string }) => b.value === key));

      const unbanned = await h.call('POST', `/bindings/${key}/unban`);
      assert.equal(unbanned.status, 200, unbanned.text);
      assert.deepEqual(unbanned.body, { key, unbanned: true });
      assert.equal((await h.call('GET', `/bindings/${key}`)).body.banned, null);
    });

    it('shows only a ban in force', async () => {
      const key = await newKey();
      await h.call('POST', `/bindings/${key}/ban`, { body: { reason: 'brief', expires: '1h' } });
      assert.equal((await h.call('GET', `/bindings/${key}`)).body.banned.reason, 'brief');
      h.clock.advance(2 * HOUR);
      assert.equal((await h.call('GET', `/bindings/${key}`)).body.banned, null);
    });
  });

  describe('intercepts', () => {
    let base: number;
    const inserted: InterceptRecord[] = [];
    before(async () => {
      base = h.clock.now();
      // 30 intercepts: two keys, two routes, one per minute, and five in one millisecond.
      for (let i = 0; i < 30; i++) {
        const record: InterceptRecord = {
          id: `icp_${String(i).padStart(4, '0')}`,
          at: i >= 25 ? base - 1000 * 60_000 : base - i * 60_000,
          keyId: i % 2 === 0 ? single : multi,
          clientId: 'app',
          ip: `192.0.2.${i}`,
          bound: ['10.0.0.1/32'],
          routeId: i % 3 === 0 ? 'orders' : 'users',
          method: 'GET',
          path: `/p/${i}`,
          requestId: `req_${i}`,
        };
        inserted.push(record);
        await h.store.intercepts.insert(record);
      }
    });
    /** Newest first, then by id descending (ids are zero-padded: the same in any collation). */
    const expected = (keep: (r: InterceptRecord) => boolean) =>
      inserted
        .filter(keep)
        .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
        .map((r) => r.requestId);
    async function walk(query: Record<string, string | number>): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.call('GET', '/intercepts', {
          query: { ...query, ...(cursor ? { cursor } : {}) },
          token: h.tokens.viewer,
        });
        assert.equal(page.status, 200, page.text);
        ids.push(...page.body.items.map((r: { requestId: string }) => r.requestId));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
        assert.ok(pages < 100, 'paging ends');
      } while (cursor);
      return { ids, pages };
    }

    it('lists newest first in the CLI’s view', async () => {
      const page = await h.call('GET', '/intercepts', { query: { limit: 1 } });
      assert.equal(page.status, 200, page.text);
      assert.deepEqual(page.body.items[0], {
        at: new Date(base).toISOString(),
        key: single,
        client: 'app',
        ip: '192.0.2.0',
        bound: ['10.0.0.1/32'],
        route: 'orders',
        method: 'GET',
        path: '/p/0',
        requestId: 'req_0',
      });
      assert.notEqual(page.body.nextCursor, null);
    });

    it('pages every intercept exactly once, also within one millisecond', async () => {
      for (const limit of [1, 2, 4, 7, 30, 1000]) {
        const { ids, pages } = await walk({ limit });
        assert.deepEqual(
          ids,
          expected(() => true),
          `limit ${limit}`,
        );
        assert.equal(pages, Math.max(1, Math.ceil(30 / limit)), `limit ${limit}`);
      }
    });

    it('filters by key, route, since and until, and pages the filtered list', async () => {
      assert.deepEqual(
        (await walk({ key: multi, limit: 4 })).ids,
        expected((r) => r.keyId === multi),
      );
      assert.deepEqual(
        (await walk({ route: 'orders', limit: 3 })).ids,
        expected((r) => r.routeId === 'orders'),
      );
      assert.deepEqual(
        (await walk({ key: single, route: 'users', limit: 2 })).ids,
        expected((r) => r.keyId === single && r.routeId === 'users'),
      );
      // since: a duration back from now (inclusive); until: an ISO date (exclusive).
      assert.deepEqual(
        (await walk({ since: '10m', limit: 3 })).ids,
        expected((r) => r.at >= base - 10 * 60_000),
      );
      const until = new Date(base - 5 * 60_000).toISOString();
      assert.deepEqual(
        (await walk({ since: '20m', until, limit: 5 })).ids,
        expected((r) => r.at >= base - 20 * 60_000 && r.at < base - 5 * 60_000),
      );
      assert.deepEqual((await walk({ key: 'key_nobody' })).ids, []);
    });

    it('shows the 20 newest of a key in its binding view', async () => {
      const shown = await h.call('GET', `/bindings/${single}`);
      assert.deepEqual(
        shown.body.recentIntercepts.map((r: { requestId: string }) => r.requestId),
        expected((r) => r.keyId === single).slice(0, 20),
      );
    });

    it('exports as NDJSON and CSV with the same filters', async () => {
      const ndjson = await h.call('GET', '/intercepts/export', {
        query: { key: multi },
        token: h.tokens.viewer,
      });
      assert.equal(ndjson.status, 200, ndjson.text);
      assert.match(String(ndjson.headers['content-type']), /application\/x-ndjson/);
      const lines = ndjson.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, inserted.filter((r) => r.keyId === multi).length);
      assert.ok(lines.every((l: { keyId: string }) => l.keyId === multi));
      assert.ok(
        lines.every((l, i) => i === 0 || l.at >= lines[i - 1].at),
        'oldest first',
      );

      const csv = await h.call('GET', '/intercepts/export', {
        query: { format: 'csv', route: 'orders', since: '1h' },
      });
      assert.equal(csv.status, 200, csv.text);
      assert.match(String(csv.headers['content-type']), /text\/csv/);
      assert.match(String(csv.headers['content-disposition']), /attachment; filename="intercepts\.csv"/);
      const rows = csv.text.trim().split('\r\n');
      assert.equal(rows[0], 'at,keyId,clientId,ip,bound,routeId,method,path,requestId');
      assert.equal(
        rows.length - 1,
        inserted.filter((r) => r.routeId === 'orders' && r.at >= base - HOUR).length,
      );
      assert.ok(rows.slice(1).every((row) => row.includes(',orders,')));
    });
  });

  describe('400', () => {
    it('refuses bodies and queries of the wrong shape', async () => {
      for (const [method, path, body] of [
        ['POST', `/bindings/${single}/rebind`, {}],
        ['POST', `/bindings/${single}/rebind`, { ips: '10.0.0.1' }],
        ['POST', `/bindings/${single}/rebind`, { ips: ['10.0.0.1'], cidr: 'x' }],
        ['PATCH', `/bindings/${single}`, { mode: 'sometimes' }],
        ['PATCH', `/bindings/${single}`, { maxIps: '3' }],
        ['PATCH', `/bindings/${single}`, { colour: 'red' }],
        ['POST', `/bindings/${single}/ban`, {}],
        ['POST', `/bindings/${single}/ban`, { reason: 'x', expires: 3 }],
        ['POST', `/bindings/${single}/unbind`, { now: true }],
      ] as const) {
        const answer = await h.call(method, path, { body });
        assert.equal(answer.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'bad_request');
      }
      for (const query of [{ limit: 0 }, { limit: 'many' }]) {
        const answer = await h.call('GET', '/intercepts', { query });
        assert.equal(answer.status, 400, JSON.stringify(query));
      }
      assert.equal((await h.call('GET', '/intercepts/export', { query: { format: 'xml' } })).status, 400);
    });
  });

  describe('401/403', () => {
    it('needs a credential', async () => {
      const answer = await h.call('GET', '/bindings', { token: null });
      assert.equal(answer.status, 401);
    });
    it('lets a viewer read but not change, and a verifier do neither', async () => {
      for (const path of ['/bindings', `/bindings/${single}`, '/intercepts', '/intercepts/export'])
        assert.equal((await h.call('GET', path, { token: h.tokens.viewer })).status, 200, path);
      for (const [method, path, body] of [
        ['POST', `/bindings/${single}/unbind`, undefined],
        ['POST', `/bindings/${single}/rebind`, { ips: ['10.0.0.9'] }],
        ['PATCH', `/bindings/${single}`, { mode: 'off' }],
        ['POST', `/bindings/${single}/ban`, { reason: 'x' }],
        ['POST', `/bindings/${single}/unban`, undefined],
      ] as const) {
        const answer = await h.call(method, path, { body, token: h.tokens.viewer });
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal(answer.body.code, 'forbidden');
      }
      assert.equal((await h.call('GET', '/bindings', { token: h.tokens.verifier })).status, 403);
      assert.equal((await h.store.apiKeys.get(single))?.bindingMode, 'single', 'nothing changed');
      assert.deepEqual((await h.call('GET', `/bindings/${single}`)).body.banned, null);
    });
  });

  describe('404', () => {
    it('answers not_found for an unknown key on every verb', async () => {
      for (const [method, path, body] of [
        ['GET', '/bindings/key_ghost', undefined],
        ['POST', '/bindings/key_ghost/unbind', undefined],
        ['POST', '/bindings/key_ghost/rebind', { ips: ['10.0.0.1'] }],
        ['PATCH', '/bindings/key_ghost', { mode: 'single' }],
        ['POST', '/bindings/key_ghost/ban', { reason: 'x' }],
        ['POST', '/bindings/key_ghost/unban', undefined],
      ] as const) {
        const answer = await h.call(method, path, { body });
        assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
      }
    });
    it('answers not_found when unbanning a key that is not banned', async () => {
      const answer = await h.call('POST', `/bindings/${single}/unban`);
      assert.equal(answer.status, 404);
      assert.match(answer.body.detail, /is not banned/);
    });
  });

  describe('422', () => {
    it('names the field of a bad address, mode or count and changes nothing', async () => {
      const before = (await h.call('GET', '/bindings', { query: { key: multi } })).body.items;
      const cases: Array<[string, string, unknown, RegExp]> = [
        ['POST', `/bindings/${multi}/rebind`, { ips: ['10.0.0.0/99'] }, /^ips: .*not an IP address or CIDR/],
        ['POST', `/bindings/${multi}/rebind`, { ips: ['10.0.0.1', 'example.com'] }, /^ips: /],
        ['POST', `/bindings/${multi}/rebind`, { ips: [] }, /^ips: name at least one address/],
        [
          'POST',
          `/bindings/${multi}/rebind`,
          { ips: ['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'] },
          /^ips: .*at most 5/,
        ],
        ['POST', `/bindings/${off}/rebind`, { ips: ['10.0.0.1'] }, /^mode: .*binding "off"/],
        ['PATCH', `/bindings/${off}`, { mode: 'multiple' }, /^maxIps: /],
        ['PATCH', `/bindings/${multi}`, { maxIps: 0 }, /^maxIps: /],
        ['PATCH', `/bindings/${multi}`, { bindPrefixV4: 33 }, /^bindPrefixV4: /],
        ['PATCH', `/bindings/${multi}`, { bindPrefixV6: 129 }, /^bindPrefixV6: /],
        ['PATCH', `/bindings/${multi}`, {}, /nothing to change/],
        ['POST', `/bindings/${multi}/ban`, { reason: 'x', expires: 'soon' }, /^expires: /],
        [
          'POST',
          `/bindings/${multi}/ban`,
          { reason: 'x', expires: '2020-01-01T00:00:00Z' },
          /^expires: must be in the future/,
        ],
        ['POST', `/bindings/${multi}/ban`, { reason: '  ' }, /^reason: /],
      ];
      for (const [method, path, body, detail] of cases) {
        const answer = await h.call(method, path, { body });
        assert.equal(answer.status, 422, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, detail);
      }
      assert.deepEqual((await h.call('GET', '/bindings', { query: { key: multi } })).body.items, before);
      assert.equal((await h.store.apiKeys.get(off))?.bindingMode, 'off');
      assert.equal((await h.call('GET', `/bindings/${multi}`)).body.banned, null);
    });
    it('refuses a bindings cursor it did not issue', async () => {
      const encoded = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
      for (const cursor of [
        '!!!',
        encoded('no position'),
        encoded(`${multi} 123 bnd_x`),
        encoded(`${multi} 0000000000000123`),
        encoded(` 0000000000000123 bnd_x`),
        `${encoded(`${multi} 0000000000000123 bnd_x`)}=`,
      ]) {
        const answer = await h.call('GET', '/bindings', { query: { cursor } });
        assert.equal(answer.status, 422, `${cursor}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, /^cursor: /);
      }
    });
    it('names a bad time filter or cursor', async () => {
      for (const [query, field] of [
        [{ since: 'yesterday' }, /^since: /],
        [{ until: 'later' }, /^until: /],
        [{ cursor: '!!!' }, /^cursor: /],
        [{ cursor: Buffer.from('no position').toString('base64url') }, /^cursor: /],
      ] as const) {
        const answer = await h.call('GET', '/intercepts', { query });
        assert.equal(answer.status, 422, JSON.stringify(query));
        assert.match(answer.body.detail, field);
      }
      const exported = await h.call('GET', '/intercepts/export', { query: { since: 'yesterday' } });
      assert.equal(exported.status, 422);
    });
  });

  describe('audit', () => {
    it('records rebind, unbind, edit and ban with the token as actor', async () => {
      const key = await newKey({ bindingMode: 'single' });
      await h.call('POST', `/bindings/${key}/rebind`, { body: { ips: ['10.7.0.1'] } });
      await h.call('POST', `/bindings/${key}/unbind`);
      await h.call('PATCH', `/bindings/${key}`, { body: { mode: 'all' } });
      await h.call('POST', `/bindings/${key}/ban`, { body: { reason: 'audit me' } });
      const entries = (await h.store.auditLog.list({})).filter((e) => JSON.stringify(e).includes(key));
      assert.ok(entries.length >= 4, JSON.stringify(entries));
      assert.ok(entries.every((e) => e.actor.startsWith('token:')));
      assert.ok(!JSON.stringify(entries).includes(secret));
    });
  });
});
