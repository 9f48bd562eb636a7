import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';

// PRODUCT.md §6: "No request can reach an upstream path that a different route would have
// protected." A public catch-all sits next to a protected /admin/* route; every attack must
// either be refused (400), land on the protected route (401), or be forwarded to a path that
// is not under /admin.
const document = (upstreamUrl: string) => ({
  routes: [
    { id: 'public', path: '/*', methods: { '*': 'public' }, upstream: { url: upstreamUrl } },
    { id: 'admin', path: '/admin/*', methods: { '*': 'api_key' }, upstream: { url: upstreamUrl } },
  ],
});

const attacks: Array<[string, number]> = [
  ['/admin/x', 401],
  ['/public/../admin/x', 401],
  ['/public/%2e%2e/admin/x', 401],
  ['/public/%2E%2E/admin/x', 401],
  ['/public/.%2e/admin/x', 401],
  ['/public/%2e./admin/x', 401],
  ['/./admin/x', 401],
  ['/%2e/admin/x', 401],
  ['//admin/x', 401],
  ['///admin', 401],
  ['/admin//x', 401],
  ['/%61dmin/x', 401],
  ['/admin/%2e', 401],
  ['/admin/x?../../public', 401],
  ['/admin%2fx', 400],
  ['/admin%2Fx', 400],
  ['/public/..%2fadmin/x', 400],
  ['/public/..%2Fadmin/x', 400],
  ['/admin%5cx', 400],
  ['/admin%5Cx', 400],
  ['/public\\..\\admin/x', 400],
  ['/admin%00/x', 400],
  ['/admin%0a/x', 400],
  ['/admin;x/y', 400],
  ['/public/..;/admin/x', 400],
  ['/public/.;/admin/x', 400],
  ['/..', 400],
  ['/../admin/x', 400],
  ['/%2e%2e/admin/x', 400],
  ['/public/../../admin/x', 400],
  ['/public#/../admin/x', 400],
  ['/admin%zz', 400],
  ['*', 400],
  // Double encoding: "%252f" is "/" to an upstream that decodes twice.
  ['/echo/%252e%252e/admin/x', 400],
  ['/admin%252fx', 400],
  ['/public%255cadmin', 400],
  // Letter case: with routes written in lower case, /ADMIN would reach /admin on an upstream
  // that ignores case, through the public route.
  ['/ADMIN/x', 400],
  ['/Admin', 400],
  // A trailing slash is the same resource.
  ['/admin/', 401],
];

describe('path normalization attacks through a real gateway', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({ document: document(upstream.url) });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  for (const [path, expected] of attacks) {
    it(`${path} → ${expected}`, async () => {
      const res = await rawGet(gw.proxyPort, path);
      assert.equal(res.status, expected, res.raw.slice(0, 300));
      if (expected >= 400) {
        assert.equal(res.headers['content-type'], 'application/problem+json');
        const code = (JSON.parse(res.body) as { code: string }).code;
        if (expected === 401) assert.equal(code, 'missing_credentials');
        else assert.ok(code === 'bad_request_path' || code === 'bad_request', code);
      }
    });
  }

  it('forwards exactly the normalized path it matched', async () => {
    const cases: Array<[string, string]> = [
      ['/echo/a/./b/../c', '/echo/a/c'],
      ['/echo//a///b', '/echo/a/b'],
      ['/echo/%7euser/%41', '/echo/~user/A'],
      ['/echo/caf%c3%a9', '/echo/caf%C3%A9'],
      ['/echo/x?q=%2F..%2F&a=/../', '/echo/x?q=%2F..%2F&a=/../'],
    ];
    for (const [sent, forwarded] of cases) {
      const res = await rawGet(gw.proxyPort, sent);
      assert.equal(res.status, 200, `${sent}: ${res.raw.slice(0, 200)}`);
      assert.equal((JSON.parse(res.body) as { url: string }).url, forwarded, sent);
    }
  });

  it('treats paths case-sensitively by default (documented): /ADMIN is a different path', async () => {
    const res = await rawGet(gw.proxyPort, '/echo/ADMIN');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { url: string }).url, '/echo/ADMIN');
  });

  it('refuses host tricks', async () => {
    const port = gw.proxyPort;
    assert.equal((await rawGet(port, '/echo', ['Host: a.test', 'Host: b.test'])).status, 400);
    assert.equal((await rawGet(port, '/echo', ['Host: evil.test@a.test'])).status, 400);
    assert.equal((await rawGet(port, '/echo', ['Host: a.test, b.test'])).status, 400);
    assert.equal((await rawGet(port, '/echo', ['Host: a.test..'])).status, 400);
    assert.equal((await rawGet(port, '/echo', ['Host: a test'])).status, 400);
    assert.equal((await rawGet(port, '/echo', ['Host: a.test:99999'])).status, 400);
    assert.equal((await rawGet(port, '/echo', ['Host: 127.1'])).status, 400);
    const absoluteOther = await rawRequest(
      port,
      'GET http://other.test/admin/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
    );
    assert.equal(absoluteOther.status, 400);
    const absoluteSame = await rawRequest(
      port,
      'GET http://a.test/admin/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
    );
    assert.equal(absoluteSame.status, 401, 'absolute-form is matched on its path like origin-form');
    const http10 = await rawRequest(port, 'GET /echo HTTP/1.0\r\n\r\n');
    assert.equal(http10.status, 400, 'HTTP/1.0 without Host has no host to route on');
  });
});

describe('case-insensitive paths (path_case_insensitive=true)', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: document(upstream.url),
      env: { PORTCULLIS_PATH_CASE_INSENSITIVE: 'true' },
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it('/ADMIN cannot dodge the route protecting /admin', async () => {
    assert.equal((await rawGet(gw.proxyPort, '/ADMIN/x')).status, 401);
    assert.equal((await rawGet(gw.proxyPort, '/Admin/X')).status, 401);
  });
  it('forwards the lower-cased path it matched', async () => {
    const res = await rawGet(gw.proxyPort, '/Echo/ABC%c3%a9');
    assert.equal((JSON.parse(res.body) as { url: string }).url, '/echo/abc%C3%A9');
  });
});

describe('semicolons when allowed (path_allow_semicolons=true)', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: document(upstream.url),
      env: { PORTCULLIS_PATH_ALLOW_SEMICOLONS: 'true' },
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });
  it('passes matrix parameters but still refuses ..; traversal', async () => {
    const ok = await rawGet(gw.proxyPort, '/echo/a;v=1/b');
    assert.equal(ok.status, 200);
    assert.equal((JSON.parse(ok.body) as { url: string }).url, '/echo/a;v=1/b');
    assert.equal((await rawGet(gw.proxyPort, '/public/..;/admin/x')).status, 400);
  });
});
