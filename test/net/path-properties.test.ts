import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isCleanPath, normalizePath, normalizePathSlow, type PathOptions } from '../../src/net/path.js';

const RUNS = { numRuns: 3000 };

// Biased toward the characters that matter: separators, dots, escapes of '.', '/', '\', ';'
// and controls, hex digits of both cases, and a few letters.
const tricky = fc.string({
  unit: fc.constantFrom(
    '/',
    '/',
    '.',
    '.',
    '%',
    '%2e',
    '%2E',
    '%2f',
    '%5c',
    '%3b',
    '%00',
    '%25',
    '%41',
    '%c3%a9',
    ';',
    '2',
    'e',
    'E',
    'f',
    'F',
    '0',
    'a',
    'B',
    ' ',
    'é',
    '\\',
  ),
  maxLength: 40,
});
const trickyPath = tricky.map((s) => '/' + s);
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  // Raw UTF-16 code units, lone surrogates included.
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((a) => String.fromCharCode(...a)),
  trickyPath,
);
const options: fc.Arbitrary<PathOptions> = fc.record(
  { caseInsensitive: fc.boolean(), allowSemicolons: fc.boolean() },
  { requiredKeys: [] },
);

function segments(path: string): string[] {
  return path.split('/').slice(1);
}

describe('normalizePath properties', () => {
  test('is idempotent: an ok result normalizes to itself', () => {
    fc.assert(
      fc.property(trickyPath, options, (p, o) => {
        const first = normalizePath(p, o);
        if (!first.ok) return;
        assert.deepEqual(normalizePath(first.path, o), first);
        assert.equal(isCleanPath(first.path, o) || normalizePathSlow(first.path, o).ok, true);
      }),
      RUNS,
    );
  });

  test('fast path and slow path agree', () => {
    fc.assert(
      fc.property(anyString, options, (p, o) => {
        assert.deepEqual(normalizePath(p, o), normalizePathSlow(p, o));
        if (isCleanPath(p, o)) assert.deepEqual(normalizePathSlow(p, o), { ok: true, path: p });
      }),
      RUNS,
    );
  });

  test('an ok result has no empty or dot segment, encoded separator, backslash or disallowed ";"', () => {
    fc.assert(
      fc.property(trickyPath, options, (p, o) => {
        const r = normalizePath(p, o);
        if (!r.ok) return;
        const path = r.path;
        assert.ok(path.startsWith('/'));
        assert.ok(!path.includes('//'), path);
        const segs = segments(path);
        segs.forEach((s, i) => {
          assert.ok(s !== '.' && s !== '..', path);
          if (s === '') assert.equal(i, segs.length - 1, path);
          // Not a dot segment once ";…" or "%3B…" parameters are removed.
          assert.ok(!/^\.\.?(;|%3B)/.test(s), path);
        });
        assert.ok(!/%2F|%5C/i.test(path), path);
        assert.ok(!/%(?:[01][0-9A-F]|7F)/i.test(path), path);
        assert.ok(!path.includes('\\'), path);
        if (!o.allowSemicolons) assert.ok(!path.includes(';'), path);
        if (o.caseInsensitive) assert.ok(!/[A-Z]/.test(path.replace(/%[0-9A-F]{2}/g, '')), path);
        // Percent-escapes are upper-case and never encode an unreserved character.
        for (const m of path.matchAll(/%(..)/g)) {
          assert.match(m[1]!, /^[0-9A-F]{2}$/, path);
          assert.doesNotMatch(String.fromCharCode(Number.parseInt(m[1]!, 16)), /[A-Za-z0-9\-._~]/, path);
        }
        // Only pchar, '/' and escapes remain.
        assert.match(path, /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*$/, path);
      }),
      RUNS,
    );
  });

  test('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(anyString, options, (p, o) => {
        const r = normalizePath(p, o);
        assert.equal(typeof r.ok, 'boolean');
        if (!r.ok) assert.equal(typeof r.reason, 'string');
      }),
      RUNS,
    );
  });

  test('resolves dot segments like the WHATWG URL parser', () => {
    // The WHATWG URL parser removes dot segments and counts '%2e' as '.', but clamps at the
    // root. Whenever we accept such a path we must resolve it exactly as it does; when we
    // refuse, it can only be because the path climbs above the root.
    const simple = fc
      .array(fc.constantFrom('a', 'b', '.', '..', '%2e', '%2E%2e'), { minLength: 1, maxLength: 10 })
      .map((s) => '/' + s.join('/'));
    fc.assert(
      fc.property(simple, (p) => {
        const r = normalizePath(p);
        const resolved = new URL(p, 'http://h').pathname;
        if (r.ok) assert.equal(r.path, resolved);
        else assert.equal(r.reason, 'escapes the root');
      }),
      RUNS,
    );
  });
});
