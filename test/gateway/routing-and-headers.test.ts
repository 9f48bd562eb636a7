import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

describe('routing and header hygiene through a real gateway process', () => {
  let upstream: ExampleUpstream;
  let hopUpstream: Server;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startExampleUpstream();
    // An upstream that sends connection-specific headers the gateway must not pass on.
    hopUpstream = createServer((_req, res) => {
      res.writeHead(200, {
        connection: 'x-upstream-private, keep-alive',
        'keep-alive': 'timeout=5',
        'x-upstream-private': 'must not reach the client',
        'x-upstream-public': 'fine',
        'proxy-authenticate': 'Basic',
        'content-type': 'text/plain',
      });
      res.end('ok');
    });
    await new Promise<void>((r) => hopUpstream.listen(0, '127.0.0.1', r));
    const hopUrl = `http://127.0.0.1:${(hopUpstream.address() as AddressInfo).port}`;
    gw = await startGateway({
      env: { PORTCULLIS_IDENTITY_HEADER_ALIASES: 'true' },
      document: {
        routes: [
          {
            id: 'pub',
            path: '/pub/*',
            methods: { GET: 'public', POST: 'public' },
            upstream: { url: upstream.url, strip_prefix: '/pub' },
          },
          {
            id: 'admin',
            path: '/admin/*',
            methods: { '*': ['api_key', 'jwt'] },
            upstream: { url: upstream.url },
          },
          { id: 'hmac-only', path: '/signed', methods: { POST: 'hmac' }, upstream: { url: upstream.url } },
          { id: 'any-echo', path: '/echo', methods: { '*': 'public' }, upstream: { url: upstream.url } },
          {
            id: 'host-a',
            host: 'a.test',
            path: '/echo',
            methods: { GET: 'public' },
            upstream: { url: upstream.url },
          },
          {
            id: 'wild',
            host: '*.wild.test',
            path: '/echo',
            methods: { GET: 'public' },
            upstream: { url: upstream.url },
          },
          { id: 'order', path: '/orders/:id', methods: { GET: 'public' }, upstream: { url: upstream.url } },
          {
            id: 'hop',
            path: '/hop',
            methods: { GET: 'public' },
            upstream: { url: hopUrl, timeout_ms: 2000 },
          },
        ],
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
    hopUpstream?.close();
  });

  it('forwards a public route with the prefix stripped', async () => {
    const res = await request(`${gw.proxyUrl}/pub/hello`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { message: 'hello from the example upstream' });
  });

  it('refuses a protected route with 401, a problem body and a challenge per scheme', async () => {
    const res = await request(`${gw.proxyUrl}/admin/users`);
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="portcullis"');
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(body['code'], 'missing_credentials');
    assert.equal(body['status'], 401);
    assert.equal(body['requestId'], res.headers['x-request-id']);
    const hmac = await request(`${gw.proxyUrl}/signed`, { method: 'POST', body: '{}' });
    assert.equal(hmac.statusCode, 401);
    assert.equal(hmac.headers['www-authenticate'], 'HMAC realm="portcullis"');
    await hmac.body.dump();
  });

  it('answers 404 no_route and 405 with Allow', async () => {
    const missing = await request(`${gw.proxyUrl}/nothing/here`);
    assert.equal(missing.statusCode, 404);
    assert.equal(((await missing.body.json()) as { code: string }).code, 'no_route');
    const wrongMethod = await request(`${gw.proxyUrl}/pub/hello`, { method: 'DELETE' });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.headers['allow'], 'GET, POST, HEAD');
    assert.equal(((await wrongMethod.body.json()) as { code: string }).code, 'method_not_allowed');
  });

  it('serves HEAD where GET is served', async () => {
    const res = await request(`${gw.proxyUrl}/pub/hello`, { method: 'HEAD' });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), '');
  });

  it('picks the exact host, then the wildcard, then any host', async () => {
    const routeSeen = async (host: string) => {
      const res = await request(`${gw.proxyUrl}/echo`, { headers: { host } });
      assert.equal(res.statusCode, 200);
      return ((await res.body.json()) as Echo).headers['x-portcullis-route-id'];
    };
    assert.equal(await routeSeen('a.test'), 'host-a');
    assert.equal(await routeSeen('A.TEST.'), 'host-a');
    assert.equal(await routeSeen('a.test:80'), 'host-a');
    assert.equal(await routeSeen('x.y.wild.test'), 'wild');
    assert.equal(await routeSeen('wild.test'), 'any-echo');
    assert.equal(await routeSeen('b.test'), 'any-echo');
  });

  it('matches parameter routes', async () => {
    const res = await request(`${gw.proxyUrl}/orders/ord_1001`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  });

  it('replaces forged forwarding and identity headers and strips hop-by-hop ones', async () => {
    const res = await request(`${gw.proxyUrl}/echo?x=1&y=%2F`, {
      headers: {
        host: 'client.test:8080',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.test',
        'x-forwarded-proto': 'https',
        forwarded: 'for=6.6.6.6',
        'x-real-ip': '6.6.6.6',
        'cf-connecting-ip': '6.6.6.6',
        'x-portcullis-client-id': 'forged-client',
        'x-client-id': 'forged-client',
        'x-route-id': 'forged-route',
        'x-request-id': 'trace-abc.123',
        'x-custom': 'kept',
      },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-request-id'], 'trace-abc.123');
    const echo = (await res.body.json()) as Echo;
    const h = echo.headers;
    assert.equal(echo.url, '/echo?x=1&y=%2F', 'query is forwarded byte for byte');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-host'], 'client.test:8080');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-request-id'], 'trace-abc.123');
    assert.equal(h['x-portcullis-route-id'], 'any-echo');
    assert.equal(h['x-route-id'], 'any-echo');
    assert.equal(h['host'], new URL(upstream.url).host);
    assert.equal(h['x-custom'], 'kept');
    for (const gone of [
      'forwarded',
      'x-real-ip',
      'cf-connecting-ip',
      'x-portcullis-client-id',
      'x-client-id',
    ]) {
      assert.equal(h[gone], undefined, `${gone} must not reach the upstream`);
    }
  });

  it("drops headers named in Connection, including an attempt to drop the gateway's own", async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'GET /echo HTTP/1.1\r\nHost: x.test\r\nConnection: close, X-Secret-Hop, X-Forwarded-For, X-Request-Id\r\n' +
        'X-Secret-Hop: connection-local\r\nTE: trailers\r\nKeep-Alive: timeout=1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n',
    );
    assert.equal(res.status, 200);
    const h = (JSON.parse(res.body) as Echo).headers;
    assert.equal(h['x-secret-hop'], undefined);
    assert.equal(h['te'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h['proxy-authorization'], undefined);
    // Naming our own headers in Connection cannot remove them: they are added after filtering.
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.match(h['x-request-id'] ?? '', /^[A-Za-z0-9_-]{16}-[0-9a-z]+$/);
  });

  it('drops underscore spellings of headers and method or URL overrides', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'GET /echo HTTP/1.1\r\nHost: x.test\r\nX_Client_ID: victim\r\nX-Forwarded_For: 6.6.6.6\r\nX_Portcullis_Client_Id: victim\r\n' +
        'X-HTTP-Method-Override: DELETE\r\nX-Method-Override: DELETE\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nConnection: close\r\n\r\n',
    );
    assert.equal(res.status, 200);
    const h = (JSON.parse(res.body) as Echo).headers;
    for (const name of [
      'x_client_id',
      'x-forwarded_for',
      'x_portcullis_client_id',
      'x-http-method-override',
      'x-method-override',
      'x-original-url',
      'x-rewrite-url',
    ]) {
      assert.equal(h[name], undefined, `${name} must not reach the upstream`);
    }
  });

  it('never forwards the admin session cookie to an upstream, and keeps the other cookies', async () => {
    const mixed = await request(`${gw.proxyUrl}/echo`, {
      headers: { cookie: 'a=1; portcullis_session=pclses_secret; b=2' },
    });
    assert.equal((JSON.parse(await mixed.body.text()) as Echo).headers['cookie'], 'a=1; b=2');
    const only = await request(`${gw.proxyUrl}/echo`, {
      headers: { cookie: 'portcullis_session=pclses_secret' },
    });
    assert.equal((JSON.parse(await only.body.text()) as Echo).headers['cookie'], undefined);
    const similar = await request(`${gw.proxyUrl}/echo`, { headers: { cookie: 'portcullis_session_x=1' } });
    assert.equal((JSON.parse(await similar.body.text()) as Echo).headers['cookie'], 'portcullis_session_x=1');
  });

  it('relays only WebSocket upgrades (h2c would tunnel past the gateway)', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'GET /echo HTTP/1.1\r\nHost: x.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    assert.equal(res.status, 400);
  });

  it('replaces a request id that is not plain', async () => {
    const res = await request(`${gw.proxyUrl}/echo`, { headers: { 'x-request-id': 'bad id with spaces' } });
    const id = res.headers['x-request-id'] as string;
    assert.match(id, /^[A-Za-z0-9_-]{16}-[0-9a-z]+$/);
    assert.equal(((await res.body.json()) as Echo).headers['x-request-id'], id);
  });

  it('strips hop-by-hop and Connection-named headers from the response', async () => {
    const res = await request(`${gw.proxyUrl}/hop`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-upstream-public'], 'fine');
    assert.equal(res.headers['x-upstream-private'], undefined);
    assert.equal(res.headers['proxy-authenticate'], undefined);
    assert.equal(await res.body.text(), 'ok');
  });

  it('serves /_portcullis/health and refuses other reserved paths', async () => {
    const health = await request(`${gw.proxyUrl}/_portcullis/health`);
    assert.equal(health.statusCode, 200);
    assert.deepEqual(await health.body.json(), { status: 'ok' });
    const other = await request(`${gw.proxyUrl}/_portcullis/nope`);
    assert.equal(other.statusCode, 404);
    await other.body.dump();
  });

  it('picks up route changes made by the CLI while running', async () => {
    const before = await request(`${gw.proxyUrl}/late/hello`);
    assert.equal(before.statusCode, 404);
    await before.body.dump();
    const current = JSON.parse((await gw.cli(['export', '--format', 'json'])).stdout) as {
      routes: unknown[];
    };
    const applied = await gw.apply({
      routes: [
        ...current.routes,
        {
          id: 'late',
          path: '/late/*',
          methods: { GET: 'public' },
          upstream: { url: upstream.url, strip_prefix: '/late' },
        },
      ],
    });
    assert.equal(applied.code, 0, applied.stderr);
    const res = await request(`${gw.proxyUrl}/late/hello`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const removed = await gw.cli(['routes', 'remove', 'late']);
    assert.equal(removed.code, 0);
    await new Promise((r) => setTimeout(r, 600));
    const gone = await request(`${gw.proxyUrl}/late/hello`);
    assert.equal(gone.statusCode, 404);
    await gone.body.dump();
  });

  it('reports readiness of each store on the admin listener and is not reachable through the proxy', async () => {
    const ready = await request(`${gw.adminUrl}/readyz`);
    assert.equal(ready.statusCode, 200);
    const body = (await ready.body.json()) as {
      status: string;
      checks: Array<{ name: string; ok: boolean }>;
    };
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.checks.map((c) => c.name).sort(), ['rate-limits', 'state:memory', 'store:sqlite']);
    const live = await request(`${gw.adminUrl}/healthz`);
    assert.equal(live.statusCode, 200);
    await live.body.dump();
    const viaProxy = await request(`${gw.proxyUrl}/readyz`);
    assert.equal(viaProxy.statusCode, 404);
    await viaProxy.body.dump();
  });
});
