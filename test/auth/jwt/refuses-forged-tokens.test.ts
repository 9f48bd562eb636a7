/**
 * One case per known JWT attack. Every token here must be refused with the generic
 * "invalid token" detail, and nothing may be fetched except the configured JWKS URL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parseJwtProviderSpec, sealHsSecret } from '../../../src/auth/jwt/spec.js';
import { type JwtOutcome, JwtVerifier } from '../../../src/auth/jwt/verifier.js';
import {
  b64u,
  claimsAt,
  craft,
  ecKeyPair,
  flipByte,
  jwkFor,
  ManualClock,
  recordingLogger,
  rsaKeyPair,
  secretKeys,
  serveJwks,
  startServer,
  type TestServer,
} from './helpers.js';

const RSA_ISS = 'https://rsa.test';
const EC_ISS = 'https://ec.test';
const EC384_ISS = 'https://ec384.test';
const HS_ISS = 'https://hs.test';
const JWKS_ISS = 'https://jwks.test';

const rsa = rsaKeyPair();
const ec256 = ecKeyPair('P-256');
const ec384 = ecKeyPair('P-384');
const idpKey = rsaKeyPair();
const attacker = rsaKeyPair();
const hsSecret = randomBytes(32);
const clock = new ManualClock();

let jwks: TestServer;
let elsewhere: TestServer;
let verifier: JwtVerifier;

before(async () => {
  jwks = await startServer(serveJwks({ keys: [jwkFor(idpKey, 'idp-1', 'RS256')] }));
  elsewhere = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwkFor(attacker, 'evil', 'RS256')] }));
  });
  verifier = await JwtVerifier.create(
    [
      parseJwtProviderSpec({ id: 'rsa', public_key: rsa.publicPem, algorithms: ['RS256'], issuer: RSA_ISS }),
      parseJwtProviderSpec({ id: 'ec', public_key: ec256.publicPem, algorithms: ['ES256'], issuer: EC_ISS }),
      parseJwtProviderSpec({
        id: 'ec384',
        public_key: ec384.publicJwk,
        algorithms: ['ES384'],
        issuer: EC384_ISS,
      }),
      parseJwtProviderSpec({
        id: 'hs',
        secret_encrypted: sealHsSecret(secretKeys, hsSecret),
        algorithms: ['HS256'],
        issuer: HS_ISS,
      }),
      parseJwtProviderSpec({
        id: 'jwks',
        jwks_url: `${jwks.origin}/jwks.json`,
        algorithms: ['RS256'],
        issuer: JWKS_ISS,
        jwks: { cooldown_s: 1 },
      }),
    ],
    { keys: secretKeys, clock, logger: recordingLogger() },
  );
});

after(async () => {
  await verifier.flush();
  await jwks.close();
  await elsewhere.close();
});

function assertRefused(outcome: JwtOutcome, reason?: RegExp): void {
  assert.equal(outcome.ok, false, `token was accepted: ${JSON.stringify(outcome)}`);
  if (outcome.ok) return;
  assert.equal(outcome.code, 'invalid_credentials');
  assert.equal(outcome.detail, 'invalid token');
  if (reason) assert.match(outcome.reason, reason);
}

const payload = (iss: string, extra: Record<string, unknown> = {}) => claimsAt(clock, { iss, ...extra });

describe('control: the legitimate tokens used as a base are accepted', () => {
  test('RS256, ES256, ES384, HS256 and JWKS tokens verify', async () => {
    for (const token of [
      craft({ alg: 'RS256', typ: 'JWT' }, payload(RSA_ISS), rsa.privateKey),
      craft({ alg: 'ES256' }, payload(EC_ISS), ec256.privateKey),
      craft({ alg: 'ES384' }, payload(EC384_ISS), ec384.privateKey),
      craft({ alg: 'HS256' }, payload(HS_ISS), hsSecret),
      craft({ alg: 'RS256', kid: 'idp-1' }, payload(JWKS_ISS), idpKey.privateKey),
    ]) {
      const outcome = await verifier.verify(token);
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
    }
  });
});

describe('alg "none" is refused in any spelling (RFC 8725 §3.1)', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    for (const [label, signature] of [
      ['empty signature', ''],
      ['non-empty signature', b64u(randomBytes(32))],
    ] as const) {
      for (const iss of [RSA_ISS, HS_ISS]) {
        test(`${alg}, ${label}, ${iss}`, async () => {
          assertRefused(
            await verifier.verify(craft({ alg, typ: 'JWT' }, payload(iss), undefined, signature)),
            /alg not allowed/,
          );
        });
      }
    }
  }
});

describe('signature integrity', () => {
  test('stripped signature', async () => {
    const token = craft({ alg: 'RS256' }, payload(RSA_ISS), rsa.privateKey);
    assertRefused(await verifier.verify(`${token.slice(0, token.lastIndexOf('.'))}.`));
  });

  test('stripped signature and trailing dot', async () => {
    const token = craft({ alg: 'RS256' }, payload(RSA_ISS), rsa.privateKey);
    assertRefused(await verifier.verify(token.slice(0, token.lastIndexOf('.'))));
  });

  test('tampered payload (sub changed, signature kept)', async () => {
    const token = craft({ alg: 'RS256' }, payload(RSA_ISS), rsa.privateKey);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64u(payload(RSA_ISS, { sub: 'admin' }))}.${s}`;
    assertRefused(await verifier.verify(forged), /SIGNATURE_VERIFICATION_FAILED/);
  });

  test('tampered signature (one bit)', async () => {
    const token = craft({ alg: 'RS256' }, payload(RSA_ISS), rsa.privateKey);
    assertRefused(await verifier.verify(flipByte(token, 2)), /SIGNATURE_VERIFICATION_FAILED/);
  });

  test('tampered HS256 signature (one bit)', async () => {
    const token = craft({ alg: 'HS256' }, payload(HS_ISS), hsSecret);
    assertRefused(await verifier.verify(flipByte(token, 2, 0)), /SIGNATURE_VERIFICATION_FAILED/);
  });

  test('signature from another provider key (ES256 token signed with the P-384 key)', async () => {
    const otherCurve = ecKeyPair('P-256');
    assertRefused(await verifier.verify(craft({ alg: 'ES256' }, payload(EC_ISS), otherCurve.privateKey)));
  });
});

describe('key confusion', () => {
  test('RS→HS: HS256 signed with the provider RSA public PEM as HMAC secret', async () => {
    const token = craft({ alg: 'HS256', typ: 'JWT' }, payload(RSA_ISS), Buffer.from(rsa.publicPem));
    assertRefused(await verifier.verify(token), /alg not allowed/);
  });

  test('RS→HS: same, with the DER bytes of the public key as secret', async () => {
    const der = rsa.publicKey.export({ type: 'spki', format: 'der' });
    assertRefused(await verifier.verify(craft({ alg: 'HS256' }, payload(RSA_ISS), der)), /alg not allowed/);
  });

  test('RS→HS against the JWKS provider, with its JWK as secret', async () => {
    const secret = Buffer.from(JSON.stringify(jwkFor(idpKey, 'idp-1', 'RS256')));
    assertRefused(
      await verifier.verify(craft({ alg: 'HS256', kid: 'idp-1' }, payload(JWKS_ISS), secret)),
      /alg not allowed/,
    );
  });

  test('ES256 token to the RS256 provider', async () => {
    assertRefused(
      await verifier.verify(craft({ alg: 'ES256' }, payload(RSA_ISS), ec256.privateKey)),
      /alg not allowed/,
    );
  });

  test('embedded "jwk" header with the attacker key (static provider)', async () => {
    const token = craft({ alg: 'RS256', jwk: attacker.publicJwk }, payload(RSA_ISS), attacker.privateKey);
    assertRefused(await verifier.verify(token), /SIGNATURE_VERIFICATION_FAILED/);
  });

  test('embedded "jwk" header with the attacker key and its kid (JWKS provider)', async () => {
    const token = craft(
      { alg: 'RS256', kid: 'idp-1', jwk: { ...attacker.publicJwk, kid: 'idp-1' } },
      payload(JWKS_ISS),
      attacker.privateKey,
    );
    assertRefused(await verifier.verify(token), /SIGNATURE_VERIFICATION_FAILED/);
  });
});

describe('jku and x5u are never fetched (RFC 8725 §3.10)', () => {
  for (const [label, iss] of [
    ['static provider', RSA_ISS],
    ['JWKS provider', JWKS_ISS],
  ] as const) {
    test(`jku and x5u to a recording server, ${label}`, async () => {
      const before = jwks.requests.length;
      clock.advance(2000);
      for (const header of [
        { alg: 'RS256', kid: 'evil', jku: `${elsewhere.origin}/jwks.json` },
        { alg: 'RS256', kid: 'evil', x5u: `${elsewhere.origin}/cert.pem` },
        { alg: 'RS256', jku: `${elsewhere.origin}/jwks.json`, x5u: `${elsewhere.origin}/cert.pem` },
      ]) {
        assertRefused(await verifier.verify(craft(header, payload(iss), attacker.privateKey)));
      }
      await verifier.flush();
      assert.equal(elsewhere.requests.length, 0, 'no request went to the URL named by the token');
      for (const url of jwks.requests.slice(before)) assert.equal(url, '/jwks.json');
    });
  }
});

describe('kid values are lookup keys only', () => {
  const kids: [string, unknown][] = [
    ['path traversal', '../../etc/passwd'],
    ['SQL injection', "' OR 1=1 --"],
    ['URL', 'https://evil.example/key.pem'],
    ['10 KB', 'k'.repeat(10 * 1024)],
    ['null bytes', 'idp-1\u0000../../etc/passwd'],
    ['newline (log injection)', 'idp-1\nlevel=error forged'],
    ['number', 1],
    ['object', { $ne: null }],
    ['array', ['idp-1']],
    ['null', null],
    ['empty string', ''],
  ];
  for (const [label, kid] of kids) {
    test(`kid ${label}, JWKS provider`, async () => {
      const before = jwks.requests.length;
      clock.advance(2000);
      assertRefused(
        await verifier.verify(craft({ alg: 'RS256', kid }, payload(JWKS_ISS), attacker.privateKey)),
      );
      await verifier.flush();
      assert.equal(elsewhere.requests.length, 0);
      for (const url of jwks.requests.slice(before))
        assert.equal(url, '/jwks.json', 'the kid never reaches a URL');
    });
  }

  for (const [label, kid] of kids.filter(([l]) => ['10 KB', 'null bytes', 'number', 'null'].includes(l))) {
    test(`kid ${label}, static provider, even with a genuine signature`, async () => {
      assertRefused(
        await verifier.verify(craft({ alg: 'RS256', kid }, payload(RSA_ISS), rsa.privateKey)),
        /kid/,
      );
    });
  }
});

describe('ECDSA "psychic signatures" (r = s = 0, CVE-2022-21449 shape)', () => {
  test('ES256 with 64 zero bytes', async () => {
    assertRefused(
      await verifier.verify(craft({ alg: 'ES256' }, payload(EC_ISS), undefined, Buffer.alloc(64))),
    );
  });

  test('ES384 with 96 zero bytes', async () => {
    assertRefused(
      await verifier.verify(craft({ alg: 'ES384' }, payload(EC384_ISS), undefined, Buffer.alloc(96))),
    );
  });

  test('ES256 with a DER-encoded zero signature', async () => {
    const der = Buffer.from([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
    assertRefused(await verifier.verify(craft({ alg: 'ES256' }, payload(EC_ISS), undefined, der)));
  });
});

describe('header extensions', () => {
  test('crit with an unknown extension, otherwise valid', async () => {
    const token = craft(
      { alg: 'RS256', crit: ['x-portcullis-unknown'], 'x-portcullis-unknown': true },
      payload(RSA_ISS),
      rsa.privateKey,
    );
    assertRefused(await verifier.verify(token), /NOT_SUPPORTED/);
    const outcome = await verifier.verify(token);
    assert.doesNotMatch(JSON.stringify(outcome), /x-portcullis-unknown/, 'token text stays out of reasons');
  });

  test('b64:false (unencoded payload) is not a JWT', async () => {
    const token = craft({ alg: 'RS256', crit: ['b64'], b64: false }, payload(RSA_ISS), rsa.privateKey);
    assertRefused(await verifier.verify(token));
  });
});

describe('malformed tokens are refused without throwing', () => {
  const header = b64u({ alg: 'RS256' });
  const body = () => b64u(payload(RSA_ISS));
  const cases: [string, () => string][] = [
    ['empty string', () => ''],
    ['2 parts', () => `${header}.${body()}`],
    ['4 parts', () => `${header}.${body()}.${b64u('sig')}.${b64u('x')}`],
    ['5 parts (JWE shape)', () => `${header}.a.b.c.d`],
    ['non-base64url characters', () => `${header}.${body()}.ab$cd`],
    ['standard base64 with padding', () => `${header}.${body()}.${Buffer.from('sig').toString('base64')}==`],
    ['whitespace inside', () => `${header}. ${body()}.abc`],
    ['non-JSON header', () => `${b64u('not json')}.${body()}.abc`],
    ['JSON array header', () => `${b64u('[1,2]')}.${body()}.abc`],
    ['JSON array payload', () => craft({ alg: 'RS256' }, [1, 2, 3], rsa.privateKey)],
    ['JSON string payload', () => craft({ alg: 'RS256' }, '"hello"', rsa.privateKey)],
    ['invalid UTF-8 payload', () => `${header}.${b64u(Buffer.from([0xff, 0xfe, 0x7b]))}.abc`],
    ['header without alg', () => craft({ typ: 'JWT' }, payload(RSA_ISS), undefined, 'abc')],
    [
      'huge token (> 16 KiB)',
      () => craft({ alg: 'RS256' }, payload(RSA_ISS, { pad: 'x'.repeat(20_000) }), rsa.privateKey),
    ],
    ['non-string input', () => 42 as unknown as string],
  ];
  for (const [label, make] of cases) {
    test(label, async () => {
      assertRefused(await verifier.verify(make()));
    });
  }

  test('a huge token is refused before any parsing', async () => {
    const outcome = await verifier.verify(`${'a'.repeat(20_000)}.b.c`);
    assertRefused(outcome, /longer than 16384/);
  });
});

describe('issuer-based provider choice cannot be steered', () => {
  test('a token naming issuer A signed with the key of B', async () => {
    assertRefused(await verifier.verify(craft({ alg: 'ES256' }, payload(RSA_ISS), ec256.privateKey)));
  });

  test('an unknown issuer with no issuer-less provider', async () => {
    assertRefused(
      await verifier.verify(craft({ alg: 'RS256' }, payload('https://evil.test'), rsa.privateKey)),
      /no provider/,
    );
  });

  test('a token without iss', async () => {
    const { iss: _none, ...claims } = payload(RSA_ISS);
    assertRefused(await verifier.verify(craft({ alg: 'RS256' }, claims, rsa.privateKey)), /no provider/);
  });

  test('a non-string iss', async () => {
    assertRefused(
      await verifier.verify(craft({ alg: 'RS256' }, payload(RSA_ISS, { iss: [RSA_ISS] }), rsa.privateKey)),
    );
  });
});

describe('refusals never echo token contents', () => {
  test('a marker placed in every header and claim position never appears in detail or reason', async () => {
    const m = 'MARKER\u0000<script>';
    const tokens = [
      craft({ alg: 'RS256', kid: 'MARKER-kid' }, payload(JWKS_ISS), attacker.privateKey),
      craft({ alg: 'RS256', crit: ['MARKER-crit'], 'MARKER-crit': 1 }, payload(RSA_ISS), rsa.privateKey),
      craft({ alg: 'RS256' }, payload(`https://MARKER.test/${m}`), rsa.privateKey),
      craft({ alg: 'RS256', typ: m }, payload(RSA_ISS, { aud: m, sub: m, scope: m }), attacker.privateKey),
      craft({ alg: `MARKER-${m}` }, payload(RSA_ISS), undefined, b64u(randomBytes(32))),
      craft({ alg: 'RS256' }, payload(RSA_ISS, { exp: 'MARKER' }), rsa.privateKey),
    ];
    for (const token of tokens) {
      const outcome = await verifier.verify(token);
      assert.equal(outcome.ok, false);
      assert.doesNotMatch(JSON.stringify(outcome), /MARKER/);
    }
  });
});
