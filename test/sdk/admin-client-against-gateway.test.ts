/**
 * PortcullisAdmin against the admin listener of a real gateway process: typed resource calls,
 * pagination over real cursors, and problem+json answers as PortcullisError.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PortcullisAdmin, PortcullisError } from '@portcullis/sdk';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { cliJson } from '../helpers/identity.js';

describe('SDK admin client against a running gateway', () => {
  let gw: GatewayProcess;
  let admin: PortcullisAdmin;
  let viewer: PortcullisAdmin;

  before(async () => {
    gw = await startGateway();
    const token = (await cliJson<{ token: string }>(gw, ['admin', 'tokens', 'create', '--role', 'admin']))
      .token;
    const viewerToken = (
      await cliJson<{ token: string }>(gw, ['admin', 'tokens', 'create', '--role', 'viewer'])
    ).token;
    admin = new PortcullisAdmin({ url: gw.adminUrl, token, timeoutMs: 5000 });
    viewer = new PortcullisAdmin({ url: gw.adminUrl, token: viewerToken, timeoutMs: 5000 });
  });
  after(async () => {
    await gw?.stop();
  });

  it('creates, reads, updates, suspends and removes a client', async () => {
    const created = await admin.clients.create({ name: 'Mobile App', id: 'mobile-app' });
    assert.equal(created.id, 'mobile-app');
    assert.equal(created.status, 'active');
    const updated = await admin.clients.update('mobile-app', { metadata: { team: 'ios' } });
    assert.deepEqual(updated.metadata, { team: 'ios' });
    const detail = await admin.clients.get('mobile-app');
    assert.equal(detail.name, 'Mobile App');
    assert.deepEqual(detail.keys, []);
    const suspended = await admin.clients.suspend('mobile-app', { reason: 'billing' });
    assert.equal(suspended.status, 'suspended');
    assert.equal((await admin.clients.activate('mobile-app')).status, 'active');
    assert.equal((await admin.clients.remove('mobile-app')).removed, true);
  });

  it('paginate follows the API cursors over every item', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `page-client-${i}`);
    for (const id of ids) await admin.clients.create({ name: id, id });
    const page = await admin.clients.list({ limit: 3 });
    assert.equal(page.items.length, 3);
    assert.equal(typeof page.nextCursor, 'string');
    const seen: string[] = [];
    for await (const client of admin.clients.paginate({ limit: 3 })) seen.push(client.id);
    assert.deepEqual(
      seen.filter((id) => id.startsWith('page-client-')),
      ids,
    );
  });

  it('keys: create shows the key once, list filters by client, rotate keeps the id', async () => {
    await admin.clients.create({ name: 'Key Owner', id: 'key-owner' });
    const created = await admin.keys.create({ client: 'key-owner', scopes: ['orders:read'] });
    assert.match(created.key, /^pcl_live_/);
    const listed = await admin.keys.list({ client: 'key-owner' });
    assert.deepEqual(
      listed.items.map((k) => k.id),
      [created.id],
    );
    assert.ok(!JSON.stringify(listed).includes(created.key), 'the plaintext is shown only once');
    const rotated = await admin.keys.rotate(created.id, { grace: '1h' });
    assert.equal(rotated.id, created.id);
    assert.notEqual(rotated.key, created.key);
  });

  it('logs.export streams the records (requestRaw)', async () => {
    const response = await admin.logs.export({ format: 'ndjson' });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /ndjson/);
    const text = await response.text();
    for (const line of text.split('\n').filter(Boolean)) JSON.parse(line);
  });

  it('settings: overrides a live setting and resets it', async () => {
    const set = await admin.settings.set({ failsafe: 'open' });
    assert.equal(set.items.find((i) => i.key === 'failsafe')?.source, 'live');
    const reset = await admin.settings.unset('failsafe');
    assert.equal(reset.items.find((i) => i.key === 'failsafe')?.source, 'config');
    assert.ok(Array.isArray((await admin.jwtProviders.list()).items));
  });

  it('problem answers become PortcullisError with the API code', async () => {
    await assert.rejects(admin.clients.get('does-not-exist'), (error: unknown) => {
      assert.ok(error instanceof PortcullisError);
      assert.equal(error.status, 404);
      assert.equal(error.code, 'not_found');
      assert.equal(error.problem?.status, 404);
      return true;
    });
    await assert.rejects(viewer.clients.create({ name: 'nope' }), (error: unknown) => {
      assert.ok(error instanceof PortcullisError);
      assert.equal(error.status, 403);
      return true;
    });
    const anonymous = new PortcullisAdmin({ url: gw.adminUrl, token: 'pclsvc_wrong', retries: 0 });
    await assert.rejects(anonymous.clients.list(), (error: unknown) => {
      assert.ok(error instanceof PortcullisError);
      assert.equal(error.status, 401);
      assert.ok(!error.message.includes('pclsvc_wrong'));
      return true;
    });
  });
});
