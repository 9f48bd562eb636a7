import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  CLIENT_ID_PATTERN,
  NONCE_PATTERN,
  parseHmacAuthorization,
  SIGNATURE_PATTERN,
} from '../../../src/auth/hmac/header.js';

const SIG = 'ab'.repeat(32);
const P = {
  client_id: 'client_id="client-1"',
  timestamp: 'timestamp="1767225600"',
  nonce: 'nonce="n0nce-0001"',
  signature: `signature="${SIG}"`,
};
const VALID = `HMAC ${P.client_id},${P.timestamp},${P.nonce},${P.signature}`;

function refused(value: string): string {
  const result = parseHmacAuthorization(value);
  assert.equal(result.ok, false, `expected refusal of ${JSON.stringify(value)}`);
  return result.ok ? '' : result.reason;
}

describe('parseHmacAuthorization accepts the API Gatekeeper grammar', () => {
  test('a well-formed header → ok with typed fields', () => {
    assert.deepEqual(parseHmacAuthorization(VALID), {
      ok: true,
      clientId: 'client-1',
      timestamp: 1767225600,
      nonce: 'n0nce-0001',
      signature: SIG,
    });
  });

  test('parameters in any order, with spaces and tabs around commas → ok', () => {
    const value = `HMAC ${P.signature} ,\t${P.nonce}\t, ${P.client_id} , ${P.timestamp}`;
    assert.equal(parseHmacAuthorization(value).ok, true);
  });

  test('lower-case and mixed-case scheme → ok', () => {
    assert.equal(parseHmacAuthorization(VALID.replace('HMAC', 'hmac')).ok, true);
    assert.equal(parseHmacAuthorization(VALID.replace('HMAC', 'HmAc')).ok, true);
  });

  test('upper-case hex signature → ok, normalised to lower case', () => {
    const result = parseHmacAuthorization(VALID.replace(SIG, SIG.toUpperCase()));
    assert.ok(result.ok);
    assert.equal(result.signature, SIG);
  });

  test('values at the edges of their character sets → ok', () => {
    const value = `HMAC client_id="${'A.z_-9'.repeat(10)}abcd",timestamp="0",nonce="${'~._-aZ09'.repeat(16)}",${P.signature}`;
    assert.equal(parseHmacAuthorization(value).ok, true);
  });
});

describe('parseHmacAuthorization refuses malformed headers (→ invalid_credentials)', () => {
  const cases: Array<[string, string]> = [
    ['empty header', ''],
    ['scheme only', 'HMAC'],
    ['scheme and space only', 'HMAC '],
    ['other scheme', VALID.replace('HMAC', 'Bearer')],
    ['no space after scheme (HMACclient_id=…)', VALID.replace('HMAC ', 'HMAC')],
    ['two spaces after scheme', VALID.replace('HMAC ', 'HMAC  ')],
    ['tab after scheme', VALID.replace('HMAC ', 'HMAC\t')],
    ['missing client_id', `HMAC ${P.timestamp},${P.nonce},${P.signature}`],
    ['missing timestamp', `HMAC ${P.client_id},${P.nonce},${P.signature}`],
    ['missing nonce', `HMAC ${P.client_id},${P.timestamp},${P.signature}`],
    ['missing signature', `HMAC ${P.client_id},${P.timestamp},${P.nonce}`],
    ['duplicate nonce', `${VALID},nonce="n0nce-0002"`],
    ['duplicate identical client_id', `${VALID},${P.client_id}`],
    ['unquoted value', VALID.replace('"1767225600"', '1767225600')],
    ['single-quoted value', VALID.replace('"1767225600"', "'1767225600'")],
    ['unknown parameter', `${VALID},realm="x"`],
    ['upper-case parameter name', VALID.replace('nonce=', 'NONCE=')],
    ['space before =', VALID.replace('nonce=', 'nonce =')],
    ['escaped quote in value', VALID.replace('n0nce-0001', 'n0nce\\"-0001')],
    ['empty value', VALID.replace('"client-1"', '""')],
    ['trailing garbage', `${VALID}x`],
    ['trailing comma', `${VALID},`],
    ['trailing space', `${VALID} `],
    ['leading comma', VALID.replace('HMAC ', 'HMAC ,')],
    ['semicolon separator', VALID.replaceAll(',', ';')],
    ['missing separator', VALID.replaceAll(',', '')],
    ['2 KiB header', `${VALID},${'x'.repeat(2048)}`],
    [
      '1025 characters even if otherwise padded with blanks',
      `HMAC ${P.client_id}${' '.repeat(1000)},${P.timestamp},${P.nonce},${P.signature}`,
    ],
    ['short signature (62 hex)', VALID.replace(SIG, SIG.slice(2))],
    ['odd-length signature (63 hex)', VALID.replace(SIG, SIG.slice(1))],
    ['long signature (66 hex)', VALID.replace(SIG, `${SIG}ab`)],
    ['non-hex signature', VALID.replace(SIG, `${SIG.slice(2)}zz`)],
    ['base64 signature', VALID.replace(SIG, Buffer.alloc(32, 1).toString('base64'))],
    ['timestamp with leading zero', VALID.replace('1767225600', '01767225600')],
    ['timestamp with 13 digits', VALID.replace('1767225600', '1767225600000')],
    ['negative timestamp', VALID.replace('1767225600', '-1767225600')],
    ['fractional timestamp', VALID.replace('1767225600', '1767225600.5')],
    ['nonce of 7 characters', VALID.replace('n0nce-0001', 'n0nce-1')],
    ['nonce of 129 characters', VALID.replace('n0nce-0001', 'n'.repeat(129))],
    ['client_id of 65 characters', VALID.replace('client-1', 'c'.repeat(65))],
  ];
  for (const [name, value] of cases) {
    test(`${name} → not ok`, () => {
      refused(value);
    });
  }

  // Delimiter injection: none of these characters may reach the signed string or the nonce key.
  for (const [label, ch] of [
    ['\\n', '\n'],
    ['\\r', '\r'],
    ['"', '"'],
    [',', ','],
    ['space', ' '],
    [':', ':'],
    ['=', '='],
    ['NUL', '\0'],
    ['non-ASCII é', 'é'],
  ] as const) {
    test(`nonce containing ${label} → not ok`, () => {
      refused(VALID.replace('n0nce-0001', `n0nce${ch}0001`));
    });
    test(`client_id containing ${label} → not ok`, () => {
      refused(VALID.replace('client-1', `client${ch}1`));
    });
  }

  test('nonce smuggling a second field (",nonce=…") → not ok', () => {
    refused(VALID.replace('"n0nce-0001"', '"n0nce-0001",nonce="other-nonce"'));
  });

  test('reasons never echo an unknown parameter name', () => {
    assert.doesNotMatch(refused(`${VALID},evil\u202ename="x"`), /evil/);
  });

  test('non-string input → not ok, never throws', () => {
    for (const value of [undefined, null, 42, {}, ['HMAC']]) {
      assert.equal(parseHmacAuthorization(value as unknown as string).ok, false);
    }
  });
});

describe('parseHmacAuthorization properties', () => {
  test('arbitrary input never throws and any ok result respects every character set', () => {
    const fragments = fc.constantFrom(
      'HMAC ',
      'hmac ',
      'client_id=',
      'timestamp=',
      'nonce=',
      'signature=',
      '"',
      ',',
      ' ',
      '\t',
      '\n',
      '\\',
      'client-1',
      '1767225600',
      'n0nce-0001',
      SIG,
    );
    const input = fc.oneof(
      fc.string(),
      fc.array(fragments, { maxLength: 20 }).map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(input, (value) => {
        const result = parseHmacAuthorization(value);
        if (!result.ok) return;
        assert.match(result.clientId, CLIENT_ID_PATTERN);
        assert.match(result.nonce, NONCE_PATTERN);
        assert.match(result.signature, SIGNATURE_PATTERN);
        assert.equal(result.signature, result.signature.toLowerCase());
        assert.ok(Number.isSafeInteger(result.timestamp));
      }),
      { numRuns: 2000 },
    );
  });

  test('every header built from valid parts parses back to the same parts', () => {
    const chars = (alphabet: string) => fc.constantFrom(...alphabet.split(''));
    const alnum = 'abcXYZ019';
    fc.assert(
      fc.property(
        fc.string({ unit: chars(`${alnum}._-`), minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 999_999_999_999 }),
        fc.string({ unit: chars(`${alnum}._~-`), minLength: 8, maxLength: 128 }),
        fc.string({ unit: chars('0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 }),
        (clientId, timestamp, nonce, signature) => {
          const value = `HMAC nonce="${nonce}", signature="${signature}",client_id="${clientId}" ,timestamp="${timestamp}"`;
          assert.deepEqual(parseHmacAuthorization(value), {
            ok: true,
            clientId,
            timestamp,
            nonce,
            signature: signature.toLowerCase(),
          });
        },
      ),
    );
  });
});
