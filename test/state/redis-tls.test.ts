/**
 * Redis over TLS against real redis-server processes started for this file with a throwaway
 * CA made by openssl: the CA option, client certificates, the server name, verification that
 * refuses a server signed by another CA, and a TLS-only Redis Cluster.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileLimit } from '../../src/limits/compile.js';
import { LimiterUnavailableError } from '../../src/limits/errors.js';
import { RedisLimiter } from '../../src/limits/redis.js';
import { isStateError } from '../../src/state/errors.js';
import { openState } from '../../src/state/open-state.js';
import { RedisState } from '../../src/state/redis.js';
import {
  type LocalRedisCluster,
  type LocalTlsRedis,
  redisServerGate,
  startRedisCluster,
  startTlsRedis,
} from '../helpers/redis-cluster.js';
import { inCI, uniqueName } from '../helpers/services.js';
import { makeTestCertificates, opensslAvailable, type TestCertificates } from '../helpers/tls-certs.js';
import { Inbox } from './state-contract.js';

const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`unhandledRejection: ${String(reason)}`));

const servers = redisServerGate();
let skip: string | false = servers.skip;
if (!skip && !opensslAvailable()) {
  skip = 'the openssl CLI is not installed; it makes the test certificates';
  if (inCI) {
    test('openssl is required in CI', () => {
      throw new Error(skip as string);
    });
  } else process.stderr.write(`[skip] ${skip}\n`);
}
const keyPrefix = `${uniqueName('pcl_tls')}:`;

describe('Redis over TLS', { skip }, () => {
  let certs: TestCertificates;
  /** Client certificates optional: any client that trusts the CA gets in. */
  let open: LocalTlsRedis;
  /** Client certificates required (tls-auth-clients yes). */
  let mutual: LocalTlsRedis;

  before(async () => {
    certs = await makeTestCertificates();
    const pair = { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caFile };
    [open, mutual] = await Promise.all([
      startTlsRedis({ ...pair, authClients: 'no' }),
      startTlsRedis({ ...pair, authClients: 'yes' }),
    ]);
  });

  after(async () => {
    await Promise.all([open?.stop(), mutual?.stop()]);
    certs?.remove();
    assert.deepEqual(strays, []);
  });

  const failsToConnect = async (promise: Promise<unknown>, pattern: RegExp) => {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(isStateError(err, 'ERR_STATE_CONNECT'), String(err));
      assert.match(err.message, pattern);
      return true;
    });
  };

  test('rediss:// with the CA: commands and pub/sub work', async () => {
    const state = await RedisState.connect({ url: open.url, keyPrefix, tls: { caFile: certs.caFile } });
    try {
      await state.set('over-tls', 'yes');
      assert.equal(await state.get('over-tls'), 'yes');
      const inbox = new Inbox();
      await state.subscribe('tls-events', inbox.handler);
      await state.publish('tls-events', 'hello');
      assert.deepEqual(await inbox.waitFor(1), ['hello']);
      assert.equal((await state.health()).ok, true);
    } finally {
      await state.close();
    }
  });

  test('a server certificate from another CA is refused (and so is the system store for a private CA)', async () => {
    await failsToConnect(
      RedisState.connect({
        url: open.url,
        keyPrefix,
        tls: { caFile: certs.otherCaFile },
        connectTimeoutMs: 1_000,
      }),
      /self[- ]signed|unable to (get|verify)|certificate/i,
    );
    await failsToConnect(
      RedisState.connect({ url: open.url, keyPrefix, connectTimeoutMs: 1_000 }),
      /self[- ]signed|unable to (get|verify)|certificate/i,
    );
  });

  test('the certificate must name the host: localhost passes, another servername is refused', async () => {
    const byName = await RedisState.connect({
      url: `rediss://localhost:${open.port}`,
      keyPrefix,
      tls: { caFile: certs.caFile },
    });
    await byName.close();
    const named = await RedisState.connect({
      url: open.url,
      keyPrefix,
      tls: { caFile: certs.caFile, servername: 'localhost' },
    });
    await named.close();
    await failsToConnect(
      RedisState.connect({
        url: open.url,
        keyPrefix,
        tls: { caFile: certs.caFile, servername: 'redis.example.com' },
        connectTimeoutMs: 1_000,
      }),
      /altnames|does not match|Hostname/i,
    );
  });

  test('a server that requires client certificates accepts ours and refuses a connection without', async () => {
    const state = await RedisState.connect({
      url: mutual.url,
      keyPrefix,
      tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey },
    });
    try {
      assert.equal(await state.incr('mutual', 1, 60_000), 1);
    } finally {
      await state.close();
    }
    await assert.rejects(
      RedisState.connect({
        url: mutual.url,
        keyPrefix,
        tls: { caFile: certs.caFile },
        connectTimeoutMs: 1_000,
      }),
      (err: unknown) => isStateError(err, 'ERR_STATE_CONNECT'),
    );
  });

  test('the rate limiter connects the same way', async () => {
    const limiter = await RedisLimiter.connect({
      url: mutual.url,
      keyPrefix,
      tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey },
    });
    try {
      const limit = compileLimit({ policyId: 'tls', algorithm: 'fixed_window', limit: 1, windowMs: 60_000 });
      const who = uniqueName('who');
      assert.equal((await limiter.checkAll([{ limit, identity: who }])).allowed, true);
      assert.equal((await limiter.checkAll([{ limit, identity: who }])).allowed, false);
    } finally {
      await limiter.close();
    }
    await assert.rejects(
      RedisLimiter.connect({
        url: mutual.url,
        keyPrefix,
        tls: { caFile: certs.otherCaFile },
        connectTimeoutMs: 1_000,
      }),
      (err: unknown) => err instanceof LimiterUnavailableError && err.reason === 'connect',
    );
  });

  test('bad TLS files fail before connecting, naming the file and never its content', async () => {
    const notPem = join(certs.dir, 'not-a-key.pem');
    writeFileSync(notPem, 'super-secret-material\n');
    await assert.rejects(
      RedisState.connect({
        url: open.url,
        keyPrefix,
        tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: notPem },
      }),
      (err: Error) => {
        assert.match(err.message, /the Redis client key file .*not-a-key\.pem holds no PEM private key/);
        assert.doesNotMatch(err.message, /super-secret-material/);
        return true;
      },
    );
    await assert.rejects(
      RedisState.connect({ url: open.url, keyPrefix, tls: { caFile: join(certs.dir, 'missing.crt') } }),
      /cannot read the Redis CA file .*missing\.crt \(ENOENT\)/,
    );
    // A key swapped for a certificate is caught the same way.
    await assert.rejects(
      RedisState.connect({
        url: open.url,
        keyPrefix,
        tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientCert },
      }),
      /holds no PEM private key/,
    );
    await assert.rejects(
      RedisState.connect({
        url: open.url,
        keyPrefix,
        tls: { caFile: certs.caFile, certFile: certs.clientCert },
      }),
      /certFile and options\.tls\.keyFile go together/,
    );
    await assert.rejects(
      RedisState.connect({ url: `redis://127.0.0.1:${open.port}`, keyPrefix, tls: { caFile: certs.caFile } }),
      /options\.tls needs a rediss:\/\/ URL/,
    );
  });

  describe('a TLS-only Redis Cluster', () => {
    let cluster: LocalRedisCluster;

    before(async () => {
      cluster = await startRedisCluster({
        tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caFile },
      });
      process.stderr.write(`[redis cluster over TLS] 3 masters ready in ${cluster.startMs} ms\n`);
    });
    after(async () => {
      await cluster?.stop();
    });

    test('state and limits work over rediss:// seed nodes', async () => {
      const state = await openState({
        redisUrl: cluster.url,
        redis: { cluster: true, tls: { caFile: certs.caFile } },
        keyPrefix,
      });
      const limiter = await RedisLimiter.connect({
        url: cluster.url,
        cluster: true,
        tls: { caFile: certs.caFile },
        keyPrefix,
      });
      try {
        const names = Array.from({ length: 20 }, (_, i) => `k${i}`);
        await Promise.all(names.map((n) => state.set(n, n)));
        assert.deepEqual(await Promise.all(names.map((n) => state.get(n))), names);
        const inbox = new Inbox();
        await state.subscribe('cluster-tls', inbox.handler);
        await state.publish('cluster-tls', 'm1');
        assert.deepEqual(await inbox.waitFor(1), ['m1']);
        const a = compileLimit({ policyId: 'a', algorithm: 'fixed_window', limit: 5, windowMs: 60_000 });
        const b = compileLimit({
          policyId: 'b',
          algorithm: 'token_bucket',
          limit: 5,
          rate: { count: 1, perMs: 60_000 },
        });
        const result = await limiter.checkAll([
          { limit: a, identity: 'x' },
          { limit: b, identity: 'y' },
        ]);
        assert.equal(result.allowed, true);
      } finally {
        await Promise.all([state.close(), limiter.close()]);
      }
    });

    test('a cluster seed with the wrong CA is refused', async () => {
      await assert.rejects(
        RedisState.connect({
          url: cluster.urls[0]!,
          cluster: true,
          keyPrefix,
          tls: { caFile: certs.otherCaFile },
          connectTimeoutMs: 1_000,
        }),
        (err: unknown) => isStateError(err, 'ERR_STATE_CONNECT'),
      );
    });
  });
});
