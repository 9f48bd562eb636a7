import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, cliJson, createKey, grant, settle, tampered } from '../helpers/identity.js';

describe('verification API (POST /_portcullis/verify)', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let verifier: string;
  let viewer: string;
  let key: { id: string; key: string };
  let budgetKey: { id: string; key: string };

  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: {
        routes: [
          {
            id: 'orders',
            path: '/v1/orders/*',
            methods: { GET: 'api_key', POST: 'api_key' },
            scopes: ['orders:read'],
            upstream: { url: upstream.url },
          },
        ],
      },
    });
    await addClient(gw, 'app', 'App');
    key = await createKey(gw, 'app', ['--scopes', 'orders:read,orders:write']);
    budgetKey = await createKey(gw, 'app', ['--scopes', 'orders:read', '--uses', '2']);
    await grant(gw, 'app', 'orders', 'GET');
    verifier = (
      await cliJson<{ token: string }>(gw, [
        'admin',
        'tokens',
        'create',
        '--role',
        'verifier',
        '--name',
        'billing service',
      ])
    ).token;
    viewer = (await cliJson<{ token: string }>(gw, ['admin', 'tokens', 'create', '--role', 'viewer'])).token;
    await settle(gw);
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const verify = async (body: unknown, token: string | undefined = verifier) => {
    const res = await request(`${gw.proxyUrl}/_portcullis/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };

  it('answers valid with the identity, scopes and route', async () => {
    const res = await verify({ key: key.key, path: '/v1/orders/1', method: 'GET' });
    assert.equal(res.status, 200);
    assert.equal(res.body['valid'], true);
    assert.equal(res.body['code'], 'valid');
    assert.deepEqual(res.body['client'], { id: 'app', name: 'App' });
    assert.equal(res.body['keyId'], key.id);
    assert.equal(res.body['environment'], 'live');
    assert.deepEqual(res.body['scopes'], ['orders:read', 'orders:write']);
    assert.equal(res.body['route'], 'orders');
  });

  it('accepts the route by id and an Authorization value', async () => {
    const res = await verify({ authorization: `Bearer ${key.key}`, route: 'orders' });
    assert.equal(res.body['valid'], true);
  });

  it('answers invalid with the same pipeline codes (and 200)', async () => {
    assert.equal(
      (await verify({ key: tampered(key.key), route: 'orders' })).body['code'],
      'invalid_credentials',
    );
    assert.equal(
      (await verify({ key: key.key, route: 'orders', method: 'POST' })).body['code'],
      'forbidden_route',
    );
    assert.equal((await verify({ key: key.key, route: 'nope' })).body['code'], 'no_route');
  });

  it('consumes the remaining-uses budget and reports what is left', async () => {
    const first = await verify({ key: budgetKey.key, route: 'orders' });
    assert.equal(first.body['remaining'], 1);
    assert.equal((await verify({ key: budgetKey.key, route: 'orders' })).body['remaining'], 0);
    const third = await verify({ key: budgetKey.key, route: 'orders' });
    assert.equal(third.body['valid'], false);
    assert.equal(third.body['code'], 'usage_exhausted');
  });

  it('requires a verifier service token', async () => {
    const none = await verify({ key: key.key }, '');
    assert.equal(none.status, 401);
    assert.equal(none.body['code'], 'invalid_credentials');
    const wrong = await verify({ key: key.key }, 'pclsvc_notarealtokennotarealtokennotarealtok');
    assert.equal(wrong.status, 401);
    const apiKeyAsToken = await verify({ key: key.key }, key.key);
    assert.equal(apiKeyAsToken.status, 401);
    const viewerRes = await verify({ key: key.key }, viewer);
    assert.equal(viewerRes.status, 403);
    assert.equal(viewerRes.body['code'], 'forbidden');
  });

  it('refuses malformed calls with 400', async () => {
    assert.equal((await verify('{not json')).status, 400);
    assert.equal((await verify({})).status, 400);
    assert.equal((await verify({ key: key.key, authorization: 'x' })).status, 400);
    assert.equal((await verify({ key: key.key, extra: 1 })).status, 400);
    assert.equal((await verify({ key: key.key, ip: 'not-an-ip' })).status, 400);
    assert.equal(
      (await verify({ authorization: 'HMAC client_id="a",timestamp="1",nonce="abcdefgh",signature="00"' }))
        .status,
      400,
    );
    const get = await request(`${gw.proxyUrl}/_portcullis/verify`, {
      headers: { authorization: `Bearer ${verifier}` },
    });
    assert.equal(get.statusCode, 405);
    await get.body.dump();
  });

  it('revoking the service token takes effect', async () => {
    const extra = await cliJson<{ id: string; token: string }>(gw, [
      'admin',
      'tokens',
      'create',
      '--role',
      'verifier',
    ]);
    await settle(gw);
    assert.equal((await verify({ key: key.key, route: 'orders' }, extra.token)).status, 200);
    await cliJson(gw, ['admin', 'tokens', 'revoke', extra.id]);
    await settle(gw);
    assert.equal((await verify({ key: key.key, route: 'orders' }, extra.token)).status, 401);
    const list = await gw.cli(['admin', 'tokens', 'list', '--json']);
    assert.ok(!list.stdout.includes(extra.token) && !list.stdout.includes(verifier));
  });
});
