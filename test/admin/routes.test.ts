import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parsePolicySpec } from '../../src/limits/policy.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const orders = {
  id: 'orders',
  host: 'API.example.com',
  path: '/v1/orders/*',
  methods: { get: ['api_key', 'jwt'], POST: 'hmac' },
  upstream: { url: 'http://orders.internal:3000', strip_prefix: '/v1', timeout_ms: 5000 },
  scopes: ['orders:read'],
};

forEachDialect('admin API /routes', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  describe('200/201', () => {
    it('adds a route in canonical form, lists, shows, patches, replaces and removes it', async () => {
      const created = await h.call('POST', '/routes', { body: orders });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.host, 'api.example.com');
      assert.deepEqual(created.body.methods, { GET: ['api_key', 'jwt'], POST: ['hmac'] });
      assert.equal(created.body.created_at, '2026-01-01T00:00:00.000Z');
      assert.equal(created.headers['cache-control'], 'no-store');

      const list = await h.call('GET', '/routes', { token: h.tokens.viewer });
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.items.map((r: { id: string }) => r.id),
        ['orders'],
      );
      assert.equal(list.body.nextCursor, null);

      const shown = await h.call('GET', '/routes/orders', { token: h.tokens.viewer });
      assert.equal(shown.status, 200);
      assert.equal(shown.body.upstream.strip_prefix, '/v1');

      // A merge patch: upstream merges field by field, a method named null goes, the rest stays.
      h.clock.advance(1000);
      const patched = await h.call('PATCH', '/routes/orders', {
        body: { upstream: { timeout_ms: 2500 }, methods: { post: null, delete: 'hmac' }, scopes: null },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.deepEqual(patched.body.upstream, {
        url: 'http://orders.internal:3000',
        strip_prefix: '/v1',
        timeout_ms: 2500,
      });
      assert.deepEqual(patched.body.methods, { GET: ['api_key', 'jwt'], DELETE: ['hmac'] });
      assert.equal(patched.body.scopes, undefined);
      assert.equal(patched.body.host, 'api.example.com');
      assert.equal(patched.body.created_at, '2026-01-01T00:00:00.000Z');
      assert.equal(patched.body.updated_at, '2026-01-01T00:00:01.000Z');

      // PUT replaces the whole spec: what it leaves out is unset.
      const replaced = await h.call('PUT', '/routes/orders', {
        body: { path: '/v2/orders/*', methods: { '*': 'public' }, upstream: { url: 'http://o:1' } },
      });
      assert.equal(replaced.status, 200, replaced.text);
      assert.equal(replaced.body.id, 'orders');
      assert.equal(replaced.body.host, '*');
      assert.deepEqual(replaced.body.upstream, { url: 'http://o:1' });

      const removed = await h.call('DELETE', '/routes/orders');
      assert.deepEqual(removed.body, { id: 'orders', removed: true });
      assert.equal((await h.call('GET', '/routes/orders')).status, 404);
    });

    it('pages by cursor without repeats or gaps', async () => {
      for (let i = 0; i < 7; i++) {
        const added = await h.call('POST', '/routes', {
          body: {
            id: `page-${i}`,
            path: `/page/${i}`,
            methods: { GET: 'public' },
            upstream: { url: 'http://u:1' },
          },
        });
        assert.equal(added.status, 201, added.text);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.call('GET', '/routes', { query: { limit: 3, ...(cursor ? { cursor } : {}) } });
        assert.equal(page.status, 200);
        seen.push(...page.body.items.map((r: { id: string }) => r.id));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(new Set(seen).size, 7);
      for (let i = 0; i < 7; i++) await h.call('DELETE', `/routes/page-${i}`);
    });
  });

  describe('400', () => {
    it('refuses wrong JSON types, unknown fields and malformed JSON', async () => {
      for (const body of [
        { ...orders, id: 'x1', path: 5 },
        { ...orders, id: 'x2', colour: 'red' },
        { ...orders, id: 'x3', upstream: { url: 'http://u:1', extra: true } },
        { ...orders, id: 'x4', upstream: { url: 'http://u:1', timeout_ms: '5000' } },
        {},
        '{"id":',
      ]) {
        const answer = await h.call('POST', '/routes', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.code, 'bad_request');
      }
      const patch = await h.call('PATCH', '/routes/anything', { body: { path: null } });
      assert.equal(patch.status, 400, 'path cannot be removed');
      assert.equal((await h.call('GET', '/routes')).body.items.length, 0, 'nothing written');
    });
  });

  describe('401/403', () => {
    it('needs a credential, and the admin role to change routes', async () => {
      assert.equal((await h.call('GET', '/routes', { token: null })).status, 401);
      const viewer = await h.call('POST', '/routes', { body: orders, token: h.tokens.viewer });
      assert.equal(viewer.status, 403);
      assert.equal(viewer.body.code, 'forbidden');
      assert.equal((await h.call('DELETE', '/routes/orders', { token: h.tokens.viewer })).status, 403);
      assert.equal((await h.call('GET', '/routes', { token: h.tokens.verifier })).status, 403);
    });
  });

  describe('404', () => {
    it('answers not_found for a missing route on every verb', async () => {
      for (const [method, body] of [
        ['GET', undefined],
        ['PUT', { path: '/g', methods: { GET: 'public' }, upstream: { url: 'http://u:1' } }],
        ['PATCH', { description: 'x' }],
        ['DELETE', undefined],
      ] as const) {
        const answer = await h.call(method, '/routes/ghost', { body });
        assert.equal(answer.status, 404, `${method}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
        assert.equal(answer.body.detail, 'route "ghost" not found');
      }
    });
  });

  describe('409', () => {
    it('refuses a second route with the same id', async () => {
      assert.equal((await h.call('POST', '/routes', { body: { ...orders, id: 'twice' } })).status, 201);
      const again = await h.call('POST', '/routes', {
        body: { ...orders, id: 'twice', path: '/elsewhere' },
      });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'conflict');
      await h.call('DELETE', '/routes/twice');
    });

    it('refuses to remove a route a policy is attached to, naming the policy', async () => {
      assert.equal((await h.call('POST', '/routes', { body: { ...orders, id: 'limited' } })).status, 201);
      await h.store.policies.insert(
        parsePolicySpec({
          id: 'ten',
          algorithm: 'fixed_window',
          limit: 10,
          window: '60s',
          key_by: ['key'],
          attach: ['route:limited'],
        }),
      );
      const refused = await h.call('DELETE', '/routes/limited');
      assert.equal(refused.status, 409);
      assert.equal(refused.body.code, 'conflict');
      assert.match(refused.body.detail, /route "limited" has policies attached \("ten"\)/);
      assert.equal((await h.call('GET', '/routes/limited')).status, 200, 'still there');
      await h.store.policies.remove('ten');
      assert.equal((await h.call('DELETE', '/routes/limited')).status, 200);
    });
  });

  describe('422', () => {
    it('names every bad field as route.<field> and changes nothing', async () => {
      const bad = await h.call('POST', '/routes', {
        body: { id: 'Bad Id', path: 'no-slash', methods: { GET: 'public' }, upstream: { url: 'ftp://u' } },
      });
      assert.equal(bad.status, 422);
      assert.equal(bad.body.code, 'invalid_input');
      assert.match(bad.body.detail, /route\.id/);
      const values = await h.call('POST', '/routes', {
        body: {
          id: 'x',
          path: 'no-slash',
          methods: { FETCH: 'public', GET: 'magic' },
          upstream: { url: 'ftp://u' },
        },
      });
      assert.equal(values.status, 422);
      const semantic = await h.call('POST', '/routes', {
        body: {
          id: 'x',
          path: 'no-slash',
          methods: { GET: ['public', 'jwt'] },
          upstream: { url: 'ftp://u' },
        },
      });
      assert.equal(semantic.status, 422);
      assert.match(semantic.body.detail, /route\.path: must start with "\/"/);
      assert.match(semantic.body.detail, /route\.upstream\.url: must use http:\/\/ or https:\/\//);
      assert.match(semantic.body.detail, /route\.methods\.GET: "public" cannot be combined/);
      const missing = await h.call('POST', '/routes', { body: { id: 'x' } });
      assert.equal(missing.status, 422);
      assert.match(missing.body.detail, /route\.path/);
      assert.equal((await h.call('GET', '/routes')).body.items.length, 0);
    });

    it('refuses an ambiguous table naming both routes, on add, replace and patch', async () => {
      const base = { methods: { GET: 'public' }, upstream: { url: 'http://u:1' } };
      assert.equal(
        (await h.call('POST', '/routes', { body: { id: 'a', path: '/x/:id', ...base } })).status,
        201,
      );
      assert.equal((await h.call('POST', '/routes', { body: { id: 'b', path: '/y', ...base } })).status, 201);
      const tie = await h.call('POST', '/routes', { body: { id: 'c', path: '/x/:name', ...base } });
      assert.equal(tie.status, 422);
      assert.match(tie.body.detail, /routes "a" and "c" both match/);
      const patched = await h.call('PATCH', '/routes/b', { body: { path: '/x/:other' } });
      assert.equal(patched.status, 422);
      assert.match(patched.body.detail, /routes "a" and "b" both match/);
      const replaced = await h.call('PUT', '/routes/b', { body: { path: '/x/:other', ...base } });
      assert.equal(replaced.status, 422);
      assert.equal((await h.call('GET', '/routes/b')).body.path, '/y', 'unchanged');
      await h.call('DELETE', '/routes/a');
      await h.call('DELETE', '/routes/b');
    });

    it('refuses a patch or replacement that changes the id, and a patch leaving the spec invalid', async () => {
      await h.call('POST', '/routes', { body: { ...orders, id: 'keep' } });
      for (const method of ['PUT', 'PATCH']) {
        const renamed = await h.call(method, '/routes/keep', { body: { ...orders, id: 'other' } });
        assert.equal(renamed.status, 422, method);
        assert.match(renamed.body.detail, /route\.id/);
      }
      const invalid = await h.call('PATCH', '/routes/keep', { body: { upstream: { retries: 9 } } });
      assert.equal(invalid.status, 422);
      assert.match(invalid.body.detail, /route\.upstream\.retries/);
      const noMethods = await h.call('PATCH', '/routes/keep', {
        body: { methods: { GET: null, POST: null } },
      });
      assert.equal(noMethods.status, 422);
      assert.match(noMethods.body.detail, /route\.methods: must name at least one method/);
      assert.equal((await h.call('GET', '/routes/keep')).body.upstream.timeout_ms, 5000, 'unchanged');
      await h.call('DELETE', '/routes/keep');
    });
  });

  describe('audit', () => {
    it('records each change with the token as actor', async () => {
      await h.call('POST', '/routes', { body: { ...orders, id: 'audited' } });
      await h.call('PATCH', '/routes/audited', { body: { description: 'd' } });
      await h.call('DELETE', '/routes/audited');
      const entries = (await h.store.auditLog.list({})).filter((e) => JSON.stringify(e).includes('audited'));
      assert.ok(entries.length >= 3, JSON.stringify(entries));
      assert.ok(entries.every((e) => e.actor.startsWith('token:')));
    });
  });
});
