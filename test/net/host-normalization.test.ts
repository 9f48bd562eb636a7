import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { normalizeHost } from '../../src/net/host.js';

type Expect = readonly [hostname: string, port?: number] | string;

function check(cases: readonly (readonly [string | undefined, boolean, Expect])[]): void {
  for (const [value, secure, expected] of cases) {
    const label = `${JSON.stringify(value)} ${secure ? 'https' : 'http'}`;
    test(`${label} → ${typeof expected === 'string' ? expected : expected.join(':')}`, () => {
      const want =
        typeof expected === 'string'
          ? { ok: false, reason: expected }
          : { ok: true, hostname: expected[0], port: expected[1] };
      assert.deepEqual(normalizeHost(value, secure), want);
    });
  }
}

describe('normalizeHost canonicalizes plain names', () => {
  check([
    ['example.com', false, ['example.com']],
    ['Example.COM.', false, ['example.com']],
    ['api.example.com:8443', true, ['api.example.com', 8443]],
    ['internal_svc', false, ['internal_svc']],
    ['a-b.c', false, ['a-b.c']],
    ['localhost:3000', false, ['localhost', 3000]],
    ['x'.repeat(63) + '.com', false, ['x'.repeat(63) + '.com']],
  ]);
});

describe('normalizeHost drops only the default port of the scheme', () => {
  check([
    ['example.com:80', false, ['example.com']],
    ['example.com:80', true, ['example.com', 80]],
    ['example.com:443', true, ['example.com']],
    ['example.com:443', false, ['example.com', 443]],
    ['example.com:0080', false, ['example.com']],
    ['example.com:65535', false, ['example.com', 65535]],
    ['example.com:0', false, 'invalid port'],
    ['example.com:65536', false, 'invalid port'],
    ['example.com:99999', false, 'invalid port'],
    ['example.com:123456', false, 'invalid port'],
    ['example.com:+80', false, 'invalid port'],
    ['example.com:-1', false, 'invalid port'],
    ['example.com: 80', false, 'invalid port'],
    ['example.com:8o', false, 'invalid port'],
    ['example.com:', false, 'empty port'],
  ]);
});

describe('normalizeHost handles IP literals', () => {
  check([
    ['[::1]:8080', false, ['[::1]', 8080]],
    ['[0:0::1]', false, ['[::1]']],
    ['[2001:DB8:0:0:0:0:0:1]:443', true, ['[2001:db8::1]']],
    ['[::ffff:1.2.3.4]', false, ['[::ffff:1.2.3.4]']],
    ['[::1]:', false, 'empty port'],
    ['[::1]x', false, 'invalid host'],
    ['[::1', false, 'invalid IPv6 address'],
    ['[fe80::1%25eth0]', false, 'invalid IPv6 address'],
    ['[v1.x]', false, 'invalid IPv6 address'],
    ['[1.2.3.4]', false, 'invalid IPv6 address'],
    ['::1', false, 'invalid host'],
    ['1.2.3.4', false, ['1.2.3.4']],
    ['1.2.3.4.', false, ['1.2.3.4']],
    ['10.0.0.1:8080', false, ['10.0.0.1', 8080]],
    // Short, octal and hex IPv4 forms reach loopback/internal hosts in URL parsers.
    ['127.1', false, 'invalid IPv4 address'],
    ['2130706433', false, 'invalid IPv4 address'],
    ['0x7f.0.0.1', false, 'invalid IPv4 address'],
    ['127.0.0.0x1', false, 'invalid IPv4 address'],
    ['0177.0.0.1', false, 'invalid IPv4 address'],
    ['1.2.3.256', false, 'invalid IPv4 address'],
    ['example.123', false, 'invalid IPv4 address'],
  ]);
});

describe('normalizeHost refuses ambiguous or hostile values', () => {
  check([
    [undefined, false, 'missing host'],
    ['', false, 'missing host'],
    [':80', false, 'invalid host'],
    ['a@b.com', false, 'invalid host'],
    ['user:pw@b.com', false, 'invalid host'],
    ['a.com,b.com', false, 'invalid host'],
    ['a.com, a.com', false, 'invalid host'],
    ['exa mple.com', false, 'invalid host'],
    ['ex%41mple.com', false, 'invalid host'],
    ['example.com/x', false, 'invalid host'],
    ['example.com\\x', false, 'invalid host'],
    ['example.com\r\nX: 1', false, 'invalid host'],
    ['exämple.com', false, 'invalid host'],
    ['a:1:2', false, 'invalid host'],
    ['example.com..', false, 'empty label'],
    ['a..b', false, 'empty label'],
    ['.example.com', false, 'empty label'],
    ['.', false, 'empty label'],
    ['x'.repeat(64) + '.com', false, 'label too long'],
    ['x'.repeat(64), false, 'label too long'],
    [`${'a.'.repeat(126)}ab`, false, 'host too long'],
  ]);
});

test('normalizeHost is idempotent and never throws', () => {
  const unit = fc.constantFrom(
    'a',
    'B',
    '1',
    '.',
    ':',
    '-',
    '_',
    '[',
    ']',
    '@',
    ',',
    '%',
    ' ',
    'f',
    '8',
    '0',
  );
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 30 }), fc.boolean(), (value, secure) => {
      const r = normalizeHost(value, secure);
      if (!r.ok) return;
      const text = r.port === undefined ? r.hostname : `${r.hostname}:${r.port}`;
      assert.deepEqual(normalizeHost(text, secure), r);
    }),
    { numRuns: 3000 },
  );
});
