import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_PREFIX } from '../../src/admin/api/plugin.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const PASSWORD = 'correct horse battery staple';

forEachDialect('admin API authentication', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
    for (const [username, role] of [
      ['alice', 'admin'],
      ['victor', 'viewer'],
    ] as const) {
      const added = await h.call('POST', '/users', { body: { username, password: PASSWORD, role } });
      assert.equal(added.status, 201, added.text);
    }
  });
  after(() => h.close());

  const login = (username: string, password: string, ip = '198.51.100.7') =>
    h.app.inject({
      method: 'POST',
      url: `${API_PREFIX}/auth/login`,
      remoteAddress: ip,
      payload: { username, password },
    });

  describe('401: credentials', () => {
    it('asks for a credential when none is sent', async () => {
      const answer = await h.call('GET', '/clients', { token: null });
      assert.equal(answer.status, 401);
      assert.equal(answer.body.code, 'missing_credentials');
      assert.match(String(answer.headers['www-authenticate']), /^Bearer/);
    });
    it('refuses malformed, unknown and revoked tokens alike', async () => {
      for (const token of ['nonsense', 'pclsvc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'pclses_x']) {
        const answer = await h.call('GET', '/clients', { token });
        assert.equal(answer.status, 401, token);
        assert.equal(answer.body.code, 'invalid_credentials');
      }
      const basic = await h.call('GET', '/clients', {
        token: null,
        headers: { authorization: 'Basic YTpi' },
      });
      assert.equal(basic.status, 401);
    });
  });

  describe('403: roles', () => {
    it('lets a viewer read but not write', async () => {
      assert.equal((await h.call('GET', '/clients', { token: h.tokens.viewer })).status, 200);
      const write = await h.call('POST', '/clients', { token: h.tokens.viewer, body: { name: 'Nope' } });
      assert.equal(write.status, 403);
      assert.equal(write.body.code, 'forbidden');
      const remove = await h.call('DELETE', '/clients/x', { token: h.tokens.viewer });
      assert.equal(remove.status, 403);
    });
    it('gives a verifier token nothing on the admin API', async () => {
      for (const [method, path] of [
        ['GET', '/clients'],
        ['POST', '/clients'],
        ['GET', '/users'],
      ] as const) {
        const answer = await h.call(method, path, {
          token: h.tokens.verifier,
          body: method === 'POST' ? {} : undefined,
        });
        assert.equal(answer.status, 403, `${method} ${path}`);
      }
    });
  });

  describe('login', () => {
    it('returns a session token that authenticates as the user', async () => {
      const answer = await login('Alice', PASSWORD);
      assert.equal(answer.statusCode, 200, answer.body);
      const session = answer.json();
      assert.match(session.token, /^pclses_/);
      const me = await h.call('GET', '/auth/me', { token: session.token });
      assert.equal(me.body.name, 'user:alice');
      assert.equal(me.body.role, 'admin');
      assert.equal(me.body.csrfToken, session.csrfToken);
      const cookie = String(answer.headers['set-cookie']);
      assert.match(cookie, /portcullis_session=pclses_/);
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      assert.match(cookie, /Path=\/admin/);
    });

    it('answers an unknown user, a disabled user and a wrong password identically', async () => {
      await h.call('POST', '/users', { body: { username: 'dora', password: PASSWORD, role: 'viewer' } });
      await h.call('PATCH', '/users/dora', { body: { disabled: true } });
      const answers = [
        await login('nobody', PASSWORD, '203.0.113.1'),
        await login('alice', 'wrong password!!', '203.0.113.2'),
        await login('dora', PASSWORD, '203.0.113.3'),
      ];
      const shapes = answers.map((a) => {
        const { requestId: _, ...rest } = a.json();
        return { status: a.statusCode, rest, type: a.headers['content-type'] };
      });
      assert.equal(shapes[0]?.status, 401);
      assert.deepEqual(shapes[1], shapes[0]);
      assert.deepEqual(shapes[2], shapes[0]);
    });

    it('ends the session at logout and at expiry', async () => {
      const first = (await login('alice', PASSWORD)).json();
      const out = await h.call('POST', '/auth/logout', { token: first.token });
      assert.deepEqual(out.body, { loggedOut: true });
      assert.equal((await h.call('GET', '/auth/me', { token: first.token })).status, 401);

      const second = (await login('alice', PASSWORD)).json();
      h.clock.advance(h.deps.settings.adminSessionTtl + 1);
      assert.equal((await h.call('GET', '/auth/me', { token: second.token })).status, 401);
    });

    it('ends every session of a user whose password is reset or who is disabled', async () => {
      const session = (await login('victor', PASSWORD)).json();
      assert.equal((await h.call('GET', '/clients', { token: session.token })).status, 200);
      const reset = await h.call('PATCH', '/users/victor', { body: { password: 'another long password' } });
      assert.equal(reset.status, 200, reset.text);
      assert.equal((await h.call('GET', '/clients', { token: session.token })).status, 401);
      assert.equal((await login('victor', 'another long password')).statusCode, 200);
    });
  });

  describe('brute force', () => {
    it('backs off after repeated failures, for the right password too, with Retry-After', async () => {
      const ip = '192.0.2.50';
      for (let i = 0; i < 5; i++)
        assert.equal((await login('alice', `guess ${i} xxxxxxx`, ip)).statusCode, 401);
      const locked = await login('alice', PASSWORD, ip);
      assert.equal(locked.statusCode, 429);
      assert.equal(locked.json().code, 'login_locked');
      assert.ok(Number(locked.headers['retry-after']) >= 1);
      // The same answer for a user who does not exist: a lock reveals nothing.
      for (let i = 0; i < 5; i++) await login('ghost', `guess ${i} xxxxxxx`, '192.0.2.51');
      const ghost = await login('ghost', PASSWORD, '192.0.2.51');
      assert.equal(ghost.statusCode, 429);
      // Every lock expires by itself.
      h.clock.advance(16 * 60_000);
      assert.equal((await login('alice', PASSWORD, ip)).statusCode, 200);
    });

    it('cannot lock an admin out from a known address, however many addresses attack', async () => {
      const home = '198.51.100.200';
      assert.equal((await login('alice', PASSWORD, home)).statusCode, 200);
      // 60 failures from 60 addresses: the account-wide lock engages for unknown addresses…
      for (let i = 0; i < 60; i++) await login('alice', `attack ${i} xxxxxxx`, `10.9.${i >> 8}.${i & 255}`);
      const stranger = await login('alice', PASSWORD, '10.200.0.1');
      assert.equal(stranger.statusCode, 429);
      // …but the admin's own address still gets in.
      assert.equal((await login('alice', PASSWORD, home)).statusCode, 200);
      h.clock.advance(3_600_000);
    });

    it('throttles guesses of the current password at a password change like logins', async () => {
      await h.call('POST', '/users', { body: { username: 'paula', password: PASSWORD, role: 'viewer' } });
      const session = (await login('paula', PASSWORD, '198.51.100.99')).json();
      const change = (current: string) =>
        h.app.inject({
          method: 'POST',
          url: `${API_PREFIX}/auth/password`,
          remoteAddress: '198.51.100.99',
          headers: { authorization: `Bearer ${session.token}` },
          payload: { currentPassword: current, newPassword: 'a new long password' },
        });
      for (let i = 0; i < 5; i++) assert.equal((await change(`wrong guess ${i} xx`)).statusCode, 401);
      const locked = await change(PASSWORD);
      assert.equal(locked.statusCode, 429);
      assert.equal(locked.json().code, 'login_locked');
      h.clock.advance(16 * 60_000);
      assert.equal((await change(PASSWORD)).statusCode, 200);
    });

    it('records a mistyped name as an unknown user, and a lock once, not per attempt', async () => {
      const entries = await h.store.auditLog.list({});
      assert.ok(!entries.some((e) => e.actor.includes('ghost')), 'typed names of nobody are not kept');
      assert.ok(entries.some((e) => e.actor === 'user:(unknown)'));
      const locks = entries.filter((e) => e.action === 'auth.login_locked' && e.source === '192.0.2.50');
      assert.equal(locks.length, 1);
    });

    it('audits logins, failures and locks without the password', async () => {
      const entries = await h.store.auditLog.list({});
      const actions = new Set(entries.map((e) => e.action));
      for (const action of ['auth.login', 'auth.login_failed', 'auth.login_locked', 'auth.logout'])
        assert.ok(actions.has(action), action);
      const text = JSON.stringify(entries);
      assert.ok(!text.includes(PASSWORD));
      assert.ok(!text.includes('pclses_'));
      assert.ok(!text.includes('scrypt$'));
    });
  });

  describe('503', () => {
    it('serves no login when the throttle state cannot answer (fail closed)', async () => {
      const other = await open();
      try {
        await other.call('POST', '/users', {
          body: { username: 'carol', password: PASSWORD, role: 'admin' },
        });
        await other.deps.state?.close();
        const answer = await other.app.inject({
          method: 'POST',
          url: `${API_PREFIX}/auth/login`,
          payload: { username: 'carol', password: PASSWORD },
        });
        assert.equal(answer.statusCode, 503, answer.body);
        assert.equal(answer.json().code, 'store_unavailable');
        assert.ok(!answer.body.includes('token'));
      } finally {
        await other.close();
      }
    });
  });

  describe('cookie sessions and CSRF', () => {
    let cookie: string;
    let csrf: string;
    before(async () => {
      const answer = await login('alice', PASSWORD, '198.51.100.201');
      cookie = `portcullis_session=${answer.json().token}`;
      csrf = answer.json().csrfToken;
    });
    const withCookie = (method: string, headers: Record<string, string>, payload?: unknown) =>
      h.app.inject({
        method: method as 'GET',
        url: `${API_PREFIX}/clients`,
        headers: { cookie, host: 'admin.test', ...headers },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });

    it('reads with the cookie alone', async () => {
      assert.equal((await withCookie('GET', {})).statusCode, 200);
    });
    it('refuses a cookie write without the CSRF token, with a wrong one, or from another site', async () => {
      const cases: Array<Record<string, string>> = [
        {},
        { 'x-csrf-token': 'wrong' },
        { 'x-csrf-token': csrf, origin: 'https://evil.test' },
        { 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' },
        { 'x-csrf-token': csrf, origin: 'null' },
      ];
      for (const headers of cases) {
        const answer = await withCookie('POST', headers, { name: 'Csrf' });
        assert.equal(answer.statusCode, 403, JSON.stringify(headers));
        assert.equal(answer.json().code, 'csrf_failed');
      }
    });
    it('accepts a cookie write with the token from its own origin', async () => {
      const answer = await withCookie(
        'POST',
        { 'x-csrf-token': csrf, origin: 'http://admin.test', 'sec-fetch-site': 'same-origin' },
        { name: 'Csrf ok' },
      );
      assert.equal(answer.statusCode, 201, answer.body);
    });
    it('never asks a bearer token for a CSRF token', async () => {
      const answer = await h.call('POST', '/clients', { body: { name: 'Bearer ok' } });
      assert.equal(answer.status, 201);
    });
  });

  describe('users', () => {
    it('keeps at least one active admin (409) and validates input (422/400)', async () => {
      const users = (await h.call('GET', '/users')).body.items as Array<{ username: string; role: string }>;
      for (const u of users.filter((u) => u.role === 'admin' && u.username !== 'alice'))
        await h.call('DELETE', `/users/${u.username}`);
      const demote = await h.call('PATCH', '/users/alice', { body: { role: 'viewer' } });
      assert.equal(demote.status, 409);
      assert.equal((await h.call('DELETE', '/users/alice')).status, 409);
      assert.equal((await h.call('PATCH', '/users/alice', { body: { disabled: true } })).status, 409);
      const short = await h.call('POST', '/users', {
        body: { username: 'bob', password: 'short', role: 'admin' },
      });
      assert.equal(short.status, 422);
      const badName = await h.call('POST', '/users', {
        body: { username: 'Bob Smith', password: PASSWORD, role: 'admin' },
      });
      assert.equal(badName.status, 422);
      const badRole = await h.call('POST', '/users', {
        body: { username: 'bob', password: PASSWORD, role: 'root' },
      });
      assert.equal(badRole.status, 400);
      const dup = await h.call('POST', '/users', {
        body: { username: 'ALICE', password: PASSWORD, role: 'admin' },
      });
      assert.equal(dup.status, 409);
      assert.equal((await h.call('GET', '/users/nobody')).status, 404);
      const listed = await h.call('GET', '/users');
      assert.ok(!listed.text.includes('scrypt'));
    });
  });
});
