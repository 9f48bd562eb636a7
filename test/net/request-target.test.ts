import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { splitTarget } from '../../src/net/target.js';

describe('splitTarget origin-form', () => {
  const cases: [string, string, string][] = [
    ['/', '/', ''],
    ['/v1/orders', '/v1/orders', ''],
    ['/p?q=1', '/p', '?q=1'],
    ['/p?', '/p', '?'],
    ['/p?a=1?b=/c', '/p', '?a=1?b=/c'],
    ['//evil.example/x', '//evil.example/x', ''],
    ['/a%2Fb?x=%2F', '/a%2Fb', '?x=%2F'],
  ];
  for (const [raw, pathname, query] of cases) {
    test(`${raw} → path ${pathname}, query ${JSON.stringify(query)}`, () => {
      assert.deepEqual(splitTarget(raw), {
        ok: true,
        authority: undefined,
        scheme: undefined,
        pathname,
        query,
      });
    });
  }
});

describe('splitTarget absolute-form returns the authority for comparison with Host', () => {
  const cases: [string, 'http' | 'https', string, string, string][] = [
    ['http://example.com/p?q', 'http', 'example.com', '/p', '?q'],
    ['https://Example.COM:8443/a/b', 'https', 'Example.COM:8443', '/a/b', ''],
    ['HTTP://h', 'http', 'h', '/', ''],
    ['http://h?x=1', 'http', 'h', '/', '?x=1'],
    ['http://h?x=/y', 'http', 'h', '/', '?x=/y'],
    ['http://[::1]:8080/x', 'http', '[::1]:8080', '/x', ''],
  ];
  for (const [raw, scheme, authority, pathname, query] of cases) {
    test(raw, () => {
      assert.deepEqual(splitTarget(raw), { ok: true, authority, scheme, pathname, query });
    });
  }
});

describe('splitTarget refuses other forms', () => {
  const cases: [string, string][] = [
    ['', 'empty request-target'],
    ['*', 'asterisk-form'],
    ['example.com:443', 'authority-form'],
    ['/a#frag', 'fragment'],
    ['/a?b#frag', 'fragment'],
    ['http://h/#', 'fragment'],
    ['/a\r\nX-Injected: 1', 'control character'],
    ['/a?x=\n', 'control character'],
    ['ftp://example.com/x', 'unsupported scheme'],
    ['javascript://x', 'unsupported scheme'],
    ['http:///x', 'missing authority'],
    ['http://?x', 'missing authority'],
    ['http://user:pw@example.com/', 'userinfo'],
    ['http://good.example@evil.example/', 'userinfo'],
    ['http:/x', 'invalid request-target'],
    ['a/b', 'invalid request-target'],
    ['1http://x/', 'invalid request-target'],
  ];
  for (const [raw, reason] of cases) {
    test(`${JSON.stringify(raw)} → ${reason}`, () => {
      assert.deepEqual(splitTarget(raw), { ok: false, reason });
    });
  }
});

test('splitTarget never throws and keeps path + query = the origin-form target', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      const raw = '/' + s;
      const r = splitTarget(raw);
      if (r.ok) assert.equal(r.pathname + r.query, raw);
      else assert.equal(typeof r.reason, 'string');
    }),
    { numRuns: 2000 },
  );
});
