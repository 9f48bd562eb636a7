/**
 * PortcullisVerifier against a real gateway process: the verification API on the proxy
 * listener, a verifier service token made with the CLI, API keys with scopes and a budget.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PortcullisError, PortcullisVerifier } from '@portcullis/sdk';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, cliJson, createKey, grant, settle, tampered } from '../helpers/identity.js';

describe('SDK verifyKey() against a running gateway', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let verifier: PortcullisVerifier;
  let token: string;
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
    key = await createKey(gw, 'app', ['--scopes', 'orders:read']);
    budgetKey = await createKey(gw, 'app', ['--scopes', 'orders:read', '--uses', '1']);
    await grant(gw, 'app', 'orders', 'GET');
    token = (await cliJson<{ token: string }>(gw, ['admin', 'tokens', 'create', '--role', 'verifier'])).token;
    await settle(gw);
    verifier = new PortcullisVerifier({ url: gw.proxyUrl, token, timeoutMs: 5000 });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it('a valid key: identity, scopes, route', async () => {
    const result = await verifier.verifyKey({ key: key.key, method: 'GET', path: '/v1/orders/1' });
    assert.equal(result.valid, true);
    assert.equal(result.code, 'valid');
    assert.deepEqual(result.client, { id: 'app', name: 'App' });
    assert.equal(result.keyId, key.id);
    assert.equal(result.environment, 'live');
    assert.deepEqual(result.scopes, ['orders:read']);
    assert.equal(result.route, 'orders');
    assert.match(result.requestId, /\S/);
  });

  it('verifyAuthorization takes a whole Authorization value and a route id', async () => {
    const result = await verifier.verifyAuthorization({
      authorization: `Bearer ${key.key}`,
      route: 'orders',
    });
    assert.equal(result.valid, true);
  });

  it('refusals are answers with the pipeline codes', async () => {
    const wrong = await verifier.verifyKey({ key: tampered(key.key), route: 'orders' });
    assert.deepEqual([wrong.valid, wrong.code], [false, 'invalid_credentials']);
    const method = await verifier.verifyKey({ key: key.key, route: 'orders', method: 'POST' });
    assert.deepEqual([method.valid, method.code], [false, 'forbidden_route']);
  });

  it('a budget is consumed once per call (no retries) and reported', async () => {
    const first = await verifier.verifyKey({ key: budgetKey.key, route: 'orders' });
    assert.equal(first.remaining, 0);
    const second = await verifier.verifyKey({ key: budgetKey.key, route: 'orders' });
    assert.equal(second.valid, false);
  });

  it('a bad service token is a PortcullisError 401 that does not contain the token', async () => {
    const bad = 'pclsvc_notarealtokennotarealtokennotarealtok';
    const other = new PortcullisVerifier({ url: gw.proxyUrl, token: bad });
    await assert.rejects(other.verifyKey({ key: key.key }), (error: unknown) => {
      assert.ok(error instanceof PortcullisError);
      assert.equal(error.status, 401);
      assert.equal(error.code, 'invalid_credentials');
      assert.ok(!error.message.includes(bad) && !JSON.stringify(error.problem).includes(bad));
      return true;
    });
  });

  it('a malformed call is a PortcullisError 400 with the detail', async () => {
    await assert.rejects(verifier.verifyKey({ key: key.key, ip: 'not-an-ip' }), (error: unknown) => {
      assert.ok(error instanceof PortcullisError);
      assert.equal(error.status, 400);
      assert.match(error.detail ?? '', /ip/);
      return true;
    });
  });
});
