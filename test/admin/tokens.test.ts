import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const HOUR = 3_600_000;

forEachDialect('admin API /tokens', (open) => {
  let h: AdminHarness;
  /** Every plaintext token seen in this suite: none may appear outside its create answer. */
  const issued: string[] = [];

  const create = async (body: Record<string, unknown>) => {
    const answer = await h.call('POST', '/tokens', { body });
    assert.equal(answer.status, 201, answer.text);
    issued.push(answer.body.token);
    return answer.body as { id: string; token: string; [field: string]: unknown };
  };
  const assertNoToken = (what: string, text: string) => {
    for (const token of issued) {
      assert.ok(!text.includes(token), `${what} contains a token`);
      assert.ok(!text.includes(token.slice(12)), `${what} contains the random part of a token`);
    }
  };

  before(async () => {
    h = await open();
    issued.push(...Object.values(h.tokens));
  });
  after(() => h.close());

  describe('200/201', () => {
    it('creates a token of each role; the plaintext is in the create answer only', async () => {
      for (const role of ['admin', 'viewer', 'verifier'] as const) {
        const answer = await h.call('POST', '/tokens', {
          body: { role, name: `${role} robot`, expires: '30d' },
        });
        assert.equal(answer.status, 201, answer.text);
        assert.equal(answer.headers['cache-control'], 'no-store');
        issued.push(answer.body.token);
        assert.match(answer.body.token, /^pclsvc_/);
        assert.match(answer.body.id, /^tok_/);
        assert.equal(answer.body.role, role);
        assert.equal(answer.body.name, `${role} robot`);
        assert.ok(answer.body.token.startsWith(answer.body.prefix));
        assert.equal(answer.body.expiresAt, new Date(h.clock.now() + 30 * 24 * HOUR).toISOString());
        assert.equal(answer.body.revokedAt, null);
        assert.ok(!('hash' in answer.body));
        const shown = await h.call('GET', `/tokens/${answer.body.id}`);
        assert.equal(shown.status, 200);
        const { token: _plaintext, ...view } = answer.body;
        assert.deepEqual(shown.body, view);
      }
      const defaults = await create({ role: 'viewer' });
      assert.equal(defaults['name'], 'service token');
      assert.equal(defaults['expiresAt'], null);
    });

    it('lists tokens by role and revocation, paged by cursor, never with a token', async () => {
      const all = await h.call('GET', '/tokens');
      assert.equal(all.status, 200);
      assert.ok(all.body.items.length >= 3);
      assertNoToken('GET /tokens', all.text);
      const verifiers = await h.call('GET', '/tokens', { query: { role: 'verifier' } });
      assert.ok(verifiers.body.items.length >= 1);
      assert.ok(verifiers.body.items.every((t: { role: string }) => t.role === 'verifier'));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await h.call('GET', '/tokens', { query: { limit: 2, ...(cursor ? { cursor } : {}) } });
        seen.push(...page.body.items.map((t: { id: string }) => t.id));
        cursor = page.body.nextCursor ?? undefined;
      } while (cursor);
      assert.deepEqual(
        seen,
        all.body.items.map((t: { id: string }) => t.id),
      );
    });

    it('a revoked token stops working at once and stays listed', async () => {
      const viewer = await create({ role: 'viewer', name: 'dashboard' });
      assert.equal((await h.call('GET', '/keys', { token: viewer.token })).status, 200);
      assert.equal((await h.call('GET', '/tokens', { token: viewer.token })).status, 200);
      const revoked = await h.call('POST', `/tokens/${viewer.id}/revoke`);
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.body.id, viewer.id);
      assert.equal(revoked.body.revokedAt, new Date(h.clock.now()).toISOString());
      assertNoToken('POST /tokens/:id/revoke', revoked.text);
      const refused = await h.call('GET', '/keys', { token: viewer.token });
      assert.equal(refused.status, 401);
      assert.equal(refused.body.code, 'invalid_credentials');
      const listed = await h.call('GET', '/tokens', { query: { revoked: true } });
      assert.ok(listed.body.items.some((t: { id: string }) => t.id === viewer.id));
      const live = await h.call('GET', '/tokens', { query: { revoked: false } });
      assert.ok(!live.body.items.some((t: { id: string }) => t.id === viewer.id));
    });

    it('an admin token created through the API can make changes; an expired one cannot', async () => {
      const admin = await create({ role: 'admin', expires: '1h' });
      const client = await h.call('POST', '/clients', { body: { name: 'Robot made' }, token: admin.token });
      assert.equal(client.status, 201, client.text);
      h.clock.advance(2 * HOUR);
      const late = await h.call('GET', '/tokens', { token: admin.token });
      assert.equal(late.status, 401);
      assert.equal(late.body.code, 'invalid_credentials');
    });
  });

  describe('400', () => {
    it('refuses bodies of the wrong shape and unknown fields', async () => {
      for (const body of [
        {},
        { role: 'root' },
        { role: 'viewer', name: 7 },
        { role: 'viewer', scopes: ['x'] },
        { role: 'viewer', expires: 90 },
        { role: 'viewer', token: 'pclsvc_chosen' },
        '{"role":',
      ]) {
        const answer = await h.call('POST', '/tokens', { body });
        assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'bad_request');
      }
      const some = (await h.call('GET', '/tokens')).body.items[0].id;
      const extra = await h.call('POST', `/tokens/${some}/revoke`, { body: { reason: 'x' } });
      assert.equal(extra.status, 400);
      assert.equal((await h.call('GET', '/tokens', { query: { role: 'root' } })).status, 400);
    });
  });

  describe('401/403', () => {
    it('asks for a credential and refuses a malformed one', async () => {
      assert.equal((await h.call('GET', '/tokens', { token: null })).status, 401);
      const fake = await h.call('GET', '/tokens', { token: 'pclsvc_notarealtokennotarealtokennotarealtok' });
      assert.equal(fake.status, 401);
    });

    it('lets a viewer list tokens but not create or revoke one', async () => {
      const target = await create({ role: 'verifier' });
      assert.equal((await h.call('GET', '/tokens', { token: h.tokens.viewer })).status, 200);
      assert.equal((await h.call('GET', `/tokens/${target.id}`, { token: h.tokens.viewer })).status, 200);
      const made = await h.call('POST', '/tokens', { body: { role: 'admin' }, token: h.tokens.viewer });
      assert.equal(made.status, 403);
      assert.equal(made.body.code, 'forbidden');
      const revoke = await h.call('POST', `/tokens/${target.id}/revoke`, { token: h.tokens.viewer });
      assert.equal(revoke.status, 403);
      assert.equal((await h.call('GET', `/tokens/${target.id}`)).body.revokedAt, null);
    });

    it('refuses a verifier token on every tokens endpoint', async () => {
      const target = await create({ role: 'verifier' });
      for (const [method, path, body] of [
        ['GET', '/tokens', undefined],
        ['GET', `/tokens/${target.id}`, undefined],
        ['POST', '/tokens', { role: 'admin' }],
        ['POST', `/tokens/${target.id}/revoke`, {}],
      ] as const) {
        const answer = await h.call(method, path, { body, token: target.token });
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal(answer.body.code, 'forbidden');
      }
    });
  });

  describe('404', () => {
    it('answers not_found for an unknown token', async () => {
      for (const [method, path] of [
        ['GET', '/tokens/tok_ghost'],
        ['POST', '/tokens/tok_ghost/revoke'],
      ] as const) {
        const answer = await h.call(method, path);
        assert.equal(answer.status, 404, `${method} ${path}`);
        assert.equal(answer.body.code, 'not_found');
      }
    });
  });

  describe('409', () => {
    it('refuses to revoke a token twice', async () => {
      const token = await create({ role: 'verifier' });
      assert.equal((await h.call('POST', `/tokens/${token.id}/revoke`)).status, 200);
      const revokedAt = (await h.call('GET', `/tokens/${token.id}`)).body.revokedAt;
      h.clock.advance(1000);
      const again = await h.call('POST', `/tokens/${token.id}/revoke`);
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'conflict');
      assert.equal((await h.call('GET', `/tokens/${token.id}`)).body.revokedAt, revokedAt);
    });
  });

  describe('422', () => {
    it('names the field of an unacceptable value and creates nothing', async () => {
      const before = (await h.call('GET', '/tokens')).body.items.length;
      for (const [body, field] of [
        [{ role: 'viewer', expires: 'soon' }, 'expires'],
        [{ role: 'viewer', expires: '2001-01-01T00:00:00Z' }, 'expires'],
        [{ role: 'viewer', name: 'line\nbreak' }, 'name'],
        [{ role: 'viewer', name: '' }, 'name'],
      ] as const) {
        const answer = await h.call('POST', '/tokens', { body });
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, new RegExp(`^${field}: `));
      }
      assert.equal((await h.call('GET', '/tokens')).body.items.length, before);
    });
  });

  describe('secrets', () => {
    it('no token appears in any list, get or the audit log', async () => {
      const list = await h.call('GET', '/tokens');
      assertNoToken('GET /tokens', list.text);
      for (const { id } of list.body.items as Array<{ id: string }>)
        assertNoToken(`GET /tokens/${id}`, (await h.call('GET', `/tokens/${id}`)).text);
      const audit = await h.store.auditLog.list({});
      assert.ok(audit.some((e) => e.action === 'serviceTokens.insert'));
      assert.ok(audit.some((e) => e.action === 'serviceTokens.revoke'));
      assertNoToken('the audit log', JSON.stringify(audit));
    });
  });
});
