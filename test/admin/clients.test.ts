import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

forEachDialect('admin API /clients', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  describe('200/201', () => {
    it('creates, lists, shows, updates, suspends, activates and removes a client', async () => {
      const created = await h.call('POST', '/clients', {
        body: { name: 'Mobile App', metadata: { team: 'a' } },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.id, 'mobile-app');
      assert.equal(created.body.status, 'active');
      assert.equal(created.headers['cache-control'], 'no-store');

      const list = await h.call('GET', '/clients');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.items.map((c: { id: string }) => c.id),
        ['mobile-app'],
      );
      assert.equal(list.body.nextCursor, null);

      const shown = await h.call('GET', '/clients/mobile-app');
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.keys, []);
      assert.deepEqual(shown.body.metadata, { team: 'a' });

      const renamed = await h.call('PATCH', '/clients/mobile-app', { body: { name: 'Mobile' } });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, 'Mobile');

      const suspended = await h.call('POST', '/clients/mobile-app/suspend', { body: { reason: 'unpaid' } });
      assert.equal(suspended.body.status, 'suspended');
      assert.equal(suspended.body.statusReason, 'unpaid');
      const active = await h.call('POST', '/clients/mobile-app/activate');
      assert.equal(active.status, 200, active.text);
      assert.equal(active.body.statusReason, null);

      const removed = await h.call('DELETE', '/clients/mobile-app');
      assert.deepEqual(removed.body, { id: 'mobile-app', removed: true });
      assert.equal((await h.call('GET', '/clients/mobile-app')).status, 404);
    });

    it('pages by cursor without repeats or gaps', async () => {
      for (let i = 0; i < 7; i++) await h.call('POST', '/clients', { body: { name: `Pager ${i}` } });
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.call('GET', '/clients', { query: { limit: 3, ...(cursor ? { cursor } : {}) } });
        assert.equal(page.status, 200);
        seen.push(...page.body.items.map((c: { id: string }) => c.id));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(new Set(seen).size, 7);
    });

    it('issues an HMAC secret once and never shows it again', async () => {
      await h.call('POST', '/clients', { body: { name: 'Signer', id: 'signer' } });
      const issued = await h.call('POST', '/clients/signer/hmac-secrets', { body: { overlap: '1h' } });
      assert.equal(issued.status, 201, issued.text);
      assert.ok(issued.body.secret.length >= 32);
      const shown = await h.call('GET', '/clients/signer');
      assert.equal(shown.body.hmacSecrets.length, 1);
      assert.ok(!shown.text.includes(issued.body.secret));
      assert.ok(!(await h.call('GET', '/clients')).text.includes(issued.body.secret));
    });
  });

  describe('400', () => {
    it('refuses a body of the wrong shape, unknown fields and malformed JSON', async () => {
      for (const body of [{}, { name: 42 }, { name: 'x', colour: 'red' }, '{"name":']) {
        const answer = await h.call('POST', '/clients', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.code, 'bad_request');
        assert.match(String(answer.headers['content-type']), /application\/problem\+json/);
      }
    });
    it('refuses a cursor it did not issue', async () => {
      const answer = await h.call('GET', '/clients', { query: { cursor: '!!!' } });
      assert.equal(answer.status, 422);
      assert.equal(answer.body.code, 'invalid_input');
    });
  });

  describe('404', () => {
    it('answers not_found for a missing client on every verb', async () => {
      for (const [method, path, body] of [
        ['GET', '/clients/ghost', undefined],
        ['PATCH', '/clients/ghost', { name: 'x' }],
        ['POST', '/clients/ghost/suspend', {}],
        ['DELETE', '/clients/ghost', undefined],
        ['POST', '/clients/ghost/hmac-secrets', {}],
      ] as const) {
        const answer = await h.call(method, path, { body });
        assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
      }
    });
    it('answers no_route for an unknown endpoint', async () => {
      const answer = await h.call('GET', '/nothing-here');
      assert.equal(answer.status, 404);
      assert.equal(answer.body.code, 'no_route');
    });
  });

  describe('409', () => {
    it('refuses a second client with the same id', async () => {
      await h.call('POST', '/clients', { body: { name: 'Twice' } });
      const again = await h.call('POST', '/clients', { body: { name: 'Twice' } });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'conflict');
    });
  });

  describe('422', () => {
    it('names the field of an unacceptable value and changes nothing', async () => {
      const before = (await h.call('GET', '/clients')).body.items.length;
      const badId = await h.call('POST', '/clients', { body: { name: 'Ok', id: 'Not An Id!' } });
      assert.equal(badId.status, 422);
      assert.match(badId.body.detail, /id/);
      const badMeta = await h.call('POST', '/clients', {
        body: { name: 'Ok', metadata: { 'bad key': 'v' } },
      });
      assert.equal(badMeta.status, 422);
      const badOverlap = await h.call('POST', '/clients', { body: { name: 'Overlap' } });
      assert.equal(badOverlap.status, 201);
      const overlap = await h.call('POST', '/clients/overlap/hmac-secrets', { body: { overlap: 'soon' } });
      assert.equal(overlap.status, 422);
      assert.match(overlap.body.detail, /overlap/);
      assert.equal((await h.call('GET', '/clients')).body.items.length, before + 1);
    });
  });

  describe('audit', () => {
    it('records each change with the token as actor and no secret', async () => {
      await h.call('POST', '/clients', { body: { name: 'Audited' } });
      const issued = await h.call('POST', '/clients/audited/hmac-secrets', {});
      const entries = (await h.store.auditLog.list({})).filter((e) => JSON.stringify(e).includes('audited'));
      assert.ok(entries.length >= 2, JSON.stringify(entries));
      assert.ok(entries.every((e) => e.actor.startsWith('token:')));
      assert.ok(!JSON.stringify(entries).includes(issued.body.secret));
    });
  });
});
