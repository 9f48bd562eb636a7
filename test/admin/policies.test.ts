import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, createKey } from '../../src/identity/operations.js';
import { parseRouteSpec } from '../../src/routing/spec.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const ROUTE = parseRouteSpec({
  id: 'orders',
  path: '/orders/*',
  methods: { GET: 'public' },
  upstream: { url: 'http://orders.internal:3000' },
});

const tenPerMinute = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  algorithm: 'fixed_window',
  limit: 10,
  window: '60s',
  key_by: ['key'],
  ...extra,
});

forEachDialect('admin API /policies', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
    // Routes are another resource; the store is enough to give attachments a target.
    await h.store.routes.insert(ROUTE);
  });
  after(() => h.close());

  describe('200/201', () => {
    it('adds, lists, shows, changes and removes a policy', async () => {
      const created = await h.call('POST', '/policies', {
        body: tenPerMinute('ten', { attach: ['route:orders'], description: 'ten a minute' }),
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(
        { ...created.body, created_at: undefined, updated_at: undefined },
        {
          id: 'ten',
          description: 'ten a minute',
          algorithm: 'fixed_window',
          limit: 10,
          window: '60s',
          key_by: ['key'],
          attach: ['route:orders'],
          on_store_failure: 'local',
          shadow: false,
          refund_on_5xx: false,
          created_at: undefined,
          updated_at: undefined,
        },
      );
      assert.equal(created.body.created_at, '2026-01-01T00:00:00.000Z');
      assert.equal(created.headers['cache-control'], 'no-store');

      const listed = await h.call('GET', '/policies');
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.items.map((p: { id: string }) => p.id),
        ['ten'],
      );
      assert.equal(listed.body.nextCursor, null);

      const shown = await h.call('GET', '/policies/ten');
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body, created.body);

      // PATCH is `policies update`: given fields replace, the rest is kept.
      h.clock.advance(1000);
      const patched = await h.call('PATCH', '/policies/ten', { body: { limit: '20', shadow: true } });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.body.limit, 20, 'digit strings are accepted, as the CLI sends them');
      assert.equal(patched.body.shadow, true);
      assert.equal(patched.body.window, '60s');
      assert.deepEqual(patched.body.attach, ['route:orders']);
      assert.equal(patched.body.updated_at, '2026-01-01T00:00:01.000Z');

      // A new algorithm drops the fields that only meant something for the old one.
      const switched = await h.call('PATCH', '/policies/ten', {
        body: { algorithm: 'token_bucket', rate: '5/s', attach: [], description: '' },
      });
      assert.equal(switched.status, 200, switched.text);
      assert.equal(switched.body.window, undefined);
      assert.equal(switched.body.limit, undefined);
      assert.equal(switched.body.attach, undefined);
      assert.equal(switched.body.description, undefined);
      assert.equal(switched.body.rate, '5/s');

      // null removes an optional field (the burst goes back to its default).
      const burst = await h.call('PATCH', '/policies/ten', { body: { burst: 50 } });
      assert.equal(burst.body.burst, 50);
      const noBurst = await h.call('PATCH', '/policies/ten', { body: { burst: null } });
      assert.equal(noBurst.status, 200, noBurst.text);
      assert.equal('burst' in noBurst.body, false);

      // PUT replaces the whole spec: what is not given takes its default.
      const replaced = await h.call('PUT', '/policies/ten', {
        body: { algorithm: 'concurrency', limit: 2, key_by: ['client'] },
      });
      assert.equal(replaced.status, 200, replaced.text);
      assert.equal(replaced.body.shadow, false);
      assert.equal(replaced.body.rate, undefined);
      assert.equal(replaced.body.created_at, created.body.created_at);

      const removed = await h.call('DELETE', '/policies/ten');
      assert.equal(removed.status, 200);
      assert.deepEqual(removed.body, { id: 'ten', removed: true });
      assert.equal((await h.call('GET', '/policies/ten')).status, 404);
    });

    it('filters by attachment and pages by cursor', async () => {
      for (let i = 0; i < 5; i++)
        await h.call('POST', '/policies', {
          body: tenPerMinute(`page-${i}`, { attach: i % 2 === 0 ? ['global'] : ['client:mobile-app'] }),
        });
      const global = await h.call('GET', '/policies', { query: { attach: 'global' } });
      assert.deepEqual(
        global.body.items.map((p: { id: string }) => p.id),
        ['page-0', 'page-2', 'page-4'],
      );
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.call('GET', '/policies', { query: { limit: 2, ...(cursor ? { cursor } : {}) } });
        assert.equal(page.status, 200);
        seen.push(...page.body.items.map((p: { id: string }) => p.id));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
      for (let i = 0; i < 5; i++) await h.call('DELETE', `/policies/page-${i}`);
    });

    it('accepts client and key attachments whose target does not exist yet (documented)', async () => {
      const created = await h.call('POST', '/policies', {
        body: tenPerMinute('later', { attach: ['client:not-yet', 'key:key_NotYet'] }),
      });
      assert.equal(created.status, 201, created.text);
      await h.call('DELETE', '/policies/later');
    });

    it('viewers may read', async () => {
      await h.call('POST', '/policies', { body: tenPerMinute('readable') });
      assert.equal((await h.call('GET', '/policies', { token: h.tokens.viewer })).status, 200);
      assert.equal((await h.call('GET', '/policies/readable', { token: h.tokens.viewer })).status, 200);
      await h.call('DELETE', '/policies/readable');
    });
  });

  describe('400', () => {
    it('refuses a body of the wrong shape, unknown fields and malformed JSON', async () => {
      for (const body of [
        {},
        { ...tenPerMinute('x'), colour: 'red' },
        { ...tenPerMinute('x'), key_by: 'key' },
        { ...tenPerMinute('x'), shadow: 'yes' },
        { ...tenPerMinute('x'), limit: [10] },
        '{"id":',
      ]) {
        const answer = await h.call('POST', '/policies', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.code, 'bad_request');
      }
      await h.call('POST', '/policies', { body: tenPerMinute('shape') });
      for (const body of [{ id: 'other' }, { colour: 'red' }, { attach: null }]) {
        const answer = await h.call('PATCH', '/policies/shape', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
      }
      await h.call('DELETE', '/policies/shape');
    });
  });

  describe('401/403', () => {
    it('needs a credential, and the admin role to write', async () => {
      assert.equal((await h.call('GET', '/policies', { token: null })).status, 401);
      await h.call('POST', '/policies', { body: tenPerMinute('guarded') });
      for (const [method, path, body] of [
        ['POST', '/policies', tenPerMinute('by-viewer')],
        ['PATCH', '/policies/guarded', { limit: 1 }],
        ['PUT', '/policies/guarded', tenPerMinute('guarded')],
        ['DELETE', '/policies/guarded', undefined],
      ] as const) {
        const answer = await h.call(method, path, { body, token: h.tokens.viewer });
        assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'forbidden');
      }
      assert.equal((await h.call('GET', '/policies', { token: h.tokens.verifier })).status, 403);
      assert.equal((await h.call('GET', '/policies/guarded')).body.limit, 10, 'unchanged');
      await h.call('DELETE', '/policies/guarded');
    });
  });

  describe('404', () => {
    it('answers not_found for a missing policy on every verb', async () => {
      for (const [method, body] of [
        ['GET', undefined],
        ['PATCH', { limit: 3 }],
        ['PUT', tenPerMinute('ghost')],
        ['DELETE', undefined],
      ] as const) {
        const answer = await h.call(method, '/policies/ghost', { body });
        assert.equal(answer.status, 404, `${method}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
        assert.equal(answer.body.detail, 'policy "ghost" not found');
      }
    });
  });

  describe('409', () => {
    it('refuses a second policy with the same id', async () => {
      await h.call('POST', '/policies', { body: tenPerMinute('twice') });
      const again = await h.call('POST', '/policies', { body: tenPerMinute('twice') });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'conflict');
      await h.call('DELETE', '/policies/twice');
    });

    it('refuses to remove a policy a key still names', async () => {
      await h.call('POST', '/policies', { body: tenPerMinute('in-use') });
      // A key that names the policy (made with the identity operations: keys are another resource).
      const identity = { store: h.store, keys: h.deps.keys, clock: h.clock, keyPrefix: 'pcl' };
      await createClient(identity, { id: 'c', name: 'C' });
      const key = await createKey(identity, { clientId: 'c', environment: 'live', policy: 'in-use' });
      const refused = await h.call('DELETE', '/policies/in-use');
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.code, 'conflict');
      assert.match(refused.body.detail, new RegExp(`still named by key "${key.record.id}"`));
      assert.equal((await h.call('GET', '/policies/in-use')).status, 200, 'still there');
    });

    it('names the first ten routes and keys that use a policy, and says there are more', async () => {
      await h.call('POST', '/policies', { body: tenPerMinute('crowded') });
      const identity = { store: h.store, keys: h.deps.keys, clock: h.clock, keyPrefix: 'pcl' };
      await createClient(identity, { id: 'crowd', name: 'Crowd' });
      const ids: string[] = [];
      for (let i = 0; i < 12; i++)
        ids.push(
          (await createKey(identity, { clientId: 'crowd', environment: 'live', policy: 'crowded' })).record
            .id,
        );
      // One more key on another policy: never named.
      await createKey(identity, { clientId: 'crowd', environment: 'live', policy: 'in-use' });
      const refused = await h.call('DELETE', '/policies/crowded');
      assert.equal(refused.status, 409, refused.text);
      const named = [...refused.body.detail.matchAll(/key "([^"]+)"/g)].map((m: RegExpMatchArray) => m[1]);
      assert.equal(named.length, 10, refused.body.detail);
      for (const id of named) assert.ok(ids.includes(id as string), `${id} names the policy`);
      assert.match(refused.body.detail, /" and more; change them first$/);
      assert.equal((await h.call('GET', '/policies/crowded')).status, 200, 'still there');
    });
  });

  describe('422', () => {
    it('names each bad field at once and changes nothing', async () => {
      const before = (await h.call('GET', '/policies')).body.items;
      const bad = await h.call('POST', '/policies', {
        body: { id: 'bad', algorithm: 'leaky', limit: 0, window: 'soon', key_by: ['key'] },
      });
      assert.equal(bad.status, 422, bad.text);
      assert.equal(bad.body.code, 'invalid_input');
      assert.match(bad.body.detail, /policy\.algorithm: must be one of token_bucket, sliding_window/);
      const window = await h.call('POST', '/policies', {
        body: { id: 'bad', algorithm: 'fixed_window', limit: 0, window: 'soon', key_by: ['key'] },
      });
      assert.equal(window.status, 422);
      assert.match(window.body.detail, /policy\.limit: must be a positive integer \(got 0\)/);
      assert.match(window.body.detail, /policy\.window: must be a duration like 500ms/);
      for (const [body, field] of [
        [tenPerMinute('Bad Id'), /policy\.id/],
        [tenPerMinute('x', { limit: 'ten' }), /policy\.limit: must be a positive integer \(got "ten"\)/],
        [tenPerMinute('x', { key_by: ['key', 'global'] }), /policy\.key_by: global cannot be combined/],
        [tenPerMinute('x', { key_by: [] }), /policy\.key_by/],
        [tenPerMinute('x', { attach: ['route:'] }), /policy\.attach\[0\]: "route:" names no route/],
        [tenPerMinute('x', { attach: ['everyone'] }), /policy\.attach\[0\]: must be global, route:<id>/],
        [tenPerMinute('x', { rate: '5/s' }), /policy\.rate: does not apply to fixed_window/],
        [tenPerMinute('x', { on_store_failure: 'maybe' }), /policy\.on_store_failure/],
        [
          { id: 'x', algorithm: 'token_bucket', key_by: ['key'] },
          /policy\.rate: is required for token_bucket/,
        ],
        [{ id: 'x', key_by: ['key'] }, /policy\.algorithm: is required/],
        [
          { id: 'x', algorithm: 'quota', limit: 5, period: 'day', time_zone: 'Mars/Base', key_by: ['key'] },
          /policy\.time_zone: is not a known IANA time zone/,
        ],
      ] as const) {
        const answer = await h.call('POST', '/policies', { body });
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.match(answer.body.detail, field);
      }
      assert.deepEqual((await h.call('GET', '/policies')).body.items, before);
    });

    it('refuses an attachment to a route that does not exist (422 at attach[i])', async () => {
      const answer = await h.call('POST', '/policies', {
        body: tenPerMinute('nowhere', { attach: ['global', 'route:nowhere'] }),
      });
      assert.equal(answer.status, 422);
      assert.equal(answer.body.code, 'invalid_input');
      assert.equal(answer.body.detail, 'policy.attach[1]: route "nowhere" does not exist');
      await h.call('POST', '/policies', { body: tenPerMinute('somewhere') });
      const patched = await h.call('PATCH', '/policies/somewhere', { body: { attach: ['route:nowhere'] } });
      assert.equal(patched.status, 422);
      assert.match(patched.body.detail, /route "nowhere" does not exist/);
      assert.equal((await h.call('GET', '/policies/somewhere')).body.attach, undefined, 'unchanged');
      await h.call('DELETE', '/policies/somewhere');
    });

    it('reports a contradiction in a change instead of dropping it', async () => {
      await h.call('POST', '/policies', {
        body: { id: 'slots', algorithm: 'concurrency', limit: 5, key_by: ['key'] },
      });
      const answer = await h.call('PATCH', '/policies/slots', { body: { window: '1m' } });
      assert.equal(answer.status, 422);
      assert.match(answer.body.detail, /policy\.window: does not apply to concurrency/);
      const put = await h.call('PUT', '/policies/slots', { body: tenPerMinute('other') });
      assert.equal(put.status, 422);
      assert.match(put.body.detail, /policy\.id: must be "slots"/);
      await h.call('DELETE', '/policies/slots');
    });

    it('refuses a cursor it did not issue', async () => {
      const answer = await h.call('GET', '/policies', { query: { cursor: '!!!' } });
      assert.equal(answer.status, 422);
    });
  });

  describe('audit', () => {
    it('records each change with the token as actor', async () => {
      await h.call('POST', '/policies', { body: tenPerMinute('audited') });
      await h.call('PATCH', '/policies/audited', { body: { limit: 11 } });
      await h.call('DELETE', '/policies/audited');
      const entries = (await h.store.auditLog.list({})).filter(
        (e) => e.targetType === 'policies' && e.targetId === 'audited',
      );
      assert.deepEqual(entries.map((e) => e.action).sort(), [
        'policies.insert',
        'policies.remove',
        'policies.replace',
      ]);
      assert.ok(entries.every((e) => e.actor.startsWith('token:')));
    });
  });
});
