/**
 * exp / nbf / iat with clock tolerance, and iss / aud / typ checks. Time comes from a
 * ManualClock only: jose's `currentDate` is taken from the injected clock.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { parseJwtProviderSpec, sealHsSecret } from '../../../src/auth/jwt/spec.js';
import { type JwtOutcome, JwtVerifier } from '../../../src/auth/jwt/verifier.js';
import { craft, ManualClock, recordingLogger, secretKeys } from './helpers.js';

const secret = randomBytes(32);
const ISS = 'https://issuer.test';

async function setup(extra: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const spec = parseJwtProviderSpec({
    id: 'hs',
    secret_encrypted: sealHsSecret(secretKeys, secret),
    algorithms: ['HS256'],
    issuer: ISS,
    ...extra,
  });
  const verifier = await JwtVerifier.create([spec], { keys: secretKeys, clock, logger: recordingLogger() });
  const nowS = () => Math.floor(clock.now() / 1000);
  const token = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    craft({ alg: 'HS256', ...header }, { iss: ISS, sub: 'alice', ...claims }, secret);
  return { clock, verifier, nowS, token };
}

function refused(outcome: JwtOutcome, detail: string, reason?: RegExp): void {
  assert.equal(outcome.ok, false, `accepted: ${JSON.stringify(outcome)}`);
  if (outcome.ok) return;
  assert.equal(outcome.detail, detail);
  if (reason) assert.match(outcome.reason, reason);
}

describe('exp with a 30 s tolerance (RFC 7519 §4.1.4: valid only before exp)', () => {
  test('accepted up to the last millisecond before exp + tolerance', async () => {
    const { clock, verifier, nowS, token } = await setup();
    const exp = nowS() + 60;
    const jwt = token({ exp });
    clock.set((exp + 30) * 1000 - 1);
    assert.equal((await verifier.verify(jwt)).ok, true);
  });

  test('refused at exactly exp + tolerance', async () => {
    const { clock, verifier, nowS, token } = await setup();
    const exp = nowS() + 60;
    const jwt = token({ exp });
    clock.set((exp + 30) * 1000);
    refused(await verifier.verify(jwt), 'token expired', /ERR_JWT_EXPIRED/);
  });

  test('refused one second past exp + tolerance', async () => {
    const { clock, verifier, nowS, token } = await setup();
    const exp = nowS() + 60;
    const jwt = token({ exp });
    clock.set((exp + 31) * 1000);
    refused(await verifier.verify(jwt), 'token expired');
  });

  test('tolerance 0: refused at exp', async () => {
    const { clock, verifier, nowS, token } = await setup({ clock_tolerance_s: 0 });
    const exp = nowS() + 60;
    const jwt = token({ exp });
    clock.set(exp * 1000 - 1);
    assert.equal((await verifier.verify(jwt)).ok, true);
    clock.set(exp * 1000);
    refused(await verifier.verify(jwt), 'token expired');
  });

  test('missing exp is refused by default', async () => {
    const { verifier, token } = await setup();
    refused(await verifier.verify(token({})), 'invalid token', /missing required "exp"/);
  });

  test('missing exp is accepted with require_exp: false', async () => {
    const { verifier, token } = await setup({ require_exp: false });
    const outcome = await verifier.verify(token({}));
    assert.equal(outcome.ok, true);
    assert.equal(outcome.ok && outcome.expiresAt, undefined);
  });

  for (const [label, exp] of [
    ['a string', '9999999999'],
    ['null', null],
    ['an object', { $gt: 0 }],
  ] as const) {
    test(`exp as ${label} is refused`, async () => {
      const { verifier, token } = await setup();
      refused(await verifier.verify(token({ exp })), 'invalid token');
    });
  }
});

describe('nbf with tolerance', () => {
  test('nbf in the future beyond tolerance is refused', async () => {
    const { verifier, nowS, token } = await setup();
    refused(
      await verifier.verify(token({ exp: nowS() + 600, nbf: nowS() + 31 })),
      'token not yet valid',
      /nbf/,
    );
  });

  test('nbf within tolerance is accepted', async () => {
    const { verifier, nowS, token } = await setup();
    assert.equal((await verifier.verify(token({ exp: nowS() + 600, nbf: nowS() + 30 }))).ok, true);
  });
});

describe('iat and max_age_s', () => {
  test('iat older than max_age + tolerance is refused', async () => {
    const { clock, verifier, nowS, token } = await setup({ max_age_s: 300 });
    const jwt = token({ iat: nowS(), exp: nowS() + 3600 });
    clock.advance(330_000);
    assert.equal((await verifier.verify(jwt)).ok, true, 'age 330 s = max_age + tolerance is still accepted');
    clock.advance(1000);
    refused(await verifier.verify(jwt), 'token expired', /iat/);
  });

  test('missing iat is refused when max_age_s is set', async () => {
    const { verifier, nowS, token } = await setup({ max_age_s: 300 });
    refused(await verifier.verify(token({ exp: nowS() + 60 })), 'invalid token', /iat/);
  });

  test('iat in the future beyond tolerance is refused when max_age_s is set', async () => {
    const { verifier, nowS, token } = await setup({ max_age_s: 300 });
    refused(
      await verifier.verify(token({ iat: nowS() + 120, exp: nowS() + 600 })),
      'token not yet valid',
      /iat/,
    );
  });
});

describe('iss, aud and typ', () => {
  test('wrong iss is refused (no provider for it)', async () => {
    const { verifier, nowS } = await setup();
    const jwt = craft({ alg: 'HS256' }, { iss: 'https://other.test', exp: nowS() + 60 }, secret);
    refused(await verifier.verify(jwt), 'invalid token', /no provider/);
  });

  test('an iss differing only by a trailing slash is refused (exact match)', async () => {
    const clock = new ManualClock();
    const verifier = await JwtVerifier.create(
      [
        parseJwtProviderSpec({
          id: 'only',
          secret_encrypted: sealHsSecret(secretKeys, secret),
          algorithms: ['HS256'],
          issuer: ISS,
        }),
      ],
      { keys: secretKeys, clock, logger: recordingLogger() },
    );
    const exp = Math.floor(clock.now() / 1000) + 60;
    const outcome = await verifier.verify(craft({ alg: 'HS256' }, { iss: `${ISS}/`, exp }, secret));
    refused(outcome, 'invalid token');
  });

  test('an issuer-less provider is used for tokens of unknown issuers', async () => {
    const clock = new ManualClock();
    const verifier = await JwtVerifier.create(
      [
        parseJwtProviderSpec({
          id: 'any',
          secret_encrypted: sealHsSecret(secretKeys, secret),
          algorithms: ['HS256'],
        }),
      ],
      { keys: secretKeys, clock, logger: recordingLogger() },
    );
    const exp = Math.floor(clock.now() / 1000) + 60;
    const outcome = await verifier.verify(craft({ alg: 'HS256' }, { iss: 'https://whoever', exp }, secret));
    assert.equal(outcome.ok && outcome.providerId, 'any');
  });

  test('wrong aud is refused', async () => {
    const { verifier, nowS, token } = await setup({ audience: 'orders-api' });
    refused(await verifier.verify(token({ exp: nowS() + 60, aud: 'billing-api' })), 'invalid token', /aud/);
  });

  test('missing aud is refused when audience is configured', async () => {
    const { verifier, nowS, token } = await setup({ audience: 'orders-api' });
    refused(await verifier.verify(token({ exp: nowS() + 60 })), 'invalid token', /aud/);
  });

  test('aud list containing a configured audience is accepted', async () => {
    const { verifier, nowS, token } = await setup({ audience: ['orders-api', 'x'] });
    assert.equal((await verifier.verify(token({ exp: nowS() + 60, aud: ['other', 'orders-api'] }))).ok, true);
  });

  test('wrong typ is refused (RFC 8725 §3.11)', async () => {
    const { verifier, nowS, token } = await setup({ typ: 'at+jwt' });
    refused(await verifier.verify(token({ exp: nowS() + 60 }, { typ: 'JWT' })), 'invalid token', /typ/);
  });

  test('missing typ is refused when typ is configured', async () => {
    const { verifier, nowS, token } = await setup({ typ: 'at+jwt' });
    refused(await verifier.verify(token({ exp: nowS() + 60 })), 'invalid token', /typ/);
  });

  test('typ is compared case-insensitively, with or without "application/"', async () => {
    const { verifier, nowS, token } = await setup({ typ: 'at+jwt' });
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt']) {
      assert.equal((await verifier.verify(token({ exp: nowS() + 60 }, { typ }))).ok, true, typ);
    }
  });

  test('details never echo claim values', async () => {
    const { verifier, nowS, token } = await setup({ audience: 'orders-api' });
    const outcome = await verifier.verify(token({ exp: nowS() + 60, aud: '<script>secret-aud</script>' }));
    assert.equal(outcome.ok, false);
    assert.doesNotMatch(JSON.stringify(outcome), /secret-aud/);
  });
});
