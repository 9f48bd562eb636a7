import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { runCli, startGateway, tempDir } from '../helpers/gateway.js';

describe('first start', () => {
  let upstream: ExampleUpstream;
  before(async () => {
    upstream = await startExampleUpstream();
  });
  after(async () => {
    await upstream?.close();
  });

  it('runs the demo when nothing is configured, and withdraws it once a route exists', async () => {
    const gw = await startGateway({ env: { PORTCULLIS_DEMO: 'auto' } });
    try {
      assert.match(gw.output(), /DEMO MODE/);
      assert.match(gw.output(), /curl -i http:\/\/127\.0\.0\.1:\d+\/demo\/orders/);
      const ok = await request(`${gw.proxyUrl}/demo/public/hello`);
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
      const limited: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await request(`${gw.proxyUrl}/demo/limited`);
        await res.body.dump();
        limited.push(res.statusCode);
      }
      assert.deepEqual(limited, [200, 200, 200, 429], 'the demo shows a rate limit');
      assert.match(gw.output(), /demo\/limited; done {3}# 200 200 200 429/);
      const protectedRes = await request(`${gw.proxyUrl}/demo/orders`);
      assert.equal(protectedRes.statusCode, 401);
      await protectedRes.body.dump();
      const sse = await request(`${gw.proxyUrl}/demo/public/sse?events=2&intervalMs=10`);
      assert.equal(((await sse.body.text()).match(/^data:/gm) ?? []).length, 2);
      // Nothing was written: the database has no route.
      const listed = await gw.cli(['routes', 'list', '--json']);
      assert.deepEqual(JSON.parse(listed.stdout), []);
      const added = await gw.cli([
        'routes',
        'add',
        '--id',
        'mine',
        '--path',
        '/mine/*',
        '--upstream',
        upstream.url,
        '--auth',
        'public',
      ]);
      assert.equal(added.code, 0, added.stderr);
      await new Promise((r) => setTimeout(r, 600));
      const demoGone = await request(`${gw.proxyUrl}/demo/public/hello`);
      assert.equal(demoGone.statusCode, 404);
      await demoGone.body.dump();
    } finally {
      await gw.stop();
    }
  });

  it('with PORTCULLIS_UPSTREAM_URL creates one catch-all route that requires an API key, once', async () => {
    const dir = tempDir();
    const env = { PORTCULLIS_UPSTREAM_URL: upstream.url, PORTCULLIS_DEMO: 'auto' };
    const gw = await startGateway({ dir, env });
    try {
      assert.doesNotMatch(gw.output(), /DEMO MODE/);
      assert.match(gw.output(), /created catch-all route/);
      const res = await request(`${gw.proxyUrl}/hello`);
      assert.equal(res.statusCode, 401);
      await res.body.dump();
      const shown = JSON.parse((await gw.cli(['routes', 'show', 'default', '--json'])).stdout) as Record<
        string,
        unknown
      >;
      assert.equal(shown['path'], '/*');
      assert.deepEqual(shown['methods'], { '*': ['api_key'] });
      assert.equal((await gw.cli(['routes', 'remove', 'default'])).code, 0);
    } finally {
      await gw.stop();
    }
    // Deleting the route is respected on the next start.
    const again = await startGateway({ dir, env });
    try {
      assert.doesNotMatch(again.output(), /created catch-all/);
      assert.deepEqual(JSON.parse((await again.cli(['routes', 'list', '--json'])).stdout), []);
    } finally {
      await again.stop();
    }
  });

  it('refuses invalid configuration with exit code 2 naming key, source and reason', async () => {
    const dir = tempDir();
    const result = await runCli(['start'], { cwd: dir, env: { PORTCULLIS_PROXY_LISTEN: 'nonsense:port' } });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /PORTCULLIS_PROXY_LISTEN \(from environment variable PORTCULLIS_PROXY_LISTEN\)/,
    );
    const flag = await runCli(['start', '--demo', 'maybe'], { cwd: dir });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--demo \(from command-line flag --demo\): expected one of auto, on, off/);
  });

  it('generates the secret key once with mode 0600 and refuses a different key later', async () => {
    const dir = tempDir();
    const first = await runCli(['migrate'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const list = await runCli(['routes', 'list'], { cwd: dir });
    assert.equal(list.code, 0, list.stderr);
    const { statSync } = await import('node:fs');
    assert.equal(statSync(`${dir}/data/secret.key`).mode & 0o777, 0o600);
    const wrong = await runCli(['routes', 'list'], {
      cwd: dir,
      env: { PORTCULLIS_SECRET_KEY: 'b'.repeat(64) },
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /does not match/);
    assert.ok(!wrong.stderr.includes('b'.repeat(64)));
  });
});
