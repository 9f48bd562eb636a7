/**
 * Configuration changes reach every instance within a second (PRODUCT.md §13), through Redis
 * pub/sub: three gateways share one Redis and one PostgreSQL database; each kind of change is
 * made through the first one's admin API and must be enforced by the other two within 1 s.
 * The version poll is set to 30 s on them, so what is measured is the announcement, not the
 * safety net; a fourth gateway with a fast poll shows the safety net alone catching a change
 * nobody announced. Latencies are printed per kind (from the admin API's answer to the first
 * answer of each other instance showing the change).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { request } from 'undici';
import { stringify } from 'yaml';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { mintJwt } from '../../src/auth/jwt/mint.js';
import { systemClock } from '../../src/core/clock.js';
import { type GatewayProcess, runCli, startGateway, tempDir } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresGate, REDIS_URL, redisGate, uniqueName } from '../helpers/services.js';

const redis = await redisGate();
const postgres = await postgresGate();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const LIMIT_MS = 1_000;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

describe('configuration propagation across instances', { skip: redis.skip || postgres.skip }, () => {
  const database = uniqueName('pcl_prop').toLowerCase();
  const databaseUrl = (() => {
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    return url.toString();
  })();
  const env: Record<string, string> = {
    PORTCULLIS_DATABASE_URL: databaseUrl,
    PORTCULLIS_REDIS_URL: REDIS_URL,
    PORTCULLIS_SECRET_KEY: randomBytes(32).toString('hex'),
    // The safety net is slow here: only the announcement can make the 1 s.
    PORTCULLIS_CONFIG_POLL_MS: '30000',
  };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let upstream: ExampleUpstream;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let c: GatewayProcess;
  /** Same store and Redis, fast poll: the safety net. */
  let d: GatewayProcess;
  let token: string;
  let keyId: string;
  let key: string;
  const latencies: Array<{ kind: string; ms: number[] }> = [];

  async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await request(`${a.adminUrl}/admin/api${path}`, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    assert.ok(res.statusCode < 300, `${method} ${path}: ${res.statusCode} ${text}`);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  async function send(
    gw: GatewayProcess,
    path: string,
    headers: Record<string, string> = {},
    method = 'GET',
  ) {
    const res = await request(`${gw.proxyUrl}${path}`, { method: method as 'GET', headers });
    await res.body.dump();
    return { status: res.statusCode, headers: res.headers } satisfies Answer;
  }

  /**
   * Make `change` through A and wait until B and C both `show` it; each instance's latency
   * runs from A's answer (the change committed and was announced just before) to its first
   * answer showing the change. The API call's own time is printed alongside.
   */
  async function propagate(
    kind: string,
    change: () => Promise<unknown>,
    show: (gw: GatewayProcess) => Promise<boolean>,
  ): Promise<void> {
    for (const gw of [b, c])
      assert.equal(await show(gw), false, `${kind}: already in force before the change`);
    const started = performance.now();
    await change();
    const answered = Math.round(performance.now() - started);
    // From the answer: the change committed (and was announced) just before it.
    const committed = performance.now();
    const ms = await Promise.all(
      [b, c].map(async (gw) => {
        for (;;) {
          if (await show(gw)) return Math.round(performance.now() - committed);
          if (performance.now() - committed > 10_000) return Number.POSITIVE_INFINITY;
          await sleep(5);
        }
      }),
    );
    latencies.push({ kind, ms });
    process.stderr.write(
      `propagation ${kind.padEnd(20)} B ${ms[0]} ms, C ${ms[1]} ms after the admin API answered (in ${answered} ms)\n`,
    );
    for (const m of ms)
      assert.ok(m < LIMIT_MS, `${kind}: enforced ${m} ms after the change (limit ${LIMIT_MS} ms)`);
  }

  const withKey = () => ({ authorization: `Bearer ${key}` });

  before(async () => {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create database "${database}"`);
    await admin.end();
    upstream = await startExampleUpstream();
    // A first: it creates the schema; the others start together on the migrated database.
    a = await startGateway({ env, dir: tempDir('pcl-prop-a-') });
    [b, c, d] = await Promise.all([
      startGateway({ env, dir: tempDir('pcl-prop-b-') }),
      startGateway({ env, dir: tempDir('pcl-prop-c-') }),
      startGateway({ env: { ...env, PORTCULLIS_CONFIG_POLL_MS: '250' }, dir: tempDir('pcl-prop-d-') }),
    ]);
    const created = await runCli(['admin', 'tokens', 'create', '--role', 'admin', '--json'], {
      cwd: a.dir,
      env,
    });
    assert.equal(created.code, 0, created.stderr);
    token = (JSON.parse(created.stdout) as { token: string }).token;
  });

  after(async () => {
    await Promise.all([a, b, c, d].map((gw) => gw?.stop()));
    await upstream?.close();
    if (latencies.length > 0) {
      const all = latencies.flatMap((l) => l.ms).sort((x, y) => x - y);
      process.stderr.write(
        `propagation: ${all.length} measurements, median ${all[Math.floor(all.length / 2)]} ms, max ${all.at(-1)} ms\n`,
      );
    }
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`drop database if exists "${database}" with (force)`);
    await admin.end();
  });

  it('routes: added and changed', async () => {
    const route = (id: string, path: string, methods: Record<string, string>) => ({
      id,
      path,
      methods,
      upstream: { url: upstream.url },
    });
    await propagate(
      'route add',
      () => api('POST', '/routes', route('pub', '/echo/pub', { GET: 'public' })),
      async (gw) => (await send(gw, '/echo/pub')).status === 200,
    );
    await propagate(
      'route change',
      () => api('PUT', '/routes/pub', route('pub', '/echo/pub', { GET: 'public', POST: 'public' })),
      async (gw) => (await send(gw, '/echo/pub', {}, 'POST')).status === 200,
    );
    await propagate(
      'route add (api_key)',
      () => api('POST', '/routes', route('keyed', '/echo/keyed', { GET: 'api_key' })),
      async (gw) => (await send(gw, '/echo/keyed')).status === 401,
    );
    await propagate(
      'route add (jwt)',
      () => api('POST', '/routes', route('jwt', '/echo/jwt', { GET: 'jwt' })),
      async (gw) => (await send(gw, '/echo/jwt')).status === 401,
    );
  });

  it('keys, grants and bindings', async () => {
    await api('POST', '/clients', { id: 'prop', name: 'Propagation' });
    const issued = await api<{ id: string; key: string }>('POST', '/keys', {
      client: 'prop',
      binding: 'single',
    });
    keyId = issued.id;
    key = issued.key;
    // A known key without a grant: refused on every instance (and now cached as such).
    for (const gw of [b, c]) assert.equal((await send(gw, '/echo/keyed', withKey())).status, 403);
    await propagate(
      'grant add',
      () => api('POST', '/grants', { client: 'prop', route: 'keyed', methods: ['GET'] }),
      async (gw) => (await send(gw, '/echo/keyed', withKey())).status === 200,
    );
    // The first use bound the key to 127.0.0.1; bind it elsewhere.
    await propagate(
      'binding rebind',
      () => api('POST', `/bindings/${keyId}/rebind`, { ips: ['192.0.2.1'] }),
      async (gw) => (await send(gw, '/echo/keyed', withKey())).status === 403,
    );
    await propagate(
      'binding unbind',
      () => api('POST', `/bindings/${keyId}/unbind`),
      async (gw) => (await send(gw, '/echo/keyed', withKey())).status === 200,
    );
    await propagate(
      'grant remove',
      () => api('DELETE', '/grants/prop/keyed'),
      async (gw) => (await send(gw, '/echo/keyed', withKey())).status === 403,
    );
    await propagate(
      'grant add again',
      () => api('POST', '/grants', { client: 'prop', route: 'keyed' }),
      async (gw) => (await send(gw, '/echo/keyed', withKey())).status === 200,
    );
    await propagate(
      'key revoke',
      () => api('POST', `/keys/${keyId}/revoke`, { reason: 'propagation test' }),
      async (gw) => (await send(gw, '/echo/keyed', withKey())).status === 401,
    );
  });

  it('policies: added and changed', async () => {
    const policy = (limit: number) => ({
      algorithm: 'fixed_window',
      limit,
      window: '60s',
      key_by: ['ip'],
      attach: ['route:pub'],
    });
    const policyHeader = async (gw: GatewayProcess) =>
      String((await send(gw, '/echo/pub')).headers['ratelimit-policy'] ?? '');
    await propagate(
      'policy add',
      () => api('POST', '/policies', { id: 'pol', ...policy(100_000) }),
      async (gw) => (await policyHeader(gw)).includes('100000'),
    );
    await propagate(
      'policy change',
      () => api('PUT', '/policies/pol', policy(50_000)),
      async (gw) => (await policyHeader(gw)).includes('50000'),
    );
    await propagate(
      'policy remove',
      () => api('DELETE', '/policies/pol'),
      async (gw) => (await policyHeader(gw)) === '',
    );
  });

  it('blocks: added and lifted', async () => {
    let blockId = '';
    await propagate(
      'block add',
      async () => {
        blockId = (
          await api<{ id: string }>('POST', '/blocks', { kind: 'ip', value: '127.0.0.1', reason: 'test' })
        ).id;
      },
      async (gw) => (await send(gw, '/echo/pub')).status === 403,
    );
    await propagate(
      'block remove',
      () => api('DELETE', `/blocks/${blockId}`),
      async (gw) => (await send(gw, '/echo/pub')).status === 200,
    );
  });

  it('live settings', async () => {
    const logged = (gw: GatewayProcess) =>
      gw
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"request"')).length;
    await propagate(
      'live setting',
      () => api('PATCH', '/settings', { accessLogSample: 1 }),
      async (gw) => {
        const seen = logged(gw);
        await send(gw, '/echo/pub');
        // The access log line is written as the answer ends; give the pipe a moment.
        await sleep(20);
        return logged(gw) > seen;
      },
    );
    await api('DELETE', '/settings/accessLogSample');
  });

  it('JWT providers: added and removed', async () => {
    const jwt = await mintJwt({
      algorithm: 'RS256',
      privateKeyPem: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      issuer: 'https://idp.test',
      subject: 'user-1',
      expiresInS: 600,
      clock: systemClock,
    });
    const bearer = { authorization: `Bearer ${jwt}` };
    await propagate(
      'jwt provider add',
      () =>
        api('POST', '/jwt-providers', {
          id: 'idp',
          algorithms: ['RS256'],
          public_key: rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          issuer: 'https://idp.test',
        }),
      async (gw) => (await send(gw, '/echo/jwt', bearer)).status === 200,
    );
    await propagate(
      'jwt provider remove',
      () => api('DELETE', '/jwt-providers/idp'),
      async (gw) => (await send(gw, '/echo/jwt', bearer)).status === 401,
    );
  });

  it('the version poll alone catches a change nobody announced', async () => {
    // The CLI without PORTCULLIS_REDIS_URL writes the database and tells nobody.
    const quiet = { ...env, PORTCULLIS_REDIS_URL: '' };
    writeFileSync(
      join(a.dir, 'quiet.yaml'),
      stringify({
        routes: [
          { id: 'quiet', path: '/echo/quiet', methods: { GET: 'public' }, upstream: { url: upstream.url } },
        ],
      }),
    );
    const applied = await runCli(['apply', '-f', 'quiet.yaml'], { cwd: a.dir, env: quiet });
    assert.equal(applied.code, 0, applied.stderr);
    const started = performance.now();
    while ((await send(d, '/echo/quiet')).status !== 200) {
      assert.ok(performance.now() - started < 5_000, 'the fast-polling instance never saw it');
      await sleep(20);
    }
    process.stderr.write(
      `propagation unannounced: D (poll 250 ms) ${Math.round(performance.now() - started)} ms\n`,
    );
    // B and C poll every 30 s: without an announcement they still serve the old table.
    assert.equal((await send(b, '/echo/quiet')).status, 404);
    assert.equal((await send(c, '/echo/quiet')).status, 404);
  });

  it('all four instances list each other', async () => {
    const list = await api<{ items: Array<{ id: string; self: boolean; proxy: string }> }>(
      'GET',
      '/instances',
    );
    assert.equal(list.items.length, 4);
    assert.equal(list.items.filter((i) => i.self).length, 1);
    assert.deepEqual(
      new Set(list.items.map((i) => i.proxy)),
      new Set([a, b, c, d].map((gw) => `127.0.0.1:${gw.proxyPort}`)),
    );
  });
});
