import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { parseHmacAuthorization } from '../../../src/auth/hmac/header.js';
import {
  buildHmacAuthorization,
  canonicalString,
  computeSignature,
  curlTarget,
  shellQuote,
  signedCurl,
} from '../../../src/auth/hmac/sign.js';

const TS = 1767225600;
const NONCE = 'n0nce-0001';
const BODY = Buffer.from('{"qty":2}');

describe('canonicalString and computeSignature', () => {
  test('the signed bytes are METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY with the raw body', () => {
    const bytes = canonicalString('POST', '/v1/orders?x=1', TS, NONCE, BODY);
    assert.equal(bytes.toString('latin1'), `POST\n/v1/orders?x=1\n${TS}\n${NONCE}\n{"qty":2}`);
  });

  test('an empty body leaves the final newline as the last byte', () => {
    assert.equal(
      canonicalString('GET', '/', TS, NONCE, new Uint8Array(0)).toString(),
      `GET\n/\n${TS}\n${NONCE}\n`,
    );
  });

  test('matches a vector computed by `openssl dgst -sha256 -hmac`', () => {
    // printf 'POST\n/v1/orders?x=1\n1767225600\nn0nce-0001\n{"qty":2}' | openssl dgst -sha256 -hmac 'top-secret'
    assert.equal(
      computeSignature('top-secret', 'POST', '/v1/orders?x=1', TS, NONCE, BODY),
      '6c5c2f27691d55e97ae75a742c7fb528a6682e4ff0c5ee6718a5b6f94f3ddfab',
    );
  });

  test('a string body is signed as its UTF-8 bytes', () => {
    const text = 'naïve – ☃';
    assert.equal(
      computeSignature('k', 'PUT', '/', TS, NONCE, text),
      computeSignature('k', 'PUT', '/', TS, NONCE, Buffer.from(text, 'utf8')),
    );
  });

  const refusals: Array<[string, () => unknown, RegExp]> = [
    ['method with a newline', () => canonicalString('GET\n/x', '/', TS, NONCE, BODY), /^method must be/],
    ['method with a space', () => canonicalString('GET /', '/', TS, NONCE, BODY), /^method must be/],
    ['empty method', () => canonicalString('', '/', TS, NONCE, BODY), /^method must be/],
    [
      'target with a newline (field shifting)',
      () => canonicalString('GET', `/a\n${TS}`, TS, NONCE, BODY),
      /^target/,
    ],
    ['target with a space', () => canonicalString('GET', '/a b', TS, NONCE, BODY), /^target/],
    ['target with non-ASCII', () => canonicalString('GET', '/ä', TS, NONCE, BODY), /^target/],
    ['empty target', () => canonicalString('GET', '', TS, NONCE, BODY), /^target/],
    ['fractional timestamp', () => canonicalString('GET', '/', 1.5, NONCE, BODY), /^timestamp/],
    ['negative timestamp', () => canonicalString('GET', '/', -1, NONCE, BODY), /^timestamp/],
    ['13-digit timestamp', () => canonicalString('GET', '/', 1e12, NONCE, BODY), /^timestamp/],
    ['nonce with a newline', () => canonicalString('GET', '/', TS, 'abc\ndefgh', BODY), /^nonce/],
    ['short nonce', () => canonicalString('GET', '/', TS, 'abc', BODY), /^nonce/],
    ['string passed as body', () => canonicalString('GET', '/', TS, NONCE, 'x' as never), /^body/],
    ['empty secret', () => computeSignature('', 'GET', '/', TS, NONCE, BODY), /^secret/],
    [
      'client id with a quote',
      () => buildHmacAuthorization({ clientId: 'a"b', secret: 's', method: 'GET', target: '/' }),
      /^clientId/,
    ],
  ];
  for (const [name, run, message] of refusals) {
    test(`${name} → TypeError naming the field`, () => {
      assert.throws(run, (error: Error) => error instanceof TypeError && message.test(error.message));
    });
  }
});

describe('buildHmacAuthorization', () => {
  test('builds a header the parser accepts, carrying the given fields', () => {
    const built = buildHmacAuthorization({
      clientId: 'client-1',
      secret: 'top-secret',
      method: 'POST',
      target: '/v1/orders?x=1',
      body: '{"qty":2}',
      timestamp: TS,
      nonce: NONCE,
    });
    assert.deepEqual(parseHmacAuthorization(built.header), {
      ok: true,
      clientId: 'client-1',
      timestamp: TS,
      nonce: NONCE,
      signature: '6c5c2f27691d55e97ae75a742c7fb528a6682e4ff0c5ee6718a5b6f94f3ddfab',
    });
    assert.equal(built.timestamp, TS);
    assert.equal(built.nonce, NONCE);
  });

  test('defaults: a fresh 32-character base64url nonce and the current unix time', () => {
    const before = Math.floor(Date.now() / 1000);
    const a = buildHmacAuthorization({ clientId: 'c', secret: 's', method: 'GET', target: '/' });
    const b = buildHmacAuthorization({ clientId: 'c', secret: 's', method: 'GET', target: '/' });
    assert.match(a.nonce, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(a.nonce, b.nonce);
    assert.ok(a.timestamp >= before && a.timestamp <= Math.floor(Date.now() / 1000));
  });
});

describe('shellQuote and curlTarget', () => {
  test('shellQuote round-trips hostile strings through a real shell', () => {
    for (const value of ["it's", "''", '$(id)`id`$HOME', 'a\nb', '\\', '"', '!', '-n', '%s', '']) {
      const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' });
      assert.equal(out, value);
    }
  });

  test('curlTarget is path and query as given, / when empty, fragment dropped', () => {
    assert.equal(curlTarget('http://h:8080/a/../b/./c?x=1&y=[a]{b}'), '/a/../b/./c?x=1&y=[a]{b}');
    assert.equal(curlTarget('https://h'), '/');
    assert.equal(curlTarget('http://h?x=1'), '/?x=1');
    assert.equal(curlTarget('http://h/a?b#frag'), '/a?b');
    assert.equal(curlTarget('HTTP://[::1]:80/%2F%2f'), '/%2F%2f');
  });

  for (const [name, url] of [
    ['credentials in the URL', 'http://u:p@h/'],
    ['a non-http scheme', 'ftp://h/'],
    ['a relative URL', '/v1/orders'],
    ['a space', 'http://h/a b'],
    ['non-ASCII (curl would re-encode it)', 'http://h/ä'],
    ['a newline', 'http://h/a\nb'],
  ] as const) {
    test(`curlTarget refuses ${name} → TypeError`, () => {
      assert.throws(() => curlTarget(url), TypeError);
    });
  }
});

describe('signedCurl', () => {
  const base = { url: 'http://127.0.0.1:1/v1/orders?x=1', clientId: 'c', secret: 's', method: 'POST' };

  test('turns off curl globbing and dot-segment removal, which would change the signed target', () => {
    const command = signedCurl(base);
    assert.match(command, / -g /);
    assert.match(command, / --path-as-is /);
    assert.doesNotMatch(command, /--data/);
  });

  test('a text body is sent inline; a body starting with @ or holding NUL goes through stdin', () => {
    assert.match(signedCurl({ ...base, body: "it's" }), /--data-binary 'it'\\''s'/);
    assert.match(
      signedCurl({ ...base, body: '@/etc/passwd' }),
      /^printf '@\/etc\/passwd' \| curl .*--data-binary @-/,
    );
    assert.match(
      signedCurl({ ...base, body: Buffer.from([0, 13, 10]) }),
      /^printf '\\000\\015\\012' \| curl /,
    );
  });

  for (const [name, headers] of [
    ['an Authorization header', { Authorization: 'Bearer x' }],
    ['a Content-Length header', { 'content-length': '1' }],
    ['a header value with CRLF (header injection)', { 'X-A': 'a\r\nAuthorization: x' }],
    ['an invalid header name', { 'X A': 'a' }],
  ] as const) {
    test(`refuses ${name} → TypeError`, () => {
      assert.throws(() => signedCurl({ ...base, headers }), TypeError);
    });
  }
});
