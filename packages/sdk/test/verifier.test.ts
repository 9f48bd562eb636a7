import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PortcullisError, PortcullisVerifier } from '../src/index.js';
import { json, problem, startServer, type TestServer } from './helpers/http-server.js';

const TOKEN = 'pclsvc_verifier-token-0123456789abcdef';

describe('PortcullisVerifier over a real server', () => {
  let server: TestServer;
  let status = 200;
  before(async () => {
    server = await startServer((req, res) => {
      if (status !== 200) {
        problem(res, status, { title: 'unavailable', code: 'store_unavailable' }, { 'retry-after': '1' });
        return;
      }
      const body = JSON.parse(req.body.toString()) as Record<string, string>;
      json(res, 200, {
        valid: body['key'] === 'good',
        code: body['key'] === 'good' ? 'valid' : 'invalid_credentials',
        client: body['key'] === 'good' ? { id: 'app', name: 'App' } : null,
        keyId: null,
        userId: null,
        environment: null,
        scopes: [],
        route: null,
        ratelimit: null,
        remaining: null,
        requestId: 'r1',
      });
    });
  });
  after(() => server.close());

  test('POSTs the key and context to /_portcullis/verify with the service token', async () => {
    const verifier = new PortcullisVerifier({ url: server.url, token: TOKEN });
    const result = await verifier.verifyKey({
      key: 'good',
      route: 'orders',
      method: 'GET',
      path: '/v1',
      ip: '10.0.0.1',
    });
    assert.equal(result.valid, true);
    assert.deepEqual(result.client, { id: 'app', name: 'App' });
    const seen = server.received.at(-1)!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/_portcullis/verify');
    assert.equal(seen.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(JSON.parse(seen.body.toString()), {
      key: 'good',
      route: 'orders',
      method: 'GET',
      path: '/v1',
      ip: '10.0.0.1',
    });
  });

  test('a refusal is an answer, not an exception', async () => {
    const verifier = new PortcullisVerifier({ url: server.url, token: TOKEN });
    const result = await verifier.verifyAuthorization({ authorization: 'Bearer bad' });
    assert.equal(result.valid, false);
    assert.equal(result.code, 'invalid_credentials');
    assert.deepEqual(JSON.parse(server.received.at(-1)!.body.toString()), { authorization: 'Bearer bad' });
  });

  test('never retried, even on 503 (a verification consumes limits)', async () => {
    status = 503;
    try {
      const verifier = new PortcullisVerifier({ url: server.url, token: TOKEN, sleep: async () => {} });
      const before = server.received.length;
      await assert.rejects(
        verifier.verifyKey({ key: 'good' }),
        (error: unknown) => error instanceof PortcullisError && error.status === 503,
      );
      assert.equal(server.received.length - before, 1);
    } finally {
      status = 200;
    }
  });

  test('inputs are validated with messages naming the field', async () => {
    assert.throws(() => new PortcullisVerifier({ url: server.url, token: '' }), /token must be/);
    const verifier = new PortcullisVerifier({ url: server.url, token: TOKEN });
    await assert.rejects(verifier.verifyKey({ key: '' }), /key must be a non-empty string/);
    await assert.rejects(verifier.verifyKey({ key: 'k', path: 1 as never }), /path must be a string/);
    await assert.rejects(verifier.verifyAuthorization({} as never), /authorization must be/);
  });
});
