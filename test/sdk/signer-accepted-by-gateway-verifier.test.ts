/**
 * The SDK's signer and the gateway's verifier must agree byte for byte. Requests signed by
 * `signedFetch` go over a real socket to a server that checks them with the gateway's own
 * parser and verifier (src/auth/hmac), exactly as the pipeline does.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as sdk from '@portcullis/sdk';
import * as sdkHmac from '@portcullis/sdk/hmac';
import * as header from '../../src/auth/hmac/header.js';
import { parseHmacAuthorization } from '../../src/auth/hmac/header.js';
import * as rootSign from '../../src/auth/hmac/sign.js';
import { createHmacVerifier, type HmacVerdict } from '../../src/auth/hmac/verify.js';
import { systemClock } from '../../src/core/clock.js';
import { MemoryState } from '../../src/state/memory.js';

const CLIENT_ID = 'mobile-app';
const SECRET = 'hmac-secret-for-the-sdk-test-0123456789';

describe('SDK signer ↔ gateway verifier', () => {
  const state = new MemoryState({ clock: systemClock });
  const verify = createHmacVerifier({ windowS: 300, state, clock: systemClock });
  const verdicts: HmacVerdict[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const parsed = parseHmacAuthorization(req.headers.authorization ?? '');
      const verdict: HmacVerdict = parsed.ok
        ? await verify({
            header: parsed,
            method: req.method ?? '',
            target: req.url ?? '',
            body: Buffer.concat(chunks),
            secrets: parsed.clientId === CLIENT_ID ? [SECRET] : [],
          })
        : { ok: false, code: 'invalid_credentials', reason: parsed.reason };
      verdicts.push(verdict);
      res.writeHead(verdict.ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(verdict));
    });
  });
  let base = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await state.close();
  });

  const credentials = { clientId: CLIENT_ID, secret: SECRET };

  test('signedFetch requests are accepted: methods, queries, encodings, binary and UTF-8 bodies', async () => {
    const cases: Array<[string, RequestInit | undefined]> = [
      ['/v1/orders', undefined],
      ['/v1/orders?status=open&sort=-created&x=%2F', { method: 'GET' }],
      ['/v1/caf\u00e9/./x/../y?q=\u00e9t\u00e9', undefined],
      ['/v1/orders', { method: 'POST', body: JSON.stringify({ qty: 2, note: 'na\u00efve \u2603' }) }],
      ['/v1/orders/1', { method: 'PUT', body: new Uint8Array([0, 10, 13, 255, 34]) }],
      ['/v1/orders/1', { method: 'PATCH', body: '' }],
      ['/v1/orders/1', { method: 'DELETE' }],
    ];
    for (const [path, init] of cases) {
      const response = await sdk.signedFetch(`${base}${path}`, init, credentials);
      const verdict = (await response.json()) as HmacVerdict;
      assert.deepEqual(verdict, { ok: true }, `${init?.method ?? 'GET'} ${path}`);
    }
  });

  test('a replay of the same signed request is refused by the verifier (nonce once)', async () => {
    const fixed = { ...credentials, nonce: 'sdk-replay-nonce-1', timestamp: Math.floor(Date.now() / 1000) };
    assert.equal((await sdk.signedFetch(`${base}/v1/x`, undefined, fixed)).status, 200);
    const again = await sdk.signedFetch(`${base}/v1/x`, undefined, fixed);
    assert.equal(again.status, 401);
    assert.equal(((await again.json()) as { code: string }).code, 'replayed_request');
  });

  test('a wrong secret is refused', async () => {
    const response = await sdk.signedFetch(`${base}/v1/x`, undefined, {
      clientId: CLIENT_ID,
      secret: 'wrong',
    });
    assert.equal(response.status, 401);
    await response.body?.cancel();
  });

  test('the gateway re-exports the SDK signer: one implementation', () => {
    assert.equal(rootSign.buildHmacAuthorization, sdkHmac.buildHmacAuthorization);
    assert.equal(rootSign.canonicalString, sdkHmac.canonicalString);
    assert.equal(rootSign.computeSignature, sdk.computeSignature);
    assert.equal(rootSign.signedCurl, sdk.signedCurl);
  });

  test("the signer's character sets are the parser's (a signed header always parses)", () => {
    assert.equal(String(sdkHmac.CLIENT_ID_PATTERN), String(header.CLIENT_ID_PATTERN));
    assert.equal(String(sdkHmac.NONCE_PATTERN), String(header.NONCE_PATTERN));
    assert.equal(String(sdkHmac.TIMESTAMP_PATTERN), String(header.TIMESTAMP_PATTERN));
  });
});
