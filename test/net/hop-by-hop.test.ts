import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectionTokens, HOP_BY_HOP } from '../../src/net/hop-by-hop.js';

describe('HOP_BY_HOP', () => {
  test('lists the RFC 9110 §7.6.1 connection-specific fields in lower case', () => {
    assert.deepEqual([...HOP_BY_HOP].sort(), [
      'connection',
      'keep-alive',
      'proxy-authenticate',
      'proxy-authorization',
      'proxy-connection',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
    ]);
  });
});

describe('connectionTokens', () => {
  const cases: [string | string[] | undefined, string[]][] = [
    [undefined, []],
    ['', []],
    ['close', ['close']],
    ['Keep-Alive, X-Custom', ['keep-alive', 'x-custom']],
    [' \tUpgrade\t ,, ,HTTP2-Settings ', ['upgrade', 'http2-settings']],
    [
      ['close', 'X-A, x-a', 'X-B'],
      ['close', 'x-a', 'x-b'],
    ],
    [[], []],
    [',,,', []],
  ];
  for (const [value, expected] of cases) {
    test(`${JSON.stringify(value)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual([...connectionTokens(value)], expected);
    });
  }
});
