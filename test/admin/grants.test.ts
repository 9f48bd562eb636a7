import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const route = (id: string) => ({
  id,
  path: `/${id}/*`,
  methods: { GET: 'api_key', POST: 'api_key' },
  upstream: { url: 'http://u:1' },
});

forEachDialect('admin API /grants', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
    for (const name of ['app', 'partner']) {
      const added = await h.call('POST', '/clients', { body: { name } });
      assert.equal(added.status, 201, added.text);
    }
    for (const id of ['orders', 'billing']) {
      const added = await h.call('POST', '/routes', { body: route(id) });
      assert.equal(added.status, 201, added.text);
    }
  });
  after(() => h.close());

  describe('pages', () => {
    it('walk every page size, with each filter, to exactly the store list, cursors in the old form', async () => {
      // Clients whose ids sort byte-wise in another order than their creation ("a-" < "a." < "a0").
      for (const id of ['pg-a0', 'pg-a.', 'pg-a-']) {
        assert.equal((await h.call('POST', '/clients', { body: { id, name: id } })).status, 201);
        for (const r of ['orders', 'billing'])
          assert.equal((await h.call('POST', '/grants', { body: { client: id, route: r } })).status, 201);
      }
      const label = (g: { client: string; route: string }) => `${g.client} ${g.route}`;
      const queries: Array<Record<string, string>> = [
        {},
        { route: 'billing' },
        { client: 'pg-a.' },
        { client: 'pg-a0', route: 'orders' },
      ];
      for (const query of queries) {
        const expected = (
          await h.store.grants.list({
            ...(query['client'] ? { clientId: query['client'] } : {}),
            ...(query['route'] ? { routeId: query['route'] } : {}),
          })
        ).map((g) => `${g.clientId} ${g.routeId}`);
        assert.ok(expected.length > 0);
        for (const limit of [1, 2, 3]) {
          const seen: string[] = [];
          let cursor: string | undefined;
          do {
            const page = await h.call('GET', '/grants', {
              query: { ...query, limit, ...(cursor ? { cursor } : {}) },
              token: h.tokens.viewer,
            });
            assert.equal(page.status, 200, page.text);
            seen.push(...page.body.items.map(label));
            cursor = page.body.nextCursor ?? undefined;
            // A cursor is the base64url of "client route", as when the list was paged in memory.
            if (cursor) assert.equal(Buffer.from(cursor, 'base64url').toString(), seen.at(-1));
          } while (cursor);
          assert.deepEqual(seen, expected, `${JSON.stringify(query)}, pages of ${limit}`);
        }
      }
      const after = await h.call('GET', '/grants', {
        query: { cursor: Buffer.from('pg-a. orders').toString('base64url') },
      });
      assert.deepEqual(after.body.items.map(label).slice(0, 2), ['pg-a0 billing', 'pg-a0 orders']);
      // Removing the clients removes their grants: the other tests list grants too.
      for (const id of ['pg-a0', 'pg-a.', 'pg-a-'])
        assert.equal((await h.call('DELETE', `/clients/${id}`)).status, 200);
    });

    it('refuses cursors it did not issue', async () => {
      for (const cursor of ['!!!', Buffer.from('no-space').toString('base64url')]) {
        const answer = await h.call('GET', '/grants', { query: { cursor } });
        assert.equal(answer.status, 422, `${cursor}: ${answer.text}`);
        assert.match(answer.body.detail, /^cursor: /);
      }
    });
  });

  describe('200/201', () => {
    it('adds (201), replaces (200), lists with filters, shows and removes grants', async () => {
      const added = await h.call('POST', '/grants', {
        body: { client: 'app', route: 'orders', methods: ['get', 'POST', 'GET'] },
      });
      assert.equal(added.status, 201, added.text);
      assert.deepEqual(added.body, {
        client: 'app',
        route: 'orders',
        methods: ['GET', 'POST'],
        createdAt: '2026-01-01T00:00:00.000Z',
      });
      const all = await h.call('POST', '/grants', { body: { client: 'app', route: 'billing' } });
      assert.equal(all.status, 201);
      assert.deepEqual(all.body.methods, ['*'], 'default: every method the route serves');
      assert.equal(
        (await h.call('POST', '/grants', { body: { client: 'partner', route: 'orders' } })).status,
        201,
      );

      const replaced = await h.call('POST', '/grants', {
        body: { client: 'app', route: 'orders', methods: ['GET'] },
      });
      assert.equal(replaced.status, 200, replaced.text);
      assert.deepEqual(replaced.body.methods, ['GET']);

      const list = await h.call('GET', '/grants', { token: h.tokens.viewer });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.items.map((g: { client: string; route: string }) => `${g.client}/${g.route}`),
        ['app/billing', 'app/orders', 'partner/orders'],
      );
      const byClient = await h.call('GET', '/grants', { query: { client: 'app' } });
      assert.equal(byClient.body.items.length, 2);
      const byRoute = await h.call('GET', '/grants', { query: { route: 'orders' } });
      assert.deepEqual(
        byRoute.body.items.map((g: { client: string }) => g.client),
        ['app', 'partner'],
      );
      const both = await h.call('GET', '/grants', { query: { client: 'partner', route: 'orders' } });
      assert.equal(both.body.items.length, 1);
      assert.deepEqual((await h.call('GET', '/grants', { query: { client: 'nobody' } })).body.items, []);

      const paged = await h.call('GET', '/grants', { query: { limit: 2 } });
      assert.equal(paged.body.items.length, 2);
      const rest = await h.call('GET', '/grants', { query: { limit: 2, cursor: paged.body.nextCursor } });
      assert.deepEqual(
        rest.body.items.map((g: { client: string }) => g.client),
        ['partner'],
      );
      assert.equal(rest.body.nextCursor, null);

      const shown = await h.call('GET', '/grants/app/orders', { token: h.tokens.viewer });
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.methods, ['GET']);

      const removed = await h.call('DELETE', '/grants/partner/orders');
      assert.equal(removed.status, 200);
      assert.deepEqual(removed.body, { client: 'partner', route: 'orders', removed: true });
      assert.equal((await h.call('GET', '/grants/partner/orders')).status, 404);
    });

    it('keeps listing and removing a grant whose route was removed since', async () => {
      await h.call('POST', '/routes', { body: route('gone') });
      assert.equal((await h.call('POST', '/grants', { body: { client: 'app', route: 'gone' } })).status, 201);
      assert.equal((await h.call('DELETE', '/routes/gone')).status, 200);
      assert.equal((await h.call('GET', '/grants', { query: { route: 'gone' } })).body.items.length, 1);
      assert.equal((await h.call('DELETE', '/grants/app/gone')).status, 200);
    });
  });

  describe('400', () => {
    it('refuses a body of the wrong shape', async () => {
      for (const body of [
        {},
        { client: 'app' },
        { client: 'app', route: 'orders', methods: 'GET' },
        { client: 'app', route: 'orders', colour: 'red' },
      ]) {
        const answer = await h.call('POST', '/grants', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.code, 'bad_request');
      }
    });
  });

  describe('401/403', () => {
    it('lets a viewer read but not change grants', async () => {
      assert.equal((await h.call('GET', '/grants', { token: null })).status, 401);
      const add = await h.call('POST', '/grants', {
        body: { client: 'app', route: 'orders' },
        token: h.tokens.viewer,
      });
      assert.equal(add.status, 403);
      assert.equal((await h.call('DELETE', '/grants/app/orders', { token: h.tokens.viewer })).status, 403);
    });
  });

  describe('404', () => {
    it('answers not_found for a grant that does not exist', async () => {
      for (const method of ['GET', 'DELETE']) {
        const answer = await h.call(method, '/grants/app/nowhere');
        assert.equal(answer.status, 404, method);
        assert.equal(answer.body.code, 'not_found');
        assert.equal(answer.body.detail, 'no grant for client app on route nowhere');
      }
    });
  });

  describe('422', () => {
    it('refuses a grant naming a client or route that does not exist, naming the field', async () => {
      const noRoute = await h.call('POST', '/grants', { body: { client: 'app', route: 'nowhere' } });
      assert.equal(noRoute.status, 422);
      assert.equal(noRoute.body.code, 'invalid_input');
      assert.equal(noRoute.body.detail, 'route: route "nowhere" does not exist');
      const neither = await h.call('POST', '/grants', { body: { client: 'ghost', route: 'nowhere' } });
      assert.equal(neither.status, 422);
      assert.match(neither.body.detail, /^client: client "ghost" does not exist$/m);
      assert.match(neither.body.detail, /^route: route "nowhere" does not exist$/m);
      assert.equal((await h.call('GET', '/grants', { query: { route: 'nowhere' } })).body.items.length, 0);
    });

    it('refuses bad ids and methods', async () => {
      for (const [body, field] of [
        [{ client: 'app', route: 'orders', methods: [] }, 'methods'],
        [{ client: 'app', route: 'orders', methods: ['GET', 'NOT A METHOD'] }, 'methods'],
        [{ client: 'Not An Id', route: 'orders' }, 'client'],
        [{ client: 'app', route: 'Bad/Route' }, 'route'],
      ] as const) {
        const answer = await h.call('POST', '/grants', { body });
        assert.equal(answer.status, 422, JSON.stringify(body));
        assert.match(answer.body.detail, new RegExp(`^${field}: `));
      }
    });
  });
});
