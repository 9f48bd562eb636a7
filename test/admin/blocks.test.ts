import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BlockRecord } from '../../src/store/types.js';
import {
  type AdminHarness,
  assertCursorsRefused,
  assertPagesWalk,
  forEachDialect,
  walkPages,
} from '../helpers/admin-api.js';

const HOUR = 3_600_000;

/** A cursor as the API encodes one. */
const encoded = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

forEachDialect('admin API /blocks', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  const add = (body: Record<string, unknown>, token?: string) => h.call('POST', '/blocks', { body, token });
  const ids = (answer: { body: { items: Array<{ id: string }> } }) => answer.body.items.map((b) => b.id);

  describe('200/201', () => {
    it('adds a network (normalized), shows, lists and removes it by id', async () => {
      const created = await add({ kind: 'ip', value: '203.0.113.77/24', reason: 'scanner' });
      assert.equal(created.status, 201, created.text);
      assert.match(created.body.id, /^blk_/);
      assert.deepEqual(
        [created.body.kind, created.body.value, created.body.reason, created.body.source],
        ['ip', '203.0.113.0/24', 'scanner', 'manual'],
      );
      assert.deepEqual([created.body.expiresAt, created.body.active], [null, true]);
      assert.equal(created.body.createdAt, new Date(h.clock.now()).toISOString());

      const shown = await h.call('GET', `/blocks/${created.body.id}`, { token: h.tokens.viewer });
      assert.deepEqual(shown.body, created.body);
      const listed = await h.call('GET', '/blocks', { token: h.tokens.viewer });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.items, [created.body]);
      assert.equal(listed.body.nextCursor, null);

      const removed = await h.call('DELETE', `/blocks/${created.body.id}`);
      assert.equal(removed.status, 200, removed.text);
      assert.deepEqual(removed.body, created.body);
      assert.deepEqual((await h.call('GET', '/blocks')).body.items, []);
    });

    it('re-adding the same kind and value replaces the entry (200, same id) instead of a conflict', async () => {
      const first = await add({ kind: 'cidr', value: '198.51.100.0/24', reason: 'first', expires: '1h' });
      assert.equal(first.status, 201, first.text);
      assert.equal(first.body.kind, 'ip', '`cidr` is stored as kind ip');
      const again = await add({ kind: 'ip', value: '198.51.100.9/24', reason: 'second' });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.id, first.body.id);
      assert.deepEqual([again.body.reason, again.body.expiresAt], ['second', null]);
      assert.equal(again.body.createdAt, first.body.createdAt);
      const all = await h.call('GET', '/blocks', { query: { kind: 'ip' } });
      assert.equal(all.body.items.filter((b: { value: string }) => b.value === '198.51.100.0/24').length, 1);
    });

    it('removes by kind and value, normalizing the value as when adding', async () => {
      const created = await add({ kind: 'ip', value: '2001:DB8::1', reason: 'x' });
      assert.equal(created.body.value, '2001:db8::1/128');
      const removed = await h.call('DELETE', '/blocks', { query: { kind: 'ip', value: '2001:db8:0::1' } });
      assert.equal(removed.status, 200, removed.text);
      assert.equal(removed.body.id, created.body.id);
      const client = await add({ kind: 'client', value: 'app', reason: 'unpaid' });
      const byClient = await h.call('DELETE', '/blocks', { query: { kind: 'client', value: 'app' } });
      assert.equal(byClient.body.id, client.body.id);
      assert.equal((await h.call('GET', `/blocks/${client.body.id}`)).status, 404);
    });

    it('parses expiries: a duration, an ISO date, "never" or none', async () => {
      const now = h.clock.now();
      const cases: Array<[string | undefined, string | null]> = [
        ['90d', new Date(now + 90 * 24 * HOUR).toISOString()],
        ['30m', new Date(now + 30 * 60_000).toISOString()],
        ['2027-03-04T05:06:07Z', '2027-03-04T05:06:07.000Z'],
        ['never', null],
        [undefined, null],
      ];
      for (const [i, [expires, expiresAt]] of cases.entries()) {
        const answer = await add({
          kind: 'user',
          value: `expiry-${i}`,
          reason: 'x',
          ...(expires ? { expires } : {}),
        });
        assert.equal(answer.status, 201, answer.text);
        assert.equal(answer.body.expiresAt, expiresAt, String(expires));
      }
    });

    it('filters by kind, source and active, and pages by cursor', async () => {
      const t0 = h.clock.now();
      for (let i = 0; i < 5; i++) {
        await add({
          kind: 'key',
          value: `key_page${i}`,
          reason: 'page',
          ...(i < 2 ? { expires: '1h' } : {}),
        });
        h.clock.advance(1);
      }
      await h.store.blocks.upsert({
        id: 'blk_fromanomaly',
        kind: 'user',
        value: 'bot-7',
        reason: 'anomaly: burst',
        source: 'anomaly',
        expiresAt: null,
      });
      h.clock.advance(2 * HOUR);
      const keys = await h.call('GET', '/blocks', { query: { kind: 'key' } });
      assert.deepEqual(
        keys.body.items.map((b: { value: string }) => b.value),
        ['key_page0', 'key_page1', 'key_page2', 'key_page3', 'key_page4'],
      );
      assert.deepEqual(
        keys.body.items.map((b: { active: boolean }) => b.active),
        [false, false, true, true, true],
      );
      const active = await h.call('GET', '/blocks', { query: { kind: 'key', active: true } });
      assert.deepEqual(
        active.body.items.map((b: { value: string }) => b.value),
        ['key_page2', 'key_page3', 'key_page4'],
      );
      const expired = await h.call('GET', '/blocks', { query: { kind: 'key', active: false } });
      assert.deepEqual(
        expired.body.items.map((b: { value: string }) => b.value),
        ['key_page0', 'key_page1'],
      );
      const anomaly = await h.call('GET', '/blocks', { query: { source: 'anomaly' } });
      assert.deepEqual(ids(anomaly), ['blk_fromanomaly']);
      const manualUsers = await h.call('GET', '/blocks', { query: { source: 'manual', kind: 'user' } });
      assert.ok(!ids(manualUsers).includes('blk_fromanomaly'));

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.call('GET', '/blocks', {
          query: { kind: 'key', limit: 2, ...(cursor ? { cursor } : {}) },
        });
        assert.equal(page.status, 200, page.text);
        seen.push(...ids(page));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids(keys));
      assert.ok(t0 < h.clock.now());
    });

    it('walks every entry exactly once at any page size, with and without filters', async () => {
      // Entries of one millisecond: pages must split them by id alone ("-" < "B" < "a" byte-wise).
      for (const [id, source, expiresAt] of [
        ['blk_walka', 'anomaly', null],
        ['blk_walkB', 'threshold', h.clock.now() + HOUR],
        ['blk_walk-z', 'anomaly', h.clock.now() + HOUR],
      ] as const)
        await h.store.blocks.upsert({
          id,
          kind: 'user',
          value: `walk-${id}`,
          reason: 'walk',
          source,
          expiresAt,
        });
      for (let i = 0; i < 3; i++) await add({ kind: 'ip', value: `192.0.2.${100 + i}`, reason: 'walk' });
      await add({ kind: 'client', value: 'walk-client', reason: 'walk', expires: '1h' });
      h.clock.advance(2 * HOUR);
      await add({ kind: 'ip', value: '192.0.2.200', reason: 'walk', expires: '30m' });
      await add({ kind: 'user', value: 'walk-later', reason: 'walk' });

      const now = h.clock.now();
      type Query = Record<string, string | boolean>;
      /** What `/blocks` lists for `query`: the stored entries (already in page order), filtered. */
      const expected = async (query: Query) =>
        (await h.store.blocks.list())
          .filter(
            (b) =>
              (query['kind'] === undefined || b.kind === (query['kind'] === 'cidr' ? 'ip' : query['kind'])) &&
              (query['source'] === undefined || b.source === query['source']) &&
              (query['active'] === undefined ||
                query['active'] === (b.expiresAt === null || b.expiresAt > now)),
          )
          .map((b) => b.id);
      const walk = (query: Query, limit: number) => walkPages(h, '/blocks', query, limit);

      const walked = (await expected({})).filter((id) => id.startsWith('blk_walk'));
      assert.deepEqual(walked, ['blk_walk-z', 'blk_walkB', 'blk_walka']);
      const queries: Query[] = [
        {},
        { kind: 'user' },
        { kind: 'cidr' },
        { source: 'anomaly' },
        { active: true },
        { active: false },
        { kind: 'user', active: false },
        { kind: 'ip', source: 'manual', active: true },
        { kind: 'key', source: 'threshold' },
      ];
      await assertPagesWalk(h, '/blocks', queries, expected);
      assert.ok((await expected({ active: false })).length >= 4);

      const { items } = await walk({}, 4);
      for (const item of items) assert.deepEqual(item, (await h.call('GET', `/blocks/${item.id}`)).body);
    });

    it('continues from a cursor in the form it always had (16-digit time, a space, the id)', async () => {
      const all = await h.store.blocks.list();
      assert.ok(all.length > 3);
      const third = all[2] as BlockRecord;
      const cursor = encoded(`${String(third.createdAt).padStart(16, '0')} ${third.id}`);
      const first = await h.call('GET', '/blocks', { query: { limit: 3 } });
      assert.equal(first.body.nextCursor, cursor);
      const rest = await h.call('GET', '/blocks', { query: { cursor, limit: 1000 } });
      assert.equal(rest.status, 200, rest.text);
      assert.deepEqual(
        ids(rest),
        all.slice(3).map((b) => b.id),
      );
      assert.equal(rest.body.nextCursor, null);
    });
  });

  describe('400', () => {
    it('refuses bodies and queries of the wrong shape', async () => {
      for (const body of [
        {},
        { kind: 'ip', value: '10.0.0.1' },
        { kind: 'asn', value: '64500', reason: 'x' },
        { kind: 'ip', value: 10, reason: 'x' },
        { kind: 'ip', value: '10.0.0.1', reason: 'x', source: 'anomaly' },
        '{"kind":',
      ]) {
        const answer = await h.call('POST', '/blocks', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.code, 'bad_request');
      }
      for (const query of [{ kind: 'asn' }, { active: 'maybe' }, { source: 'robot' }, { limit: 0 }] as Array<
        Record<string, string | number>
      >) {
        assert.equal((await h.call('GET', '/blocks', { query })).status, 400, JSON.stringify(query));
      }
      assert.equal((await h.call('DELETE', '/blocks')).status, 400);
      assert.equal((await h.call('DELETE', '/blocks', { query: { kind: 'ip' } })).status, 400);
    });
  });

  describe('401/403', () => {
    it('lets a viewer read but not add or remove', async () => {
      const created = await add({ kind: 'user', value: 'viewer-target', reason: 'x' });
      assert.equal((await h.call('GET', '/blocks', { token: h.tokens.viewer })).status, 200);
      for (const [method, path, body, query] of [
        ['POST', '/blocks', { kind: 'ip', value: '10.0.0.1', reason: 'x' }, undefined],
        ['DELETE', `/blocks/${created.body.id}`, undefined, undefined],
        ['DELETE', '/blocks', undefined, { kind: 'user', value: 'viewer-target' }],
      ] as const) {
        const answer = await h.call(method, path, { body, query, token: h.tokens.viewer });
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal(answer.body.code, 'forbidden');
      }
      assert.equal((await h.call('GET', `/blocks/${created.body.id}`)).status, 200, 'still there');
      assert.equal((await h.call('GET', '/blocks', { token: null })).status, 401);
    });
  });

  describe('404', () => {
    it('answers not_found for an unknown entry', async () => {
      for (const [method, path, query] of [
        ['GET', '/blocks/blk_ghost', undefined],
        ['DELETE', '/blocks/blk_ghost', undefined],
        ['DELETE', '/blocks', { kind: 'ip', value: '192.0.2.55' }],
        ['DELETE', '/blocks', { kind: 'key', value: 'key_ghost' }],
      ] as const) {
        const answer = await h.call(method, path, { query });
        assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
        assert.match(answer.body.detail, /^no block /);
      }
    });
  });

  describe('422', () => {
    it('names the field of a bad value, reason or expiry and adds nothing', async () => {
      const before = (await h.call('GET', '/blocks')).body.items.length;
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ kind: 'ip', value: '10.0.0.0/99', reason: 'x' }, /^value: .*not an IP address or CIDR/],
        [{ kind: 'cidr', value: '300.1.1.1', reason: 'x' }, /^value: .*not an IP address or CIDR/],
        [{ kind: 'key', value: 'not a key!', reason: 'x' }, /^value: is not a key id/],
        [{ kind: 'client', value: 'Bad Client', reason: 'x' }, /^value: /],
        [{ kind: 'user', value: 'line\nbreak', reason: 'x' }, /^value: /],
        [{ kind: 'ip', value: '10.0.0.1', reason: ' ' }, /^reason: /],
        [{ kind: 'ip', value: '10.0.0.1', reason: 'x', expires: 'tomorrow' }, /^expires: /],
        [
          { kind: 'ip', value: '10.0.0.1', reason: 'x', expires: '2020-01-01T00:00:00Z' },
          /^expires: must be in the future/,
        ],
      ];
      for (const [body, detail] of cases) {
        const answer = await add(body);
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, detail);
      }
      assert.equal((await h.call('GET', '/blocks')).body.items.length, before);
      const badRemove = await h.call('DELETE', '/blocks', { query: { kind: 'ip', value: 'nonsense' } });
      assert.equal(badRemove.status, 422);
      assert.match(badRemove.body.detail, /^value: /);
      const badCursor = await h.call('GET', '/blocks', { query: { cursor: '!!!' } });
      assert.equal(badCursor.status, 422);
    });

    it('refuses a blocks cursor it did not issue', async () => {
      await assertCursorsRefused(h, '/blocks', [
        '!!!',
        encoded('no position'),
        encoded('123 blk_x'),
        encoded('000000000000123 blk_x'),
        encoded('0000000000000123'),
        encoded('0000000000000123 '),
        `${encoded('0000000000000123 blk_x')}=`,
      ]);
    });
  });

  describe('audit', () => {
    it('records adds and removals with the token as actor', async () => {
      const created = await add({ kind: 'user', value: 'audited-user', reason: 'audit' });
      await h.call('DELETE', `/blocks/${created.body.id}`);
      const entries = (await h.store.auditLog.list({})).filter((e) =>
        JSON.stringify(e).includes('audited-user'),
      );
      assert.ok(entries.length >= 2, JSON.stringify(entries));
      assert.ok(entries.every((e) => e.actor.startsWith('token:')));
    });
  });
});
