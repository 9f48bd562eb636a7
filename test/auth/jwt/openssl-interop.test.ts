/**
 * Interoperability: keys and signatures produced by the openssl CLI, with the JWS assembled
 * by hand here (no jose, no node:crypto signing), verify with a provider configured from the
 * public PEM that `openssl pkey -pubout` writes. The same tokens with one byte altered are
 * refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseJwtProviderSpec } from '../../../src/auth/jwt/spec.js';
import { JwtVerifier } from '../../../src/auth/jwt/verifier.js';
import { b64u, flipByte, ManualClock, recordingLogger, secretKeys } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-jwt-openssl-'));
const clock = new ManualClock();
const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * ECDSA signatures from openssl are DER `SEQUENCE { INTEGER r, INTEGER s }`; JWS wants the
 * fixed-width big-endian r || s (RFC 7518 §3.4).
 */
function derToJose(der: Buffer, size: number): Buffer {
  let offset = 0;
  const expect = (tag: number) => {
    if (der[offset++] !== tag) throw new Error(`DER: expected tag 0x${tag.toString(16)}`);
  };
  const length = () => {
    let len = der[offset++] as number;
    if (len & 0x80) {
      const bytes = len & 0x7f;
      len = 0;
      for (let i = 0; i < bytes; i++) len = (len << 8) | (der[offset++] as number);
    }
    return len;
  };
  const integer = () => {
    expect(0x02);
    const len = length();
    let value = der.subarray(offset, offset + len);
    offset += len;
    while (value.length > size && value[0] === 0) value = value.subarray(1);
    if (value.length > size) throw new Error('DER: integer too long');
    return Buffer.concat([Buffer.alloc(size - value.length), value]);
  };
  expect(0x30);
  const total = length();
  if (offset + total !== der.length) throw new Error('DER: bad sequence length');
  const r = integer();
  const s = integer();
  return Buffer.concat([r, s]);
}

function opensslToken(alg: 'RS256' | 'ES256', keyFile: string): string {
  const now = Math.floor(clock.now() / 1000);
  const input = `${b64u({ alg, typ: 'JWT' })}.${b64u({ iss: 'https://openssl.test', sub: 'carol', scope: 'a b', iat: now, exp: now + 600 })}`;
  writeFileSync(join(dir, 'input.txt'), input);
  openssl('dgst', '-sha256', '-sign', keyFile, '-out', 'sig.bin', 'input.txt');
  const der = readFileSync(join(dir, 'sig.bin'));
  const signature = alg === 'ES256' ? derToJose(der, 32) : der;
  return `${input}.${b64u(signature)}`;
}

let rsaPub: string;
let ecPub: string;

before(() => {
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.pem');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ec.pem');
  rsaPub = openssl('pkey', '-in', 'rsa.pem', '-pubout').toString();
  ecPub = openssl('pkey', '-in', 'ec.pem', '-pubout').toString();
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function verifierFor(alg: 'RS256' | 'ES256', publicPem: string) {
  const spec = parseJwtProviderSpec({
    id: 'openssl',
    public_key: publicPem,
    algorithms: [alg],
    issuer: 'https://openssl.test',
  });
  return JwtVerifier.create([spec], { keys: secretKeys, clock, logger: recordingLogger() });
}

describe('tokens signed by openssl verify', () => {
  for (const [alg, keyFile] of [
    ['RS256', 'rsa.pem'],
    ['ES256', 'ec.pem'],
  ] as const) {
    test(`${alg}: accepted with the public PEM from openssl pkey -pubout`, async () => {
      const verifier = await verifierFor(alg, alg === 'RS256' ? rsaPub : ecPub);
      const outcome = await verifier.verify(opensslToken(alg, keyFile));
      assert.deepEqual(outcome, {
        ok: true,
        providerId: 'openssl',
        userId: 'carol',
        clientId: undefined,
        scopes: ['a', 'b'],
        expiresAt: (Math.floor(clock.now() / 1000) + 600) * 1000,
      });
    });

    for (const [label, segment] of [
      ['header', 0],
      ['payload', 1],
      ['signature', 2],
    ] as const) {
      test(`${alg}: one byte altered in the ${label} is refused`, async () => {
        const verifier = await verifierFor(alg, alg === 'RS256' ? rsaPub : ecPub);
        const token = opensslToken(alg, keyFile);
        for (const index of [0, undefined]) {
          const altered = flipByte(token, segment, index);
          assert.notEqual(altered, token);
          const outcome = await verifier.verify(altered);
          assert.equal(outcome.ok, false, `${label} byte ${index ?? 'middle'}`);
        }
      });
    }
  }

  test('the DER parser handles high-bit integers and short integers', () => {
    const r = Buffer.alloc(32, 0xff);
    const s = Buffer.from([0x01]);
    const der = Buffer.concat([
      Buffer.from([0x30, 2 + 33 + 2 + 1, 0x02, 33, 0x00]),
      r,
      Buffer.from([0x02, 0x01]),
      s,
    ]);
    assert.deepEqual(derToJose(der, 32), Buffer.concat([r, Buffer.alloc(31), s]));
  });
});
