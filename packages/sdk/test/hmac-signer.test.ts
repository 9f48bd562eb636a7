import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  buildHmacAuthorization,
  computeSignature,
  fetchTarget,
  signedCurl,
  signedFetch,
} from '../src/index.js';
import { json, startServer, type TestServer } from './helpers/http-server.js';

const SECRET = 'top-secret-0123456789';
const HEADER = /^HMAC client_id="([^"]+)",timestamp="(\d+)",nonce="([^"]+)",signature="([0-9a-f]{64})"$/;

/** The server side, written out from PRODUCT §5 rather than imported: an independent check. */
function expectedSignature(method: string, target: string, timestamp: string, nonce: string, body: Buffer) {
  return createHmac('sha256', SECRET)
    .update(Buffer.concat([Buffer.from(`${method}\n${target}\n${timestamp}\n${nonce}\n`), body]))
    .digest('hex');
}

describe('HMAC signer', () => {
  test('matches the vector computed with `openssl dgst -sha256 -hmac`', () => {
    assert.equal(
      computeSignature('top-secret', 'POST', '/v1/orders?x=1', 1767225600, 'n0nce-0001', '{"qty":2}'),
      '6c5c2f27691d55e97ae75a742c7fb528a6682e4ff0c5ee6718a5b6f94f3ddfab',
    );
  });

  test('builds the header of PRODUCT §5 with a fresh nonce and the current time', () => {
    const a = buildHmacAuthorization({ clientId: 'app', secret: SECRET, method: 'GET', target: '/v1/x' });
    const b = buildHmacAuthorization({ clientId: 'app', secret: SECRET, method: 'GET', target: '/v1/x' });
    const match = HEADER.exec(a.header);
    assert.ok(match, a.header);
    assert.equal(match[1], 'app');
    assert.ok(Math.abs(Number(match[2]) - Date.now() / 1000) < 5);
    assert.notEqual(a.nonce, b.nonce);
    assert.equal(
      match[4],
      expectedSignature('GET', '/v1/x', match[2] ?? '', match[3] ?? '', Buffer.alloc(0)),
    );
  });

  test('fetchTarget is what fetch puts on the wire (percent-encoding, dot segments)', () => {
    assert.equal(fetchTarget('http://h/v1/orders?x=1#frag'), '/v1/orders?x=1');
    assert.equal(fetchTarget('http://h/a/./b/../c'), '/a/c');
    assert.equal(fetchTarget('http://h/caf\u00e9?q=\u00e9'), '/caf%C3%A9?q=%C3%A9');
    assert.equal(fetchTarget('http://h'), '/');
    assert.throws(() => fetchTarget('/relative'), /url must be an absolute/);
    assert.throws(() => fetchTarget('file:///etc/passwd'), /url must be an absolute/);
  });

  test('signedCurl is exported for debugging and signs the URL it prints', () => {
    const command = signedCurl({ clientId: 'app', secret: SECRET, method: 'GET', url: 'http://h/v1/x?a=1' });
    assert.match(command, /^curl -sS -g --path-as-is -X 'GET' -H 'Authorization: HMAC client_id="app"/);
  });
});

describe('signedFetch against a real server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => {
      const match = HEADER.exec(String(req.headers.authorization));
      const valid =
        match !== null &&
        match[4] === expectedSignature(req.method, req.url, match[2] ?? '', match[3] ?? '', req.body);
      json(res, valid ? 200 : 401, { valid });
    });
  });
  after(() => server.close());

  const credentials = { clientId: 'app', secret: SECRET };

  test('signs method, target as sent (path, query, non-ASCII, dot segments) and body', async () => {
    const cases: Array<[string, RequestInit | undefined]> = [
      [`${server.url}/v1/orders?x=1&y=%20`, undefined],
      [`${server.url}/v1/caf\u00e9/./a/../b?q=\u00e9`, { method: 'GET' }],
      [`${server.url}/v1/orders`, { method: 'POST', body: '{"qty":2,"name":"na\u00efve \u2603"}' }],
      [`${server.url}/v1/orders/1`, { method: 'put', body: new Uint8Array([0, 1, 2, 255]) }],
      [`${server.url}/v1/orders/1`, { method: 'PATCH', body: Buffer.from('patch') }],
      [`${server.url}/v1/orders/1`, { method: 'DELETE' }],
    ];
    for (const [url, init] of cases) {
      const response = await signedFetch(url, init, credentials);
      assert.equal(response.status, 200, `${init?.method ?? 'GET'} ${url}`);
      assert.deepEqual(await response.json(), { valid: true });
    }
    assert.equal(server.received.at(-1)?.method, 'DELETE');
    assert.equal(server.received.at(-3)?.method, 'PUT');
  });

  test('keeps the caller headers and accepts a URL object', async () => {
    const response = await signedFetch(
      new URL(`${server.url}/v1/x`),
      { headers: { 'x-trace': 'abc' } },
      { ...credentials, nonce: 'fixed-nonce-1', timestamp: Math.floor(Date.now() / 1000) },
    );
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(server.received.at(-1)?.headers['x-trace'], 'abc');
    assert.match(String(server.received.at(-1)?.headers.authorization), /nonce="fixed-nonce-1"/);
  });

  test('refuses what it cannot sign faithfully', () => {
    assert.throws(
      () => signedFetch(`${server.url}/x`, { headers: { Authorization: 'Bearer x' } }, credentials),
      /init.headers must not carry Authorization/,
    );
    assert.throws(
      () => signedFetch(`${server.url}/x`, { method: 'POST', body: new URLSearchParams('a=1') }, credentials),
      /init.body must be/,
    );
    assert.throws(
      () => signedFetch(`${server.url}/x`, undefined, { clientId: 'a"b', secret: SECRET }),
      /^TypeError: clientId/,
    );
    assert.throws(
      () => signedFetch(`${server.url}/x`, undefined, { clientId: 'app', secret: '' }),
      /secret must be/,
    );
  });
});
