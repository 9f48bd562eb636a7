/**
 * The admin-auth settings: `admin_password` (secret, checked against the password rule at
 * start-up) and `admin_session_ttl` (a duration).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, explainConfig, loadConfig } from '../../../src/config/load.js';

describe('admin auth settings', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'pcl-admin-settings-'));
  after(() => rmSync(cwd, { recursive: true, force: true }));
  const load = (env: Record<string, string>) => loadConfig({ cwd, env });

  it('defaults: no configured password, 12 h sessions', () => {
    const { settings } = load({});
    assert.equal(settings.adminPassword, undefined);
    assert.equal(settings.adminSessionTtl, 12 * 3_600_000);
  });

  it('admin_password is masked by config show and never echoed in errors', () => {
    const password = 'a long enough password';
    const config = load({ PORTCULLIS_ADMIN_PASSWORD: password });
    assert.equal(config.settings.adminPassword, password);
    const text = JSON.stringify(explainConfig(config));
    assert.ok(!text.includes(password));
    assert.throws(
      () => load({ PORTCULLIS_ADMIN_PASSWORD: 'hunter2-xx' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.key, 'PORTCULLIS_ADMIN_PASSWORD');
        assert.match(error.message, /12 to 1024 characters/);
        assert.ok(!error.message.includes('hunter2'));
        return true;
      },
    );
    assert.throws(() => load({ PORTCULLIS_ADMIN_PASSWORD: 'x'.repeat(1025) }), ConfigError);
  });

  it('admin_session_ttl takes 30m, 12h, 7d or milliseconds, from 5 minutes to 30 days', () => {
    const ttl = (value: string) => load({ PORTCULLIS_ADMIN_SESSION_TTL: value }).settings.adminSessionTtl;
    assert.equal(ttl('30m'), 1_800_000);
    assert.equal(ttl('8H'), 8 * 3_600_000);
    assert.equal(ttl('7d'), 7 * 86_400_000);
    assert.equal(ttl('300s'), 300_000);
    assert.equal(ttl('43200000'), 43_200_000);
    for (const bad of ['4m', '31d', '0s', '12', '1.5h', '12 h', '-1h', '12w', 'forever']) {
      assert.throws(
        () => ttl(bad),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.key === 'PORTCULLIS_ADMIN_SESSION_TTL' &&
          /from 5m to 30d/.test(error.message),
        bad,
      );
    }
  });
});
