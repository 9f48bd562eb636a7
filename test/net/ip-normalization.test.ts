import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalIpv6, normalizeIp } from '../../src/net/ip.js';

describe('normalizeIp', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:0102:0304', '1.2.3.4'],
    ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['fe80::1%', undefined],
    ['::1.2.3.4', '::102:304'],
    [undefined, undefined],
    ['', undefined],
    ['01.2.3.4', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.', undefined],
    ['256.1.1.1', undefined],
    [' 1.2.3.4', undefined],
    ['1.2.3.4:80', undefined],
    ['[::1]', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7:8::', undefined],
    ['1::2::3', undefined],
    [':1::', undefined],
    ['1:', undefined],
    ['12345::', undefined],
    ['::ffff:1.2.3.04', undefined],
    ['example.com', undefined],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(normalizeIp(input), expected);
    });
  }
});

// Eight groups written in assorted ways: full, leading zeros, upper case, one '::' anywhere.
const spelledIpv6 = fc
  .tuple(
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
    fc.boolean(),
    fc.boolean(),
    fc.nat(7),
    fc.nat(8),
  )
  .map(([groups, pad, upper, from, len]) => {
    let parts = groups.map((g) => {
      const h = g.toString(16);
      return upper ? (pad ? h.padStart(4, '0') : h).toUpperCase() : pad ? h.padStart(4, '0') : h;
    });
    const to = Math.min(8, from + len);
    const zeroRun = to - from >= 1 && groups.slice(from, to).every((g) => g === 0);
    if (zeroRun) parts = [...parts.slice(0, from), '', ...parts.slice(to)];
    let text = parts.join(':');
    if (zeroRun) {
      if (from === 0) text = ':' + text;
      if (to === 8) text += ':';
      if (from === 0 && to === 8) text = '::';
    }
    return { text, groups };
  });

describe('canonicalIpv6 agrees with node:net and the WHATWG URL serializer', () => {
  test('every spelling of an address yields the URL standard text (RFC 5952)', () => {
    fc.assert(
      fc.property(spelledIpv6, ({ text, groups }) => {
        assert.equal(isIPv6(text), true, text);
        const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
        const expected = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        const got = canonicalIpv6(text);
        if (mapped)
          assert.equal(
            normalizeIp(text),
            `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`,
          );
        else assert.equal(got, expected, text);
      }),
      { numRuns: 3000 },
    );
  });

  test('accepts exactly what node:net isIPv6 accepts (zone ids aside)', () => {
    const unit = fc.constantFrom(':', ':', '0', '1', 'f', 'F', 'a', '.', '2', '5', 'g');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 24 }), (s) => {
        assert.equal(canonicalIpv6(s) !== undefined, isIPv6(s), s);
      }),
      { numRuns: 5000 },
    );
  });
});
