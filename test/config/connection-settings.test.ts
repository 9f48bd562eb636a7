/**
 * The Redis (Cluster, TLS) and PostgreSQL (pool, TLS) settings: what they accept, the rules
 * between them, and how they reach the openers. Every refusal names the setting and its
 * source and never repeats a credential or key material.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { databaseConnection, redisConnection } from '../../src/config/connections.js';
import { ConfigError, explainConfig, loadConfig } from '../../src/config/load.js';
import { parseRedisTarget } from '../../src/state/redis-target.js';

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE-super-secret\n-----END PRIVATE KEY-----\n';

function dir(files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), 'pcl-conn-config-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  return d;
}

function refuses(env: Record<string, string>, pattern: RegExp, cwd = dir()): void {
  assert.throws(
    () => loadConfig({ cwd, env }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /hunter2|super-secret/);
      return true;
    },
  );
}

describe('Redis Cluster settings', () => {
  const seeds = 'redis://10.0.0.1:7000, redis://10.0.0.2:7000,redis://10.0.0.3:7000';

  it('a list of seed nodes with PORTCULLIS_REDIS_CLUSTER=true is a cluster', () => {
    const config = loadConfig({
      cwd: dir(),
      env: { PORTCULLIS_REDIS_URL: seeds, PORTCULLIS_REDIS_CLUSTER: 'true' },
    });
    assert.equal(
      config.settings.redisUrl,
      'redis://10.0.0.1:7000,redis://10.0.0.2:7000,redis://10.0.0.3:7000',
    );
    assert.deepEqual(redisConnection(config.settings), { cluster: true });
  });

  it('one seed is enough; the config file may give the seeds as a YAML list', () => {
    assert.equal(
      loadConfig({
        cwd: dir(),
        env: { PORTCULLIS_REDIS_URL: 'redis://10.0.0.1:7000', PORTCULLIS_REDIS_CLUSTER: 'yes' },
      }).settings.redisCluster,
      true,
    );
    const cwd = dir({
      'portcullis.yaml':
        'settings:\n  redis_cluster: true\n  redis_url:\n    - redis://10.0.0.1:7000\n    - redis://10.0.0.2:7000\n',
    });
    assert.equal(
      loadConfig({ cwd, env: {} }).settings.redisUrl,
      'redis://10.0.0.1:7000,redis://10.0.0.2:7000',
    );
  });

  it('a password may hold commas: one URL stays one URL, in a list too', () => {
    const one = 'redis://:hunter2,with,commas@10.0.0.1:6379/2';
    const settings = loadConfig({ cwd: dir(), env: { PORTCULLIS_REDIS_URL: one } }).settings;
    assert.equal(settings.redisUrl, one);
    assert.deepEqual(parseRedisTarget(one, false), { mode: 'standalone', url: one, tls: false });
    const two = `${one.replace('/2', '')}, redis://10.0.0.2:6379`;
    const cluster = parseRedisTarget(two, true);
    assert.equal(cluster.mode, 'cluster');
    assert.equal(cluster.mode === 'cluster' && cluster.password, 'hunter2,with,commas');
    assert.equal(cluster.mode === 'cluster' && cluster.nodes.length, 2);
    const shown = explainConfig(loadConfig({ cwd: dir(), env: { PORTCULLIS_REDIS_URL: one } }));
    assert.doesNotMatch(JSON.stringify(shown), /hunter2|with,commas/);
  });

  it('a list without cluster mode is refused, naming both settings', () => {
    refuses(
      { PORTCULLIS_REDIS_URL: seeds },
      /PORTCULLIS_REDIS_URL \(from environment variable PORTCULLIS_REDIS_URL\): PORTCULLIS_REDIS_URL lists 3 URLs: .*set PORTCULLIS_REDIS_CLUSTER to true/,
    );
  });

  it('cluster mode needs a URL; nodes must agree on scheme, credentials and database 0', () => {
    refuses({ PORTCULLIS_REDIS_CLUSTER: 'true' }, /PORTCULLIS_REDIS_CLUSTER .*needs PORTCULLIS_REDIS_URL/);
    refuses(
      { PORTCULLIS_REDIS_URL: 'redis://a:7000,rediss://b:7000', PORTCULLIS_REDIS_CLUSTER: 'true' },
      /mixes redis:\/\/ and rediss:\/\//,
    );
    refuses(
      {
        PORTCULLIS_REDIS_URL: 'redis://:hunter2@a:7000,redis://:other@b:7000',
        PORTCULLIS_REDIS_CLUSTER: 'true',
      },
      /different passwords/,
    );
    refuses(
      { PORTCULLIS_REDIS_URL: 'redis://a:7000/3', PORTCULLIS_REDIS_CLUSTER: 'true' },
      /Redis Cluster has only database 0/,
    );
    refuses(
      { PORTCULLIS_REDIS_URL: 'redis://a:7000,http://b', PORTCULLIS_REDIS_CLUSTER: 'true' },
      /redis: or rediss:/,
    );
    refuses({ PORTCULLIS_REDIS_CLUSTER: 'maybe' }, /PORTCULLIS_REDIS_CLUSTER .*expected true or false/);
  });

  it('config show masks every node of a list', () => {
    const config = loadConfig({
      cwd: dir(),
      env: {
        PORTCULLIS_REDIS_URL: 'redis://u:hunter2@a:7000,redis://b:7001',
        PORTCULLIS_REDIS_CLUSTER: 'true',
      },
    });
    const shown = explainConfig(config).find((row) => row.key === 'redis_url')!.value;
    assert.equal(shown, 'redis://****@a:7000,redis://b:7001');
  });
});

describe('Redis TLS settings', () => {
  const files = {
    'ca.pem': PEM_CERT,
    'client.pem': PEM_CERT,
    'client.key': PEM_KEY,
    'junk.pem': 'super-secret\n',
  };

  it('CA, client pair and server name reach the connection options, paths resolved against the working directory', () => {
    const cwd = dir(files);
    const config = loadConfig({
      cwd,
      env: {
        PORTCULLIS_REDIS_URL: 'rediss://redis.internal:6380',
        PORTCULLIS_REDIS_TLS_CA: 'ca.pem',
        PORTCULLIS_REDIS_TLS_CERT: join(cwd, 'client.pem'),
        PORTCULLIS_REDIS_TLS_KEY: 'client.key',
        PORTCULLIS_REDIS_TLS_SERVERNAME: 'redis.example.com',
      },
    });
    assert.deepEqual(redisConnection(config.settings), {
      cluster: false,
      tls: {
        caFile: join(cwd, 'ca.pem'),
        certFile: join(cwd, 'client.pem'),
        keyFile: join(cwd, 'client.key'),
        servername: 'redis.example.com',
      },
    });
    // The paths are shown (they are not secrets); the files' content never is.
    const shown = explainConfig(config).find((row) => row.key === 'redis_tls_key')!.value;
    assert.equal(shown, join(cwd, 'client.key'));
  });

  it('TLS settings with a plaintext or missing URL are refused', () => {
    const cwd = dir(files);
    refuses(
      { PORTCULLIS_REDIS_URL: 'redis://r:6379', PORTCULLIS_REDIS_TLS_CA: 'ca.pem' },
      /PORTCULLIS_REDIS_TLS_CA .*uses redis:\/\/ \(plaintext\).*use rediss:\/\//,
      cwd,
    );
    refuses(
      { PORTCULLIS_REDIS_TLS_SERVERNAME: 'x.example' },
      /PORTCULLIS_REDIS_TLS_SERVERNAME .*PORTCULLIS_REDIS_URL is unset/,
    );
  });

  it('a client certificate without its key (or the other way round) is refused', () => {
    const cwd = dir(files);
    refuses(
      { PORTCULLIS_REDIS_URL: 'rediss://r:6380', PORTCULLIS_REDIS_TLS_CERT: 'client.pem' },
      /PORTCULLIS_REDIS_TLS_CERT .*needs PORTCULLIS_REDIS_TLS_KEY too/,
      cwd,
    );
    refuses(
      { PORTCULLIS_REDIS_URL: 'rediss://r:6380', PORTCULLIS_REDIS_TLS_KEY: 'client.key' },
      /PORTCULLIS_REDIS_TLS_KEY .*needs PORTCULLIS_REDIS_TLS_CERT too/,
      cwd,
    );
  });

  it('missing or non-PEM files are refused by name, the content never shown', () => {
    const cwd = dir(files);
    refuses(
      { PORTCULLIS_REDIS_URL: 'rediss://r:6380', PORTCULLIS_REDIS_TLS_CA: 'nope.pem' },
      /PORTCULLIS_REDIS_TLS_CA .*cannot read the Redis CA file .*nope\.pem \(ENOENT\)/,
      cwd,
    );
    refuses(
      {
        PORTCULLIS_REDIS_URL: 'rediss://r:6380',
        PORTCULLIS_REDIS_TLS_CERT: 'client.pem',
        PORTCULLIS_REDIS_TLS_KEY: 'junk.pem',
      },
      /PORTCULLIS_REDIS_TLS_KEY .*junk\.pem holds no PEM private key/,
      cwd,
    );
    // A certificate given where the key belongs.
    refuses(
      {
        PORTCULLIS_REDIS_URL: 'rediss://r:6380',
        PORTCULLIS_REDIS_TLS_CERT: 'client.pem',
        PORTCULLIS_REDIS_TLS_KEY: 'client.pem',
      },
      /PORTCULLIS_REDIS_TLS_KEY .*holds no PEM private key/,
      cwd,
    );
  });
});

describe('PostgreSQL pool and TLS settings', () => {
  const pg = 'postgres://portcullis:hunter2@db.internal:5432/portcullis';

  it('defaults: pool 10, idle 10 s, connect 10 s, TLS as the URL says', () => {
    const config = loadConfig({ cwd: dir(), env: { PORTCULLIS_DATABASE_URL: pg } });
    assert.equal(config.settings.databasePoolSize, 10);
    assert.deepEqual(databaseConnection(config.settings), {
      idleTimeoutMs: 10_000,
      connectTimeoutMs: 10_000,
    });
  });

  it('pool timeouts take durations; TLS mode and CA reach the store options', () => {
    const cwd = dir({ 'rds-ca.pem': PEM_CERT });
    const config = loadConfig({
      cwd,
      env: {
        PORTCULLIS_DATABASE_URL: pg,
        PORTCULLIS_DATABASE_POOL_SIZE: '4',
        PORTCULLIS_DATABASE_IDLE_TIMEOUT: '30s',
        PORTCULLIS_DATABASE_CONNECT_TIMEOUT: '2s',
        PORTCULLIS_DATABASE_TLS: 'verify-full',
        PORTCULLIS_DATABASE_TLS_CA: 'rds-ca.pem',
      },
    });
    assert.equal(config.settings.databasePoolSize, 4);
    assert.deepEqual(databaseConnection(config.settings), {
      idleTimeoutMs: 30_000,
      connectTimeoutMs: 2_000,
      tls: { mode: 'verify-full', caFile: join(cwd, 'rds-ca.pem') },
    });
  });

  it('bad values and combinations are refused, naming the setting', () => {
    const cwd = dir({ 'ca.pem': PEM_CERT });
    refuses(
      { PORTCULLIS_DATABASE_URL: pg, PORTCULLIS_DATABASE_TLS: 'prefer' },
      /PORTCULLIS_DATABASE_TLS .*expected one of disable, require, verify-ca, verify-full/,
    );
    refuses(
      { PORTCULLIS_DATABASE_URL: pg, PORTCULLIS_DATABASE_POOL_SIZE: '0' },
      /PORTCULLIS_DATABASE_POOL_SIZE .*between 1 and 500/,
    );
    refuses(
      { PORTCULLIS_DATABASE_URL: pg, PORTCULLIS_DATABASE_IDLE_TIMEOUT: '0' },
      /PORTCULLIS_DATABASE_IDLE_TIMEOUT .*from 1s to 1h/,
    );
    refuses({ PORTCULLIS_DATABASE_TLS: 'require' }, /PORTCULLIS_DATABASE_TLS .*applies to PostgreSQL only/);
    refuses(
      { PORTCULLIS_DATABASE_URL: `${pg}?sslmode=require`, PORTCULLIS_DATABASE_TLS: 'verify-full' },
      /PORTCULLIS_DATABASE_TLS .*sets TLS itself \(sslmode=…\): set TLS in one place/,
    );
    refuses(
      {
        PORTCULLIS_DATABASE_URL: pg,
        PORTCULLIS_DATABASE_TLS: 'require',
        PORTCULLIS_DATABASE_TLS_CA: 'ca.pem',
      },
      /PORTCULLIS_DATABASE_TLS_CA .*needs PORTCULLIS_DATABASE_TLS verify-ca or verify-full/,
      cwd,
    );
    refuses(
      {
        PORTCULLIS_DATABASE_URL: pg,
        PORTCULLIS_DATABASE_TLS: 'verify-ca',
        PORTCULLIS_DATABASE_TLS_CA: 'gone.pem',
      },
      /PORTCULLIS_DATABASE_TLS_CA .*cannot read the PostgreSQL CA file/,
      cwd,
    );
  });
});
