import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  hsSecretFromInput,
  type JwtProviderSpec,
  openHsSecret,
  parseJwtProviderSpec,
  sealHsSecret,
  specForExport,
} from '../../../src/auth/jwt/spec.js';
import { JwtVerifier } from '../../../src/auth/jwt/verifier.js';
import { deriveSecretKeys, encryptSecret } from '../../../src/core/crypto.js';
import { SpecError } from '../../../src/core/spec-error.js';
import { ecKeyPair, edKeyPair, ManualClock, recordingLogger, rsaKeyPair, secretKeys } from './helpers.js';

const rsa = rsaKeyPair();
const ec = ecKeyPair('P-256');
const sealed = sealHsSecret(secretKeys, randomBytes(32));

function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parseJwtProviderSpec(input);
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected SpecError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected the spec to be refused');
}

function refusedWith(input: unknown, path: string, pattern: RegExp): void {
  const issues = issuesOf(input);
  assert.ok(
    issues.some((i) => i.path === path && pattern.test(i.message)),
    `no issue at ${path} matching ${pattern}: ${JSON.stringify(issues)}`,
  );
}

describe('a valid provider spec is accepted and canonicalized', () => {
  test('JWKS provider gets the documented defaults', () => {
    const spec = parseJwtProviderSpec({
      id: 'idp',
      jwks_url: 'https://idp.example/jwks',
      algorithms: ['RS256'],
    });
    assert.deepEqual(spec, {
      id: 'idp',
      jwks_url: 'https://idp.example/jwks',
      algorithms: ['RS256'],
      clock_tolerance_s: 30,
      require_exp: true,
      claims: { user: 'sub' },
      jwks: { cache_ttl_s: 600, cooldown_s: 30, timeout_ms: 2000 },
    });
  });

  test('PEM, JWK and sealed-secret providers with every option', () => {
    const pem = parseJwtProviderSpec({
      id: 'pem',
      public_key: rsa.publicPem,
      algorithms: ['RS256', 'PS256'],
      issuer: 'https://issuer',
      audience: ['a', 'b'],
      clock_tolerance_s: 0,
      typ: 'at+jwt',
      max_age_s: 600,
      require_exp: false,
      claims: { user: 'email', scopes: 'roles', client: 'azp' },
    });
    assert.equal(pem.require_exp, false);
    assert.deepEqual(pem.claims, { user: 'email', scopes: 'roles', client: 'azp' });
    assert.equal(pem.jwks, undefined);
    const jwk = parseJwtProviderSpec({ id: 'jwk', public_key: ec.publicJwk, algorithms: ['ES256'] });
    assert.deepEqual(jwk.public_key, ec.publicJwk);
    const ed = parseJwtProviderSpec({ id: 'ed', public_key: edKeyPair().publicPem, algorithms: ['EdDSA'] });
    assert.deepEqual(ed.algorithms, ['EdDSA']);
    const hs = parseJwtProviderSpec({ id: 'hs', secret_encrypted: sealed, algorithms: ['HS256', 'HS384'] });
    assert.equal(hs.secret_encrypted, sealed);
  });

  test('plain-http JWKS is allowed for loopback hosts only', () => {
    for (const host of ['127.0.0.1:8080', '[::1]:9000', 'localhost']) {
      parseJwtProviderSpec({ id: 'l', jwks_url: `http://${host}/jwks`, algorithms: ['ES256'] });
    }
  });
});

describe('an unsafe or inconsistent provider spec is refused', () => {
  test('no key source', () =>
    refusedWith({ id: 'x', algorithms: ['RS256'] }, 'jwt_provider', /exactly one key source/));

  test('two key sources', () =>
    refusedWith(
      { id: 'x', jwks_url: 'https://a/jwks', public_key: rsa.publicPem, algorithms: ['RS256'] },
      'jwt_provider',
      /exactly one key source/,
    ));

  for (const none of ['none', 'None', 'NONE', 'nOnE']) {
    test(`algorithm "${none}"`, () =>
      refusedWith(
        { id: 'x', public_key: rsa.publicPem, algorithms: [none] },
        'jwt_provider.algorithms.0',
        /never accepted/,
      ));
  }

  test('unknown algorithm', () =>
    refusedWith(
      { id: 'x', public_key: rsa.publicPem, algorithms: ['rs256'] },
      'jwt_provider.algorithms.0',
      /unknown algorithm/,
    ));

  test('HS and RS mixed on one provider (RS→HS confusion)', () =>
    refusedWith(
      { id: 'x', public_key: rsa.publicPem, algorithms: ['RS256', 'HS256'] },
      'jwt_provider.algorithms',
      /mixes HMAC/,
    ));

  test('HS algorithm with a public key', () =>
    refusedWith(
      { id: 'x', public_key: rsa.publicPem, algorithms: ['HS256'] },
      'jwt_provider.algorithms',
      /need a shared secret/,
    ));

  test('HS algorithm with a JWKS URL', () =>
    refusedWith(
      { id: 'x', jwks_url: 'https://a/jwks', algorithms: ['HS256'] },
      'jwt_provider.algorithms',
      /need a shared secret/,
    ));

  test('asymmetric algorithm with a shared secret', () =>
    refusedWith(
      { id: 'x', secret_encrypted: sealed, algorithms: ['RS256'] },
      'jwt_provider.algorithms',
      /only be used with HS/,
    ));

  test('plain-http JWKS on a non-loopback host', () =>
    refusedWith(
      { id: 'x', jwks_url: 'http://idp.example/jwks', algorithms: ['RS256'] },
      'jwt_provider.jwks_url',
      /https/,
    ));

  test('JWKS URL with credentials', () =>
    refusedWith(
      { id: 'x', jwks_url: 'https://u:p@idp.example/jwks', algorithms: ['RS256'] },
      'jwt_provider.jwks_url',
      /credentials/,
    ));

  test('JWKS URL of another scheme', () =>
    refusedWith(
      { id: 'x', jwks_url: 'file:///etc/jwks.json', algorithms: ['RS256'] },
      'jwt_provider.jwks_url',
      /https/,
    ));

  test('private key PEM', () =>
    refusedWith(
      { id: 'x', public_key: rsa.privatePem, algorithms: ['RS256'] },
      'jwt_provider.public_key',
      /private key/,
    ));

  test('private JWK', () => {
    const priv = rsa.privateKey.export({ format: 'jwk' });
    refusedWith(
      { id: 'x', public_key: priv, algorithms: ['RS256'] },
      'jwt_provider.public_key',
      /private key material \("d"\)/,
    );
  });

  test('symmetric "oct" JWK', () =>
    refusedWith(
      {
        id: 'x',
        public_key: { kty: 'oct', k: randomBytes(32).toString('base64url') },
        algorithms: ['RS256'],
      },
      'jwt_provider.public_key',
      /symmetric "oct"/,
    ));

  test('RSA key shorter than 2048 bits', () =>
    refusedWith(
      { id: 'x', public_key: rsaKeyPair(1024).publicPem, algorithms: ['RS256'] },
      'jwt_provider.public_key',
      /2048/,
    ));

  test('EC key for RS256', () =>
    refusedWith(
      { id: 'x', public_key: ec.publicPem, algorithms: ['RS256'] },
      'jwt_provider.public_key',
      /needs an RSA key/,
    ));

  test('P-256 key for ES384', () =>
    refusedWith(
      { id: 'x', public_key: ec.publicPem, algorithms: ['ES384'] },
      'jwt_provider.public_key',
      /P-384/,
    ));

  test('JWK whose "alg" differs from the algorithms', () =>
    refusedWith(
      { id: 'x', public_key: { ...rsa.publicJwk, alg: 'RS256' }, algorithms: ['RS256', 'PS256'] },
      'jwt_provider.public_key',
      /"RS256" only/,
    ));

  test('garbage PEM', () =>
    refusedWith(
      {
        id: 'x',
        public_key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
        algorithms: ['RS256'],
      },
      'jwt_provider.public_key',
      /not a valid PEM/,
    ));

  test('a plaintext secret field', () =>
    refusedWith(
      { id: 'x', secret: 'hunter2', algorithms: ['HS256'] },
      'jwt_provider.secret',
      /--secret-file/,
    ));

  test('secret_encrypted that is not a sealed secret', () =>
    refusedWith(
      { id: 'x', secret_encrypted: 'my-plain-secret', algorithms: ['HS256'] },
      'jwt_provider.secret_encrypted',
      /not a sealed secret/,
    ));

  test('secret_encrypted sealing fewer than 32 bytes', () =>
    refusedWith(
      { id: 'x', secret_encrypted: sealHsSecret(secretKeys, randomBytes(16)), algorithms: ['HS256'] },
      'jwt_provider.secret_encrypted',
      /shorter than 32 bytes/,
    ));

  test('jwks options without jwks_url', () =>
    refusedWith(
      { id: 'x', public_key: rsa.publicPem, algorithms: ['RS256'], jwks: { cooldown_s: 5 } },
      'jwt_provider.jwks',
      /jwks_url/,
    ));

  test('out-of-range tolerance and cooldown, bad id', () => {
    const issues = issuesOf({
      id: 'Bad Id',
      jwks_url: 'https://a/jwks',
      algorithms: ['RS256'],
      clock_tolerance_s: 301,
      jwks: { cooldown_s: 0 },
    });
    const paths = issues.map((i) => i.path);
    assert.ok(paths.includes('jwt_provider.id'));
    assert.ok(paths.includes('jwt_provider.clock_tolerance_s'));
    assert.ok(paths.includes('jwt_provider.jwks.cooldown_s'));
  });

  test('every issue is reported at once', () => {
    const issues = issuesOf({ id: 'x', jwks_url: 'http://idp.example/jwks', algorithms: ['none', 'HS256'] });
    assert.ok(issues.length >= 3, JSON.stringify(issues));
  });
});

describe('exports and secrets', () => {
  test('specForExport drops secret_encrypted', () => {
    const spec = parseJwtProviderSpec({ id: 'hs', secret_encrypted: sealed, algorithms: ['HS256'] });
    const exported = specForExport(spec);
    assert.equal('secret_encrypted' in exported, false);
    assert.equal(exported.id, 'hs');
    assert.equal(spec.secret_encrypted, sealed, 'the original spec is untouched');
  });

  test('an HS secret shorter than 32 bytes is refused at configuration', () => {
    assert.throws(
      () => hsSecretFromInput(Buffer.alloc(31, 7)),
      (err: unknown) => {
        assert.ok(err instanceof SpecError);
        assert.match(err.message, /31 bytes; at least 32 are required \(RFC 7518 §3\.2/);
        return true;
      },
    );
    assert.equal(hsSecretFromInput(Buffer.alloc(32, 7)).length, 32);
  });

  test('HS384 and HS512 need 48 and 64 bytes', () => {
    assert.throws(() => hsSecretFromInput(Buffer.alloc(47, 1), { algorithms: ['HS384'] }), /at least 48/);
    assert.throws(
      () => hsSecretFromInput(Buffer.alloc(63, 1), { algorithms: ['HS256', 'HS512'] }),
      /at least 64/,
    );
  });

  test('one trailing newline of a text secret file is dropped; binary secrets are kept', () => {
    const text = 'a'.repeat(40);
    assert.equal(hsSecretFromInput(Buffer.from(`${text}\n`)).toString(), text);
    assert.equal(hsSecretFromInput(`${text}\r\n`).toString(), text);
    const binary = Buffer.concat([Buffer.alloc(31, 0), Buffer.from([0x0a])]);
    assert.deepEqual(hsSecretFromInput(binary), binary);
  });

  test('sealed secrets round-trip and do not open under another key', () => {
    const secret = randomBytes(48);
    const box = sealHsSecret(secretKeys, secret);
    assert.deepEqual(openHsSecret(secretKeys, box), secret);
    assert.throws(() => openHsSecret(deriveSecretKeys(randomBytes(32)), box));
  });
});

describe('JwtVerifier.create refuses configurations that cannot be used safely', () => {
  const options = { keys: secretKeys, clock: new ManualClock(), logger: recordingLogger() };

  test('a sealed 32-byte secret for HS384', async () => {
    const spec = parseJwtProviderSpec({ id: 'hs', secret_encrypted: sealed, algorithms: ['HS384'] });
    await assert.rejects(JwtVerifier.create([spec], options), /HS384 needs a secret of at least 48 bytes/);
  });

  test('a secret sealed under another PORTCULLIS_SECRET_KEY', async () => {
    const other = sealHsSecret(deriveSecretKeys(randomBytes(32)), randomBytes(32));
    const spec = parseJwtProviderSpec({ id: 'hs', secret_encrypted: other, algorithms: ['HS256'] });
    await assert.rejects(JwtVerifier.create([spec], options), /cannot be opened/);
  });

  test('a value encrypted without sealHsSecret (raw text that happens to be base64)', async () => {
    const raw = encryptSecret(secretKeys, 'A'.repeat(64));
    const spec = parseJwtProviderSpec({ id: 'hs', secret_encrypted: raw, algorithms: ['HS256'] });
    await assert.rejects(JwtVerifier.create([spec], options), /not sealed by portcullis/);
  });

  test('a spec that bypassed the parser (RS256 + HS256 on one PEM)', async () => {
    const forged = {
      id: 'x',
      public_key: rsa.publicPem,
      algorithms: ['RS256', 'HS256'],
      clock_tolerance_s: 30,
      require_exp: true,
      claims: { user: 'sub' },
    } as JwtProviderSpec;
    await assert.rejects(JwtVerifier.create([forged], options), /mixes HMAC/);
  });

  test('two providers with one issuer, two without, duplicate ids', async () => {
    const a = parseJwtProviderSpec({
      id: 'a',
      public_key: rsa.publicPem,
      algorithms: ['RS256'],
      issuer: 'https://i',
    });
    const b = parseJwtProviderSpec({
      id: 'b',
      public_key: rsa.publicPem,
      algorithms: ['RS256'],
      issuer: 'https://i',
    });
    const c = parseJwtProviderSpec({ id: 'c', public_key: rsa.publicPem, algorithms: ['RS256'] });
    const d = parseJwtProviderSpec({ id: 'c', public_key: ec.publicPem, algorithms: ['ES256'] });
    await assert.rejects(JwtVerifier.create([a, b, c, d], options), (err: unknown) => {
      assert.ok(err instanceof SpecError);
      const messages = err.issues.map((i) => `${i.path}: ${i.message}`);
      assert.ok(
        messages.some((m) => /jwt_providers\.b\.issuer: another provider already has this issuer/.test(m)),
      );
      assert.ok(messages.some((m) => /jwt_providers\.c\.issuer: only one provider may omit issuer/.test(m)));
      assert.ok(messages.some((m) => /jwt_providers\.c\.id: provider "c" is defined twice/.test(m)));
      return true;
    });
  });
});
