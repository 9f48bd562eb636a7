/**
 * A signature made without any of our code (printf | openssl dgst) must verify: the proof
 * that the canonical string is exactly what the scheme documents, byte for byte.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { shellQuote } from '../../../src/auth/hmac/sign.js';
import { MemoryState } from '../../../src/state/memory.js';
import { check, clockAtStart, NOW_S, outcome } from './fixtures.js';

const run = promisify(execFile);

async function opensslSignature(canonicalFormat: string, secret: string): Promise<string> {
  const script = `printf ${shellQuote(canonicalFormat)} | openssl dgst -sha256 -hmac ${shellQuote(secret)}`;
  const { stdout } = await run('bash', ['-c', script]);
  // OpenSSL 1.x prints "(stdin)= <hex>", 3.x "SHA2-256(stdin)= <hex>".
  const hex = /= ?([0-9a-f]{64})\s*$/.exec(stdout)?.[1];
  assert.ok(hex, `unexpected openssl output: ${stdout}`);
  return hex;
}

describe('interoperability with a bash/openssl signer', () => {
  const state = new MemoryState({ clock: clockAtStart() });
  after(() => state.close());
  const secret = 'interop-secret-Zx9';

  test('POST /v1/orders?x=1 with a JSON body signed by openssl → ok', async () => {
    const nonce = 'openssl-nonce-0001';
    const body = '{"sku":"A-1","qty":2}';
    const signature = await opensslSignature(`POST\\n/v1/orders?x=1\\n${NOW_S}\\n${nonce}\\n${body}`, secret);
    const verdict = await check(
      {
        method: 'POST',
        target: '/v1/orders?x=1',
        body: Buffer.from(body),
        authorization: `HMAC client_id="client-1",timestamp="${NOW_S}",nonce="${nonce}",signature="${signature}"`,
      },
      { state, secrets: [secret] },
    );
    assert.equal(outcome(verdict), 'ok');
  });

  test('GET with an empty body signed by openssl → ok', async () => {
    const nonce = 'openssl-nonce-0002';
    const signature = await opensslSignature(`GET\\n/v1/orders\\n${NOW_S}\\n${nonce}\\n`, secret);
    const verdict = await check(
      {
        method: 'GET',
        target: '/v1/orders',
        body: new Uint8Array(0),
        authorization: `HMAC client_id="client-1",timestamp="${NOW_S}",nonce="${nonce}",signature="${signature}"`,
      },
      { state, secrets: [secret] },
    );
    assert.equal(outcome(verdict), 'ok');
  });

  test('openssl signature over a different body → invalid_credentials', async () => {
    const nonce = 'openssl-nonce-0003';
    const signature = await opensslSignature(`POST\\n/v1/orders?x=1\\n${NOW_S}\\n${nonce}\\n{}`, secret);
    const verdict = await check(
      {
        method: 'POST',
        target: '/v1/orders?x=1',
        body: Buffer.from('{ }'),
        authorization: `HMAC client_id="client-1",timestamp="${NOW_S}",nonce="${nonce}",signature="${signature}"`,
      },
      { state, secrets: [secret] },
    );
    assert.equal(outcome(verdict), 'invalid_credentials');
  });
});
