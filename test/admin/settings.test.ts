import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

forEachDialect('admin API /settings', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  const value = (items: Array<{ key: string }>, key: string) => items.find((s) => s.key === key);

  describe('200', () => {
    it('lists live settings with their configured values', async () => {
      const answer = await h.call('GET', '/settings', { token: h.tokens.viewer });
      assert.equal(answer.status, 200);
      assert.deepEqual(
        answer.body.items.map((s: { key: string }) => s.key),
        [
          'failsafe',
          'interceptAlertThreshold',
          'interceptAlertWindowS',
          'accessLogSample',
          'anomalyDetection',
        ],
      );
      assert.deepEqual(value(answer.body.items, 'failsafe'), {
        key: 'failsafe',
        value: 'closed',
        configured: 'closed',
        source: 'config',
        description: value(answer.body.items, 'failsafe') && answer.body.items[0].description,
      });
    });

    it('overrides, bumps the config version, audits, and resets', async () => {
      const version = await h.store.configVersion();
      const set = await h.call('PATCH', '/settings', { body: { failsafe: 'open', accessLogSample: '0.25' } });
      assert.equal(set.status, 200, set.text);
      assert.equal(value(set.body.items, 'failsafe')?.['value' as never], 'open');
      assert.equal(value(set.body.items, 'accessLogSample')?.['value' as never], 0.25);
      assert.ok((await h.store.configVersion()) > version, 'gateways are told');
      const audit = await h.store.auditLog.list({ action: 'liveSettings.replace' });
      assert.equal(audit.length, 1);
      assert.deepEqual(audit[0]?.after, { failsafe: 'open', accessLogSample: 0.25 });

      const reset = await h.call('DELETE', '/settings/failsafe');
      assert.equal(reset.status, 200);
      assert.equal(value(reset.body.items, 'failsafe')?.['source' as never], 'config');
      assert.equal(value(reset.body.items, 'accessLogSample')?.['source' as never], 'live');
    });
  });

  describe('400/403/422', () => {
    it('refuses unknown keys (400), bad values (422) and viewers (403), changing nothing', async () => {
      const before = await h.store.liveSettings.get();
      const unknown = await h.call('PATCH', '/settings', { body: { proxyListen: '0.0.0.0:1' } });
      assert.equal(unknown.status, 400);
      const bad = await h.call('PATCH', '/settings', { body: { failsafe: 'maybe' } });
      assert.equal(bad.status, 422);
      assert.match(bad.body.detail, /failsafe/);
      const range = await h.call('PATCH', '/settings', { body: { accessLogSample: 2 } });
      assert.equal(range.status, 422);
      const viewer = await h.call('PATCH', '/settings', {
        token: h.tokens.viewer,
        body: { failsafe: 'open' },
      });
      assert.equal(viewer.status, 403);
      const notLive = await h.call('DELETE', '/settings/proxyListen');
      assert.equal(notLive.status, 422);
      assert.deepEqual(await h.store.liveSettings.get(), before);
    });
  });
});
