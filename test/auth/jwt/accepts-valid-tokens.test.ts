/**
 * A correct token of each algorithm family is accepted, and user, client and scopes are mapped
 * from the configured claims. Tokens come from mintJwt (jose) and from node:crypto directly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { mintJwt } from '../../../src/auth/jwt/mint.js';
import { type JwtAlgorithm, parseJwtProviderSpec, sealHsSecret } from '../../../src/auth/jwt/spec.js';
import { JwtVerifier } from '../../../src/auth/jwt/verifier.js';
import {
  claimsAt,
  craft,
  ecKeyPair,
  edKeyPair,
  ManualClock,
  recordingLogger,
  rsaKeyPair,
  secretKeys,
  type TestKeyPair,
} from './helpers.js';

const secret = randomBytes(64);
const rsa = rsaKeyPair();
const ec = ecKeyPair('P-256');
const ec521 = ecKeyPair('P-521');
const ed = edKeyPair();

interface Family {
  alg: JwtAlgorithm;
  provider: Record<string, unknown>;
  key: { secret: Buffer } | { privateKeyPem: string; pair: TestKeyPair };
}

const families: Family[] = [
  { alg: 'HS256', provider: { secret_encrypted: sealHsSecret(secretKeys, secret) }, key: { secret } },
  { alg: 'HS512', provider: { secret_encrypted: sealHsSecret(secretKeys, secret) }, key: { secret } },
  {
    alg: 'RS256',
    provider: { public_key: rsa.publicPem },
    key: { privateKeyPem: rsa.privatePem, pair: rsa },
  },
  {
    alg: 'RS512',
    provider: { public_key: rsa.publicJwk },
    key: { privateKeyPem: rsa.privatePem, pair: rsa },
  },
  {
    alg: 'PS256',
    provider: { public_key: rsa.publicPem },
    key: { privateKeyPem: rsa.privatePem, pair: rsa },
  },
  { alg: 'ES256', provider: { public_key: ec.publicPem }, key: { privateKeyPem: ec.privatePem, pair: ec } },
  {
    alg: 'ES512',
    provider: { public_key: ec521.publicJwk },
    key: { privateKeyPem: ec521.privatePem, pair: ec521 },
  },
  { alg: 'EdDSA', provider: { public_key: ed.publicPem }, key: { privateKeyPem: ed.privatePem, pair: ed } },
];

async function verifierFor(family: Family, extra: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const spec = parseJwtProviderSpec({
    id: `p-${family.alg.toLowerCase()}`,
    algorithms: [family.alg],
    issuer: 'https://issuer.test',
    audience: 'orders-api',
    claims: { client: 'azp' },
    ...family.provider,
    ...extra,
  });
  const verifier = await JwtVerifier.create([spec], { keys: secretKeys, clock, logger: recordingLogger() });
  return { clock, verifier };
}

describe('a correct token of each algorithm family is accepted', () => {
  for (const family of families) {
    test(`${family.alg} minted with mintJwt`, async () => {
      const { clock, verifier } = await verifierFor(family);
      const token = await mintJwt({
        algorithm: family.alg,
        ...('secret' in family.key
          ? { secret: family.key.secret }
          : { privateKeyPem: family.key.privateKeyPem }),
        kid: 'k1',
        issuer: 'https://issuer.test',
        audience: 'orders-api',
        subject: 'user-42',
        scopes: ['orders:read', 'orders:write'],
        clientId: 'mobile-app',
        clientClaim: 'azp',
        expiresInS: 600,
        typ: 'at+jwt',
        clock,
      });
      const outcome = await verifier.verify(token);
      assert.deepEqual(outcome, {
        ok: true,
        providerId: `p-${family.alg.toLowerCase()}`,
        userId: 'user-42',
        clientId: 'mobile-app',
        scopes: ['orders:read', 'orders:write'],
        expiresAt: (Math.floor(clock.now() / 1000) + 600) * 1000,
      });
    });

    test(`${family.alg} signed independently with node:crypto`, async () => {
      const { clock, verifier } = await verifierFor(family);
      const key = 'secret' in family.key ? family.key.secret : family.key.pair.privateKey;
      const token = craft(
        { alg: family.alg, typ: 'JWT' },
        claimsAt(clock, { iss: 'https://issuer.test', aud: 'orders-api' }),
        key,
      );
      const outcome = await verifier.verify(token);
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
    });
  }
});

describe('claims mapping', () => {
  const hs = families[0] as Family;
  const verify = async (claims: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const { clock, verifier } = await verifierFor(hs, { audience: undefined, ...extra });
    const token = craft({ alg: 'HS256' }, claimsAt(clock, { iss: 'https://issuer.test', ...claims }), secret);
    const outcome = await verifier.verify(token);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    return outcome;
  };

  test('scope string is split on spaces, duplicates and empty items dropped', async () => {
    assert.deepEqual((await verify({ scope: ' a  b a c ' })).scopes, ['a', 'b', 'c']);
  });

  test('scp array is used when there is no scope claim', async () => {
    assert.deepEqual((await verify({ scp: ['x', 'y'] })).scopes, ['x', 'y']);
  });

  test('scp string (Azure AD style) is split too', async () => {
    assert.deepEqual((await verify({ scp: 'User.Read Mail.Read' })).scopes, ['User.Read', 'Mail.Read']);
  });

  test('a configured scopes claim is used instead', async () => {
    const outcome = await verify({ scope: 'ignored', roles: ['admin'] }, { claims: { scopes: 'roles' } });
    assert.deepEqual(outcome.scopes, ['admin']);
  });

  test('malformed scope claims give no scopes', async () => {
    for (const scope of [42, { admin: true }, ['a', 1], null, true]) {
      assert.deepEqual((await verify({ scope })).scopes, [], JSON.stringify(scope));
    }
  });

  test('user from sub by default or from a configured claim; non-strings are ignored', async () => {
    assert.equal((await verify({ sub: 'alice' })).userId, 'alice');
    assert.equal((await verify({ sub: 123 })).userId, undefined);
    assert.equal((await verify({ email: 'a@x' }, { claims: { user: 'email' } })).userId, 'a@x');
  });

  test('client only when a client claim is configured and is a string', async () => {
    assert.equal((await verify({ azp: 'app' })).clientId, 'app');
    assert.equal((await verify({ azp: ['app'] })).clientId, undefined);
    assert.equal((await verify({ azp: 'app' }, { claims: {} })).clientId, undefined);
  });

  test('inherited property names are not read as claims', async () => {
    const outcome = await verify(
      {},
      { claims: { user: 'constructor', scopes: '__proto__', client: 'toString' } },
    );
    assert.equal(outcome.userId, undefined);
    assert.deepEqual(outcome.scopes, []);
    assert.equal(outcome.clientId, undefined);
  });
});

describe('mintJwt refuses what the verifier would refuse', () => {
  const clock = new ManualClock();
  test('short HS secret', async () => {
    await assert.rejects(
      mintJwt({ algorithm: 'HS256', secret: randomBytes(31), expiresInS: 60, clock }),
      /at least 32/,
    );
  });
  test('key of the wrong type', async () => {
    await assert.rejects(
      mintJwt({ algorithm: 'RS256', privateKeyPem: ec.privatePem, expiresInS: 60, clock }),
      /needs an RSA key/,
    );
  });
  test('secret for an asymmetric algorithm, and missing key', async () => {
    await assert.rejects(mintJwt({ algorithm: 'RS256', secret, expiresInS: 60, clock }), /privateKeyPem/);
    await assert.rejects(mintJwt({ algorithm: 'HS256', expiresInS: 60, clock }), /needs secret/);
  });
  test('non-positive lifetime and claim conflicts', async () => {
    await assert.rejects(mintJwt({ algorithm: 'HS256', secret, expiresInS: 0, clock }), /expiresInS/);
    await assert.rejects(
      mintJwt({ algorithm: 'HS256', secret, expiresInS: 60, clock, extraClaims: { exp: 1 } }),
      /extraClaims\.exp/,
    );
  });
  test('"none" is not an algorithm', async () => {
    await assert.rejects(
      mintJwt({ algorithm: 'none' as JwtAlgorithm, secret, expiresInS: 60, clock }),
      /algorithm must be/,
    );
  });
  test('notBeforeS sets nbf from the clock', async () => {
    const token = await mintJwt({ algorithm: 'HS256', secret, expiresInS: 60, notBeforeS: 10, clock });
    const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
    assert.equal(payload.nbf, Math.floor(clock.now() / 1000) + 10);
  });
});
