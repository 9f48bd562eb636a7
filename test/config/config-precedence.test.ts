import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, explainConfig, loadConfig } from '../../src/config/load.js';

function dir(files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), 'pcl-config-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  return d;
}

describe('configuration precedence: flags → env → .env → file → preset', () => {
  const files = {
    'portcullis.yaml':
      'settings:\n  proxy_listen: "127.0.0.1:1001"\n  admin_listen: "127.0.0.1:2001"\n  log_level: debug\n  upstream_timeout_ms: 1111\n',
    '.env': 'PORTCULLIS_PROXY_LISTEN=127.0.0.1:1002\nPORTCULLIS_ADMIN_LISTEN=127.0.0.1:2002\n',
  };

  it('takes each value from the highest source that sets it and says which', () => {
    const cwd = dir(files);
    const config = loadConfig({
      cwd,
      env: { PORTCULLIS_PROXY_LISTEN: '127.0.0.1:1003' },
      flags: {},
    });
    assert.deepEqual(config.settings.proxyListen, { host: '127.0.0.1', port: 1003 });
    assert.equal(config.sources.proxyListen.kind, 'env');
    assert.deepEqual(config.settings.adminListen, { host: '127.0.0.1', port: 2002 });
    assert.equal(config.sources.adminListen.kind, 'dotenv');
    assert.equal(config.settings.logLevel, 'debug');
    assert.equal(config.sources.logLevel.kind, 'file');
    assert.equal(config.settings.upstreamTimeoutMs, 1111);
    assert.equal(config.sources.maxHeaderBytes.kind, 'preset');
  });

  it('lets a flag win over everything', () => {
    const cwd = dir(files);
    const config = loadConfig({
      cwd,
      env: { PORTCULLIS_PROXY_LISTEN: '127.0.0.1:1003' },
      flags: { proxyListen: '9999' },
    });
    assert.deepEqual(config.settings.proxyListen, { host: '0.0.0.0', port: 9999 });
    assert.equal(config.sources.proxyListen.kind, 'flag');
  });

  it('reads PORTCULLIS_CONFIG for the file and fails when it is missing', () => {
    const cwd = dir({ 'other.yaml': 'settings:\n  log_level: warn\n' });
    assert.equal(loadConfig({ cwd, env: { PORTCULLIS_CONFIG: 'other.yaml' } }).settings.logLevel, 'warn');
    assert.throws(() => loadConfig({ cwd, env: { PORTCULLIS_CONFIG: 'absent.yaml' } }), ConfigError);
  });

  it('presets pick defaults only; explicit knobs win', () => {
    const cwd = dir();
    const strict = loadConfig({ cwd, env: { PORTCULLIS_PRESET: 'strict' } });
    assert.equal(strict.settings.maxHeaderBytes, 8192);
    assert.equal(strict.settings.headersTimeoutMs, 10_000);
    const balanced = loadConfig({ cwd, env: {} });
    assert.equal(balanced.settings.maxHeaderBytes, 16384);
    const override = loadConfig({
      cwd,
      env: { PORTCULLIS_PRESET: 'strict', PORTCULLIS_MAX_HEADER_BYTES: '65536' },
    });
    assert.equal(override.settings.maxHeaderBytes, 65536);
    assert.equal(override.sources.maxHeaderBytes.kind, 'env');
    assert.equal(strict.sources.maxHeaderBytes.kind, 'preset');
  });

  it('derives the SQLite file from the data folder', () => {
    const config = loadConfig({ cwd: dir(), env: { PORTCULLIS_DATA_DIR: '/srv/pcl' } });
    assert.equal(config.settings.databaseUrl, 'sqlite:/srv/pcl/portcullis.db');
  });
});

describe('configuration validation names the key, the source and the reason', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'bad port',
      { PORTCULLIS_PROXY_LISTEN: 'localhost:99999' },
      /PORTCULLIS_PROXY_LISTEN \(from environment variable PORTCULLIS_PROXY_LISTEN\): port/,
    ],
    [
      'bad preset',
      { PORTCULLIS_PRESET: 'fast' },
      /PORTCULLIS_PRESET .*expected one of balanced, performance, strict/,
    ],
    [
      'bad boolean',
      { PORTCULLIS_PATH_CASE_INSENSITIVE: 'perhaps' },
      /PORTCULLIS_PATH_CASE_INSENSITIVE.*true or false/,
    ],
    ['bad IPv6 listen', { PORTCULLIS_ADMIN_LISTEN: '::1:8081' }, /PORTCULLIS_ADMIN_LISTEN.*brackets/],
    ['bad number', { PORTCULLIS_SHUTDOWN_TIMEOUT_MS: '-5' }, /PORTCULLIS_SHUTDOWN_TIMEOUT_MS.*whole number/],
    [
      'bad db scheme',
      { PORTCULLIS_DATABASE_URL: 'mysql://x' },
      /PORTCULLIS_DATABASE_URL.*expected a URL starting with sqlite: or postgres: or postgresql:/,
    ],
    ['bad redis scheme', { PORTCULLIS_REDIS_URL: 'http://x' }, /PORTCULLIS_REDIS_URL/],
  ];
  for (const [name, env, pattern] of cases) {
    it(name, () => {
      assert.throws(
        () => loadConfig({ cwd: dir(), env }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, pattern);
          return true;
        },
      );
    });
  }

  it('never echoes a secret value in the error', () => {
    const secretish = 'mysql://admin:hunter2@db.internal/x';
    assert.throws(
      () => loadConfig({ cwd: dir(), env: { PORTCULLIS_DATABASE_URL: secretish } }),
      (error: unknown) => !(error as Error).message.includes('hunter2'),
    );
  });

  it('refuses unknown settings in the file, naming the file', () => {
    const cwd = dir({ 'portcullis.yaml': 'settings:\n  proxy_lisen: ":8080"\n' });
    assert.throws(
      () => loadConfig({ cwd, env: {} }),
      /settings\.proxy_lisen .*portcullis\.yaml.*unknown setting/,
    );
  });

  it('refuses a broken YAML file and a non-mapping settings section', () => {
    assert.throws(
      () => loadConfig({ cwd: dir({ 'portcullis.yaml': 'settings: [\n' }), env: {} }),
      /not valid YAML/,
    );
    assert.throws(
      () => loadConfig({ cwd: dir({ 'portcullis.yaml': 'settings: 3\n' }), env: {} }),
      /must be a mapping/,
    );
  });

  it('names the file for a bad value from the file', () => {
    const cwd = dir({ 'portcullis.yaml': 'settings:\n  log_level: loud\n' });
    assert.throws(
      () => loadConfig({ cwd, env: {} }),
      /settings\.log_level \(from settings\.log_level in .*portcullis\.yaml\)/,
    );
  });
});

describe('config show', () => {
  it('masks secrets but keeps the host of URLs', () => {
    const config = loadConfig({
      cwd: dir(),
      env: {
        PORTCULLIS_SECRET_KEY: 'a'.repeat(64),
        PORTCULLIS_DATABASE_URL: 'postgres://app:s3cret-pw@db.internal:5432/pcl',
        PORTCULLIS_REDIS_URL: 'redis://:r3dis-pw@cache:6379',
      },
    });
    const rows = explainConfig(config);
    const text = JSON.stringify(rows);
    assert.ok(!text.includes('s3cret-pw'));
    assert.ok(!text.includes('r3dis-pw'));
    assert.ok(!text.includes('a'.repeat(64)));
    assert.match(text, /db\.internal:5432/);
    const secret = rows.find((r) => r.key === 'secret_key');
    assert.equal(secret?.value, '**** (set)');
    assert.match(secret?.source ?? '', /PORTCULLIS_SECRET_KEY/);
  });
});
