import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { REDIS_URL, redisGate, uniqueName } from '../helpers/services.js';
import { TcpProxy } from '../state/tcp-proxy.js';

// Redis unreachable or silent: each policy's on_store_failure decides, no request waits long,
// nothing is reported as 401/403, and recovery is automatic (PRODUCT.md §7).
const redis = await redisGate();

describe('degraded rate limiting when Redis fails', { skip: redis.skip }, () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let proxy: TcpProxy;
  const unhandled: unknown[] = [];

  before(async () => {
    upstream = await startExampleUpstream();
    const target = new URL(REDIS_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    await proxy.start();
    const id = uniqueName('dg').replaceAll('_', '-').toLowerCase();
    gw = await startGateway({
      env: { PORTCULLIS_REDIS_URL: `redis://127.0.0.1:${proxy.port}` },
      document: {
        policies: [
          {
            id: `local-${id}`,
            algorithm: 'fixed_window',
            limit: 4,
            window: '1h',
            key_by: ['route'],
            on_store_failure: 'local',
          },
          {
            id: `open-${id}`,
            algorithm: 'fixed_window',
            limit: 1,
            window: '1h',
            key_by: ['route'],
            on_store_failure: 'open',
          },
          {
            id: `closed-${id}`,
            algorithm: 'fixed_window',
            limit: 100,
            window: '1h',
            key_by: ['route'],
            on_store_failure: 'closed',
          },
        ],
        routes: [
          {
            id: 'local',
            path: '/local',
            methods: { GET: 'public' },
            policies: [`local-${id}`],
            upstream: { url: `${upstream.url}/echo` },
          },
          {
            id: 'open',
            path: '/open',
            methods: { GET: 'public' },
            policies: [`open-${id}`],
            upstream: { url: `${upstream.url}/echo` },
          },
          {
            id: 'closed',
            path: '/closed',
            methods: { GET: 'public' },
            policies: [`closed-${id}`],
            upstream: { url: `${upstream.url}/echo` },
          },
        ],
      },
    });
    process.on('unhandledRejection', (e) => unhandled.push(e));
  });
  after(async () => {
    await gw?.stop();
    await proxy?.stop();
    await upstream?.close();
  });

  const get = async (path: string) => {
    const started = performance.now();
    const res = await request(`${gw.proxyUrl}${path}`);
    await res.body.dump();
    return {
      status: res.statusCode,
      mode: res.headers['x-portcullis-degraded'],
      ms: performance.now() - started,
    };
  };

  it('limits normally while Redis answers', async () => {
    assert.equal((await get('/open')).status, 200);
    assert.equal((await get('/open')).status, 429);
    const ok = await get('/closed');
    assert.equal(ok.status, 200);
    assert.equal(ok.mode, undefined);
  });

  it('Redis stopped: local enforces in memory, open lets through, closed answers 503 — quickly', async () => {
    await proxy.stop();
    const local = [];
    for (let i = 0; i < 6; i++) local.push(await get('/local'));
    assert.ok(
      local.every((r) => r.mode === 'local'),
      JSON.stringify(local),
    );
    assert.deepEqual(
      local.map((r) => r.status),
      [200, 200, 200, 200, 429, 429],
      'limit 4 / 1 live instance',
    );
    const open = await get('/open');
    assert.equal(open.status, 200, 'open: the limit that was exhausted no longer applies');
    assert.equal(open.mode, 'open');
    const closed = await get('/closed');
    assert.equal(closed.status, 503);
    assert.equal(closed.mode, 'closed');
    for (const r of [...local, open, closed])
      assert.ok(r.ms < 1000, `a request waited ${r.ms} ms on a dead Redis`);
    const ready = await request(`${gw.adminUrl}/readyz`);
    const body = (await ready.body.json()) as {
      status: string;
      checks: Array<{ name: string; ok: boolean; detail?: string }>;
    };
    assert.match(JSON.stringify(body.checks), /degraded: closed|degraded: local|degraded: open/);
    // Still serving: ready for a load balancer (every instance shares this Redis), but said so.
    assert.equal(ready.statusCode, 200);
    assert.equal(body.status, 'degraded');
    assert.ok(
      body.checks.some((c) => c.name === 'state:redis' && !c.ok),
      JSON.stringify(body.checks),
    );
    const strict = await request(`${gw.adminUrl}/readyz?strict`);
    assert.equal(strict.statusCode, 503, '?strict fails while a dependency is down');
    assert.equal(((await strict.body.json()) as { status: string }).status, 'not_ready');
  });

  it('Redis slow (every reply 300 ms late): requests do not wait for it', async () => {
    await proxy.start();
    // Let the breaker close again on a healthy Redis first.
    for (let i = 0; i < 20; i++) {
      if ((await get('/closed')).mode === undefined) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    proxy.delay(300);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await get('/closed'));
    for (const r of results) assert.ok(r.ms < 1000, `waited ${r.ms} ms on a slow Redis`);
    assert.ok(
      results.some((r) => r.status === 503 && r.mode === 'closed'),
      JSON.stringify(results),
    );
    proxy.delay(0);
    await proxy.stop();
  });

  it('Redis silent (partition): requests do not hang', async () => {
    await proxy.start();
    proxy.blackhole(true);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await get('/closed'));
    for (const r of results) {
      assert.ok(r.status === 503 || r.status === 200, String(r.status));
      assert.ok(r.ms < 1000, `waited ${r.ms} ms`);
    }
    proxy.blackhole(false);
  });

  it('recovers by itself when Redis is back', async () => {
    await proxy.stop();
    await proxy.start();
    let recovered = false;
    for (let i = 0; i < 40 && !recovered; i++) {
      const r = await get('/closed');
      recovered = r.status === 200 && r.mode === undefined;
      if (!recovered) await new Promise((res) => setTimeout(res, 250));
    }
    assert.ok(recovered, 'rate limiting did not return to Redis');
    assert.deepEqual(unhandled, []);
    assert.doesNotMatch(gw.output(), /"level":50.*unhandled|UnhandledPromiseRejection/);
  });
});
