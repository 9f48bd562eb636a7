import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isCleanPath, normalizePath, normalizePathSlow, type PathOptions } from '../../src/net/path.js';

/** [input, expected path or `!reason`, options?] */
type Case = readonly [string, string, PathOptions?];

function check(cases: readonly Case[]): void {
  for (const [input, expected, options] of cases) {
    test(`${JSON.stringify(input)}${options ? ` ${JSON.stringify(options)}` : ''} → ${expected}`, () => {
      const want = expected.startsWith('!')
        ? { ok: false, reason: expected.slice(1) }
        : { ok: true, path: expected };
      assert.deepEqual(normalizePath(input, options), want);
      assert.deepEqual(normalizePathSlow(input, options), want, 'slow path agrees');
    });
  }
}

const SEMI: PathOptions = { allowSemicolons: true };
const CI: PathOptions = { caseInsensitive: true };

describe('normalizePath removes dot segments after decoding and refuses climbing above the root', () => {
  check([
    ['/a/../b', '/b'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/%2E./b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a/%2e/b', '/a/b'],
    ['/a/./b/./c', '/a/b/c'],
    ['/..', '!escapes the root'],
    ['/.', '/'],
    ['/%2e%2e/etc/passwd', '!escapes the root'],
    ['/a/b/../../..', '!escapes the root'],
    ['/a/b/../../c', '/c'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/..', '/'],
    ['/a/./', '/a/'],
    ['/.well-known/acme', '/.well-known/acme'],
    ['/a/.../b', '/a/.../b'],
    ['/a/..b/.c', '/a/..b/.c'],
  ]);
});

describe('normalizePath refuses encoded separators and controls', () => {
  check([
    ['/admin%2Fusers', '!encoded slash'],
    ['/admin%2fusers', '!encoded slash'],
    ['/a%5Cb', '!encoded backslash'],
    ['/a%5cb', '!encoded backslash'],
    ['/a%00.json', '!encoded control character'],
    ['/a%0a', '!encoded control character'],
    ['/a%0D%0AX-Injected:1', '!encoded control character'],
    ['/a%1f', '!encoded control character'],
    ['/a%7F', '!encoded control character'],
    ['/a\\b', '!backslash'],
    ['/..\\..\\windows', '!backslash'],
    ['/a\u0000b', '!control character'],
    ['/a\nb', '!control character'],
    ['/a\u007fb', '!control character'],
  ]);
});

describe('normalizePath validates and canonicalizes percent-encoding once', () => {
  check([
    ['/%41%62c', '/Abc'],
    ['/%7e%5F%2D%30', '/~_-0'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%20b', '/a%20b'],
    ['/a%3f', '/a%3F'],
    // Double encoding: "%25" stays encoded and is decoded once only; a double-encoded
    // separator or dot ("%252e", "%252f", "%255c") is refused, since a twice-decoding upstream
    // would see '.', '/' or '\'. Other double encodings are data.
    ['/%2541', '/%2541'],
    ['/%252e%252e/admin', '!double-encoded separator'],
    ['/%252E', '!double-encoded separator'],
    ['/%', '!invalid percent-encoding'],
    ['/%4', '!invalid percent-encoding'],
    ['/%zz', '!invalid percent-encoding'],
    ['/a%g1', '!invalid percent-encoding'],
    ['/%%41', '!invalid percent-encoding'],
  ]);
});

describe('normalizePath merges repeated slashes and keeps a trailing slash', () => {
  check([
    ['//admin', '/admin'],
    ['/admin//x', '/admin/x'],
    ['//a///b', '/a/b'],
    ['/a/', '/a/'],
    ['/a//', '/a/'],
    ['/', '/'],
    ['//', '/'],
    ['/a/.//../b', '/b'],
  ]);
});

describe('normalizePath refuses paths that are not absolute', () => {
  check([
    ['', '!not absolute'],
    ['*', '!not absolute'],
    ['a/b', '!not absolute'],
    ['http://x/y', '!not absolute'],
  ]);
});

describe('normalizePath refuses ";" by default (Tomcat/Jetty strip path parameters)', () => {
  check([
    ['/admin;x/y', '!semicolon'],
    ['/public/..;/admin', '!semicolon'],
    ['/a/.;/b', '!semicolon'],
    ['/a;jsessionid=1', '!semicolon'],
    // An encoded ';' is data, but never allowed to hide a dot segment.
    ['/a%3Bb', '/a%3Bb'],
    ['/public/..%3B/admin', '!dot segment with parameters'],
    ['/public/%2e%2e%3bx/admin', '!dot segment with parameters'],
  ]);
});

describe('normalizePath with allowSemicolons keeps parameters but not dot segments behind them', () => {
  check([
    ['/admin;x/y', '/admin;x/y', SEMI],
    ['/a;b/c;d/', '/a;b/c;d/', SEMI],
    ['/public/..;/admin', '!dot segment with parameters', SEMI],
    ['/a/.;/b', '!dot segment with parameters', SEMI],
    ['/a/.;x/b', '!dot segment with parameters', SEMI],
    ['/a/..;jsessionid=1/b', '!dot segment with parameters', SEMI],
    ['/a/%2e%2e;/b', '!dot segment with parameters', SEMI],
    ['/a/;x/b', '/a/;x/b', SEMI],
    ['/a/...;x', '/a/...;x', SEMI],
  ]);
});

describe('normalizePath letter case', () => {
  check([
    ['/ADMIN', '/ADMIN'],
    ['/ADMIN', '/admin', CI],
    ['/Admin/%41/%c3%a9', '/admin/a/%C3%A9', CI],
    ['/x/%2f', '!encoded slash', CI],
    ['/x/%2F', '!encoded slash', CI],
    ['/x/%2F', '!encoded slash'],
    ['/x/%2f', '!encoded slash'],
  ]);
});

describe('normalizePath percent-encodes characters outside pchar as UTF-8', () => {
  check([
    ['/a b', '/a%20b'],
    ['/a"<>{}|^`[]', '/a%22%3C%3E%7B%7D%7C%5E%60%5B%5D'],
    ['/café', '/caf%C3%A9'],
    ['/日本', '/%E6%97%A5%E6%9C%AC'],
    ['/😀', '/%F0%9F%98%80'],
    ['/a\u00a0', '/a%C2%A0'],
    ['/\ud800x', '!invalid character'],
    ['/x\udc00', '!invalid character'],
    ["/!$&'()*+,=:@~", "/!$&'()*+,=:@~"],
  ]);
});

describe('normalizePath on very long paths', () => {
  // Each shape stresses one slow-path branch; the test timeout catches quadratic behaviour.
  const size = 100 * 1024;
  test('100 KB of clean segments is returned as-is', () => {
    const p = '/abcdefg'.repeat(size / 8);
    assert.equal(isCleanPath(p), true);
    assert.deepEqual(normalizePath(p), { ok: true, path: p });
  });
  test('100 KB of encoded unreserved characters is decoded', () => {
    const p = '/' + '%61'.repeat(size / 3);
    assert.deepEqual(normalizePath(p), { ok: true, path: '/' + 'a'.repeat(size / 3) });
  });
  test('100 KB of "a/.." pairs collapses to the root', () => {
    assert.deepEqual(normalizePath('/a/..'.repeat(size / 5)), { ok: true, path: '/' });
  });
  test('100 KB of slashes merges to one', () => {
    assert.deepEqual(normalizePath('/'.repeat(size)), { ok: true, path: '/' });
  });
  test('100 KB of deep segments then as many ".." escapes the root', () => {
    const depth = size / 4;
    const p = '/a'.repeat(depth) + '/..'.repeat(depth + 1);
    assert.deepEqual(normalizePath(p), { ok: false, reason: 'escapes the root' });
  });
  test('100 KB of non-ASCII is encoded', () => {
    const r = normalizePath('/' + 'é'.repeat(size));
    assert.equal(r.ok && r.path.length, 1 + 6 * size);
  });
});

describe('isCleanPath', () => {
  test('accepts already-canonical paths', () => {
    for (const p of ['/', '/v1/orders/42', '/a/', '/.well-known/x', '/a%20b', '/x/%C3%A9', "/!$&'()*+,=:@"]) {
      assert.equal(isCleanPath(p), true, p);
    }
  });
  test('rejects anything needing work', () => {
    for (const p of [
      '',
      'a',
      '//',
      '/a//b',
      '/.',
      '/a/..',
      '/a/.%2e',
      '/%41',
      '/%c3',
      '/a;b',
      '/a b',
      '/%2F',
    ]) {
      assert.equal(isCleanPath(p), false, p);
    }
  });
  test('treats upper-case letters as unclean only when case-insensitive', () => {
    assert.equal(isCleanPath('/Admin'), true);
    assert.equal(isCleanPath('/Admin', CI), false);
    assert.equal(isCleanPath('/a%C3%A9', CI), true);
  });
});

describe('double-encoded separators are refused', () => {
  for (const raw of ['/a/%252f/b', '/a/%252F', '/a%255c', '/a/%252e%252e/b', '/%2500', '/a/%25252f']) {
    test(raw, () => {
      const result = normalizePath(raw);
      assert.equal(result.ok, false);
    });
  }
  test('keeps other double encodings (a literal percent sign is data)', () => {
    assert.deepEqual(normalizePath('/a/100%2541'), { ok: true, path: '/a/100%2541' });
  });
});
