import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createAdminServer } from '../../src/admin/server.js';
import { type AdminHarness, adminHarness } from '../helpers/admin-api.js';

const PASSWORD = 'correct horse battery staple';

describe('admin listener behind a trusted reverse proxy', () => {
  let h: AdminHarness;
  before(async () => {
    h = await adminHarness('sqlite');
    await h.call('POST', '/users', { body: { username: 'alice', password: PASSWORD, role: 'admin' } });
  });
  after(() => h.close());

  const server = (trustedProxies: string[]) =>
    createAdminServer({
      logger: pino({ level: 'silent' }),
      readiness: async () => [],
      isDraining: () => false,
      version: 'test',
      api: h.deps,
      trustedProxies,
    });
  const login = (app: ReturnType<typeof server>) =>
    app.inject({
      method: 'POST',
      url: '/admin/api/auth/login',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' },
      payload: { username: 'alice', password: PASSWORD },
    });

  it('believes a trusted proxy: the caller address is audited and the cookie is Secure', async () => {
    const app = server(['127.0.0.0/8']);
    try {
      const answer = await login(app);
      assert.equal(answer.statusCode, 200, answer.body);
      assert.match(String(answer.headers['set-cookie']), /Secure/);
      const [entry] = await h.store.auditLog.list({ action: 'auth.login' });
      assert.equal(entry?.source, '203.0.113.9');
    } finally {
      await app.close();
    }
  });

  it('ignores forwarding headers from anyone else', async () => {
    h.clock.advance(1000); // this login's audit entry is then the newest
    const app = server([]);
    try {
      const answer = await login(app);
      assert.equal(answer.statusCode, 200, answer.body);
      assert.doesNotMatch(String(answer.headers['set-cookie']), /Secure/);
      const [entry] = await h.store.auditLog.list({ action: 'auth.login' });
      assert.equal(entry?.source, '127.0.0.1');
    } finally {
      await app.close();
    }
  });
});
