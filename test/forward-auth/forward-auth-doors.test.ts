import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, createKey, grant, settle } from '../helpers/identity.js';

// Forward-auth without a proxy in front: the conventions of nginx, Traefik and Envoy spoken
// directly, so each door's parsing and its refusals are pinned down.
describe('forward-auth door conventions', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let untrusted: GatewayProcess;
  let key: string;
  const document = (url: string) => ({
    routes: [
      {
        id: 'orders',
        host: 'api.test',
        path: '/v1/orders/*',
        methods: { GET: 'api_key' },
        upstream: { url },
      },
      { id: 'public', path: '/hello', methods: { GET: 'public' }, upstream: { url } },
      { id: 'signed', path: '/signed', methods: { POST: 'hmac', GET: 'hmac' }, upstream: { url } },
    ],
  });

  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: document(upstream.url),
      env: { PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32,::1/128' },
    });
    untrusted = await startGateway({ document: document(upstream.url) });
    await addClient(gw, 'app', 'App');
    key = (await createKey(gw, 'app')).key;
    await grant(gw, 'app', 'orders');
    await settle(gw);
  });
  after(async () => {
    await gw?.stop();
    await untrusted?.stop();
    await upstream?.close();
  });

  const authz = async (base: string, path: string, headers: Record<string, string>, method = 'GET') => {
    const res = await request(`${base}${path}`, { method, headers });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text };
  };

  it('nginx auth_request: allows with identity headers, denies with the pipeline code', async () => {
    const ok = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-original-uri': '/v1/orders/7?x=1',
      'x-original-method': 'GET',
      'x-original-host': 'api.test',
      authorization: `Bearer ${key}`,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '');
    assert.equal(ok.headers['x-portcullis-client-id'], 'app');
    assert.equal(ok.headers['x-portcullis-route-id'], 'orders');
    assert.ok(ok.headers['x-request-id']);
    const noKey = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-original-uri': '/v1/orders/7',
      'x-original-method': 'GET',
      'x-original-host': 'api.test',
    });
    assert.equal(noKey.status, 401);
    assert.equal(noKey.headers['www-authenticate'], 'Bearer realm="portcullis"');
    const publicRoute = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-original-uri': '/hello',
      'x-original-method': 'GET',
    });
    assert.equal(publicRoute.status, 200);
  });

  it('Traefik ForwardAuth headers', async () => {
    const ok = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-forwarded-uri': '/v1/orders/7',
      'x-forwarded-method': 'GET',
      'x-forwarded-host': 'api.test',
      'x-api-key': key,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-portcullis-key-id'] !== undefined, true);
  });

  it('Envoy ext_authz: original path appended, original method and host', async () => {
    const ok = await authz(gw.proxyUrl, '/_portcullis/authz/v1/orders/7?q=1', {
      host: 'api.test',
      authorization: `Bearer ${key}`,
    });
    assert.equal(ok.status, 200);
    const wrongMethod = await authz(
      gw.proxyUrl,
      '/_portcullis/authz/v1/orders/7',
      { host: 'api.test', authorization: `Bearer ${key}` },
      'DELETE',
    );
    assert.equal(wrongMethod.status, 405);
  });

  it('a missing or malformed original request is a denial, never a 200', async () => {
    const cases: Array<Record<string, string>> = [
      { authorization: `Bearer ${key}` },
      { 'x-original-uri': '/v1/orders/7', authorization: `Bearer ${key}`, 'x-original-host': 'api.test' },
      {
        'x-original-uri': '/v1/orders/7',
        'x-original-method': 'get me',
        'x-original-host': 'api.test',
        authorization: `Bearer ${key}`,
      },
      {
        'x-original-uri': 'v1/orders',
        'x-original-method': 'GET',
        'x-original-host': 'api.test',
        authorization: `Bearer ${key}`,
      },
      {
        'x-original-uri': '/v1/orders/%2e%2e/%2e%2e/admin',
        'x-original-method': 'GET',
        'x-original-host': 'api.test',
        authorization: `Bearer ${key}`,
      },
      {
        'x-original-uri': '/v1/orders/7',
        'x-original-method': 'GET',
        'x-original-host': 'evil@api.test',
        authorization: `Bearer ${key}`,
      },
    ];
    for (const headers of cases) {
      const res = await authz(gw.proxyUrl, '/_portcullis/authz', headers);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(headers)} → ${res.status}`);
    }
  });

  it('refuses a call mixing conventions: a client cannot describe another request than the proxy forwards', async () => {
    // Behind Traefik, a client adds nginx's X-Original-* for a public path while Traefik
    // describes the real (protected) request in X-Forwarded-*.
    const mixed = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-forwarded-uri': '/v1/orders/7',
      'x-forwarded-method': 'DELETE',
      'x-forwarded-host': 'api.test',
      'x-original-uri': '/hello',
      'x-original-method': 'GET',
    });
    assert.equal(mixed.status, 400);
    const envoyPlusHeaders = await authz(gw.proxyUrl, '/_portcullis/authz/v1/orders/7', {
      host: 'api.test',
      'x-original-uri': '/hello',
      'x-original-method': 'GET',
    });
    assert.equal(envoyPlusHeaders.status, 400);
  });

  it('always answers every identity header, empty when unknown (so a proxy overwrites client copies)', async () => {
    const res = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-original-uri': '/hello',
      'x-original-method': 'GET',
    });
    assert.equal(res.status, 200);
    for (const name of [
      'x-portcullis-client-id',
      'x-portcullis-client-name',
      'x-portcullis-key-id',
      'x-portcullis-user-id',
      'x-portcullis-scopes',
    ]) {
      assert.equal(res.headers[name], '', name);
    }
  });

  it('refuses HMAC for requests that may carry a body (the proxy does not pass it)', async () => {
    const res = await authz(gw.proxyUrl, '/_portcullis/authz', {
      'x-original-uri': '/signed',
      'x-original-method': 'POST',
      authorization: `HMAC client_id="app",timestamp="${Math.floor(Date.now() / 1000)}",nonce="abcdefgh12",signature="${'0'.repeat(64)}"`,
    });
    assert.equal(res.status, 401);
    assert.match(res.body, /only be verified in gateway mode/);
  });

  it('believes forward-auth headers only from trusted proxies', async () => {
    const res = await authz(untrusted.proxyUrl, '/_portcullis/authz', {
      'x-original-uri': '/hello',
      'x-original-method': 'GET',
    });
    assert.equal(res.status, 403);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'untrusted_proxy');
  });
});
