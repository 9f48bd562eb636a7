/**
 * The console's static files on the admin listener: deep links answer index.html, hashed
 * assets are immutable, a missing asset is a 404 (not the page), and every answer carries
 * the Content-Security-Policy and anti-framing headers.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { registerConsole, serveConsole } from '../../src/admin/console.js';
import { tempDir } from '../helpers/gateway.js';

function fakeBuild(): string {
  const dir = tempDir('pcl-console-');
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
  return dir;
}

async function serve(dir?: string) {
  const app = Fastify();
  registerConsole(app, dir);
  await app.ready();
  return app;
}

describe('console static files', () => {
  test('the page, deep links and assets', async () => {
    const app = await serve(fakeBuild());
    const root = await app.inject('/admin/ui/');
    assert.equal(root.statusCode, 200);
    assert.match(root.headers['content-type'] as string, /^text\/html/);
    assert.equal(root.headers['cache-control'], 'no-store');
    const csp = root.headers['content-security-policy'] as string;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline or eval script');
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(root.headers['x-frame-options'], 'DENY');
    assert.equal(root.headers['x-content-type-options'], 'nosniff');

    const deep = await app.inject('/admin/ui/keys/key_123');
    assert.equal(deep.statusCode, 200);
    assert.equal(deep.body, root.body, 'a page address answers index.html');

    const asset = await app.inject('/admin/ui/assets/index-abc123.js');
    assert.equal(asset.statusCode, 200);
    assert.match(asset.headers['content-type'] as string, /^text\/javascript/);
    assert.match(asset.headers['cache-control'] as string, /immutable/);

    const stale = await app.inject('/admin/ui/assets/index-old999.js');
    assert.equal(stale.statusCode, 404, 'a missing asset is not answered with the page');
    assert.match(stale.headers['content-type'] as string, /problem\+json/);

    const bare = await app.inject('/admin/ui');
    assert.equal(bare.statusCode, 301);
    assert.equal(bare.headers.location, '/admin/ui/');
    await app.close();
  });

  test('path tricks answer the page or a 404, never a file outside the build', async () => {
    const app = await serve(fakeBuild());
    const index = (await app.inject('/admin/ui/')).body;
    for (const url of [
      '/admin/ui/../../../etc/passwd',
      '/admin/ui/%2e%2e/%2e%2e/etc/passwd',
      '/admin/ui/assets/..%2f..%2fpackage.json',
      '/admin/ui/assets/%2e%2e/index.html',
      '/admin/ui//etc/passwd',
    ]) {
      const res = await app.inject(url);
      const isPage = res.statusCode === 200 && res.body === index;
      const isMissing = res.statusCode === 404;
      assert.ok(isPage || isMissing, `${url}: ${res.statusCode} ${res.body.slice(0, 80)}`);
    }
    await app.close();
  });

  test('without a build the console says how to build it', async () => {
    const app = Fastify();
    serveConsole(app, undefined);
    const res = await app.inject('/admin/ui/');
    assert.equal(res.statusCode, 404);
    assert.match(res.body, /npm run build/);
    await app.close();
  });

  test('console_dir without index.html is refused at start', () => {
    assert.throws(() => registerConsole(Fastify(), tempDir('pcl-empty-')), /holds no index\.html/);
  });
});
