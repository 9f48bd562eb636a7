/**
 * Admin password hashing: scrypt with its parameters in the encoding, constant-time
 * verification that never throws, a dummy verification costing the same as a real one, and
 * the length-only policy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkPasswordPolicy,
  hashPassword,
  needsRehash,
  PASSWORD_MAX_LENGTH,
  verifyAgainstDummy,
  verifyPassword,
} from '../../../src/admin/auth/passwords.js';
import { SpecError } from '../../../src/core/spec-error.js';

const PASSWORD = 'correct horse battery staple';

describe('hashPassword / verifyPassword', () => {
  it('encodes scrypt$N$r$p$salt$hash with N=2^15, r=8, p=1, a 16-byte salt and a 32-byte key', async () => {
    const encoded = await hashPassword(PASSWORD);
    const [scheme, n, r, p, salt, hash, ...rest] = encoded.split('$');
    assert.deepEqual([scheme, n, r, p, rest], ['scrypt', '32768', '8', '1', []]);
    assert.equal(Buffer.from(salt as string, 'base64url').length, 16);
    assert.equal(Buffer.from(hash as string, 'base64url').length, 32);
    assert.match(`${salt}${hash}`, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
    assert.equal(needsRehash(encoded), false);
  });

  it('salts every hash: the same password never gives the same encoding', async () => {
    const [a, b] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword(PASSWORD, a), true);
    assert.equal(await verifyPassword(PASSWORD, b), true);
  });

  it('refuses a wrong password, one character off, or a different case', async () => {
    const encoded = await hashPassword(PASSWORD);
    assert.equal(await verifyPassword(`${PASSWORD}!`, encoded), false);
    assert.equal(await verifyPassword(PASSWORD.slice(0, -1), encoded), false);
    assert.equal(await verifyPassword(PASSWORD.toUpperCase(), encoded), false);
    assert.equal(await verifyPassword('', encoded), false);
  });

  it('treats canonically equivalent Unicode spellings as one password (NFKC)', async () => {
    const composed = 'caf\u00e9 au lait, s\u2019il vous pla\u00eet';
    const decomposed = composed.normalize('NFD');
    assert.notEqual(composed, decomposed);
    assert.equal(await verifyPassword(decomposed, await hashPassword(composed)), true);
  });

  it('verifies encodings made with other parameters, and flags them for rehashing', async () => {
    const { scrypt } = await import('node:crypto');
    const salt = Buffer.alloc(16, 3);
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt(PASSWORD, salt, 32, { N: 1024, r: 8, p: 1 }, (e, k) => (e ? reject(e) : resolve(k))),
    );
    const old = `scrypt$1024$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
    assert.equal(await verifyPassword(PASSWORD, old), true);
    assert.equal(await verifyPassword('wrong password!', old), false);
    assert.equal(needsRehash(old), true);
  });

  it('malformed or hostile encodings give false, never an exception', async () => {
    const good = await hashPassword(PASSWORD);
    const [, , , , salt, hash] = good.split('$');
    const bad: unknown[] = [
      '',
      'plaintext',
      'bcrypt$2b$10$abc',
      good.replace('scrypt', 'SCRYPT'),
      `${good}$extra`,
      good.split('$').slice(0, 5).join('$'),
      `scrypt$32767$8$1$${salt}$${hash}`, // N not a power of two
      `scrypt$1$8$1$${salt}$${hash}`, // N too small
      `scrypt$0$8$1$${salt}$${hash}`,
      `scrypt$-32768$8$1$${salt}$${hash}`,
      `scrypt$32768$0$1$${salt}$${hash}`,
      `scrypt$1048576$16$1$${salt}$${hash}`, // 2 GiB of memory
      `scrypt$4294967296$8$1$${salt}$${hash}`, // wraps to 0 in 32-bit arithmetic
      `scrypt$32768$8$9999$${salt}$${hash}`, // hours of work
      `scrypt$32768$8$1$${salt}$`,
      `scrypt$32768$8$1$$${hash}`,
      `scrypt$32768$8$1$${salt}$${hash}==`,
      `scrypt$32768$8$1$${salt}$${'A'.repeat(200)}`, // key too long
      `scrypt$32768$8$1$AAAA$${hash}`, // salt too short
      `scrypt$ 32768$8$1$${salt}$${hash}`,
      `scrypt$3.2e4$8$1$${salt}$${hash}`,
      `${good}${'x'.repeat(1000)}`,
      null,
      undefined,
      42,
      { toString: () => good },
    ];
    for (const encoded of bad) {
      assert.equal(await verifyPassword(PASSWORD, encoded as string), false, String(encoded));
      assert.equal(needsRehash(encoded as string), true, String(encoded));
    }
  });

  it('a non-string or absurdly long candidate gives false without hashing', async () => {
    const encoded = await hashPassword(PASSWORD);
    assert.equal(await verifyPassword(undefined as unknown as string, encoded), false);
    assert.equal(await verifyPassword(12 as unknown as string, encoded), false);
    const started = performance.now();
    assert.equal(await verifyPassword('x'.repeat(10_000_000), encoded), false);
    assert.ok(performance.now() - started < 1000);
  });
});

describe('verifyAgainstDummy', () => {
  it('always answers false', async () => {
    assert.equal(await verifyAgainstDummy(PASSWORD), false);
    assert.equal(await verifyAgainstDummy(''), false);
    assert.equal(await verifyAgainstDummy(undefined as unknown as string), false);
  });

  it('costs about what a real verification costs (an unknown user is not faster)', async () => {
    const encoded = await hashPassword(PASSWORD);
    const time = async (fn: () => Promise<boolean>): Promise<number> => {
      const started = performance.now();
      await fn();
      return performance.now() - started;
    };
    // Alternate and take medians so one GC pause or a busy neighbour does not decide.
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 5; i++) {
      real.push(await time(() => verifyPassword('wrong password!!', encoded)));
      dummy.push(await time(() => verifyAgainstDummy('wrong password!!')));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const ratio = median(dummy) / median(real);
    assert.ok(ratio > 0.5 && ratio < 2, `dummy/real = ${ratio.toFixed(2)}`);
  });
});

describe('checkPasswordPolicy', () => {
  const issue = (fn: () => void): string => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof SpecError);
      assert.equal(error.issues.length, 1);
      return `${error.issues[0]?.path}: ${error.issues[0]?.message}`;
    }
    assert.fail('expected a SpecError');
  };

  it('accepts 12 to 1024 characters, whatever they are', () => {
    for (const ok of [
      'a'.repeat(12),
      'twelve chars',
      '           x',
      'ü'.repeat(12),
      'x'.repeat(PASSWORD_MAX_LENGTH),
    ])
      checkPasswordPolicy(ok);
  });

  it('refuses shorter than 12 with a message naming the field, never the password', () => {
    assert.equal(
      issue(() => checkPasswordPolicy('hunter2')),
      'password: must be at least 12 characters (got 7)',
    );
    assert.equal(
      issue(() => checkPasswordPolicy('')),
      'password: must be at least 12 characters (got 0)',
    );
    assert.equal(
      issue(() => checkPasswordPolicy('short', 'admin_password')),
      'admin_password: must be at least 12 characters (got 5)',
    );
  });

  it('counts characters, not UTF-16 units: 11 emoji are too short', () => {
    assert.match(
      issue(() => checkPasswordPolicy('🔑'.repeat(11))),
      /got 11/,
    );
    checkPasswordPolicy('🔑'.repeat(12));
  });

  it('refuses longer than 1024', () => {
    assert.equal(
      issue(() => checkPasswordPolicy('x'.repeat(1025))),
      'password: must be at most 1024 characters (got 1025)',
    );
  });

  it('refuses a non-string', () => {
    assert.equal(
      issue(() => checkPasswordPolicy(undefined as unknown as string)),
      'password: must be a string',
    );
  });
});
