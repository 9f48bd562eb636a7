import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileLimit, type LimitSpec, planCheck, storageKey } from '../../src/limits/compile.js';

describe('compileLimit', () => {
  test('fills windowMs, freezes, and canonicalizes the time zone', () => {
    const bucket = compileLimit({
      policyId: 'p',
      algorithm: 'token_bucket',
      limit: 20,
      rate: { count: 3, perMs: 1_000 },
    });
    assert.equal(bucket.windowMs, 1_000 / 3);
    assert.ok(Object.isFrozen(bucket) && Object.isFrozen(bucket.rate));
    const quota = compileLimit({
      policyId: 'p',
      algorithm: 'quota',
      limit: 5,
      period: 'day',
      timeZone: 'europe/berlin',
    });
    assert.deepEqual(
      { ...quota },
      {
        policyId: 'p',
        algorithm: 'quota',
        limit: 5,
        windowMs: 86_400_000,
        period: 'day',
        timeZone: 'Europe/Berlin',
      },
    );
    assert.equal(
      compileLimit({ policyId: 'p', algorithm: 'quota', limit: 5, period: 'month' }).timeZone,
      'UTC',
    );
    assert.equal(compileLimit({ policyId: 'p', algorithm: 'concurrency', limit: 5 }).windowMs, 0);
  });

  test('rejects bad specs with messages naming the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ policyId: '', algorithm: 'fixed_window', limit: 1, windowMs: 1 }, /limit\.policyId/],
      [{ policyId: 'a{b}', algorithm: 'fixed_window', limit: 1, windowMs: 1 }, /without braces/],
      [{ policyId: 'p', algorithm: 'leaky', limit: 1 }, /limit\.algorithm must be one of/],
      [
        { policyId: 'p', algorithm: 'fixed_window', limit: 0, windowMs: 1 },
        /limit\.limit must be a positive integer/,
      ],
      [{ policyId: 'p', algorithm: 'fixed_window', limit: 1.5, windowMs: 1 }, /limit\.limit/],
      [{ policyId: 'p', algorithm: 'fixed_window', limit: 1 }, /limit\.windowMs must be a positive integer/],
      [{ policyId: 'p', algorithm: 'sliding_window', limit: 1e9, windowMs: 86_400_000 }, /at most 2\^51/],
      [{ policyId: 'p', algorithm: 'token_bucket', limit: 1 }, /limit\.rate/],
      [
        { policyId: 'p', algorithm: 'token_bucket', limit: 1, rate: { count: 0, perMs: 1 } },
        /limit\.rate\.count/,
      ],
      [
        { policyId: 'p', algorithm: 'token_bucket', limit: 1, rate: { count: 3_000, perMs: 1 } },
        /1 000 000 per second/,
      ],
      [{ policyId: 'p', algorithm: 'quota', limit: 1 }, /limit\.period must be one of/],
      [{ policyId: 'p', algorithm: 'quota', limit: 1, period: 'week' }, /limit\.period/],
      [
        { policyId: 'p', algorithm: 'quota', limit: 1, period: 'day', timeZone: 'Nowhere/Town' },
        /limit\.timeZone/,
      ],
      [
        { policyId: 'p', algorithm: 'quota', limit: 1, period: 'rolling_24h', timeZone: 'UTC' },
        /limit\.timeZone applies/,
      ],
      [
        { policyId: 'p', algorithm: 'fixed_window', limit: 1, windowMs: 1, rate: { count: 1, perMs: 1 } },
        /limit\.rate applies/,
      ],
      [{ policyId: 'p', algorithm: 'concurrency', limit: 1, windowMs: 10 }, /limit\.windowMs applies/],
    ];
    for (const [spec, message] of bad) {
      assert.throws(() => compileLimit(spec as LimitSpec), message, JSON.stringify(spec));
    }
  });

  test('a literal limit (not from compileLimit) is validated on first use', () => {
    const literal = { policyId: 'p', algorithm: 'fixed_window' as const, limit: 3, windowMs: 1_000 };
    assert.equal(planCheck({ limit: literal, identity: 'x' }).shape.limit, 3);
    assert.throws(() => planCheck({ limit: { ...literal, windowMs: 0 }, identity: 'x' }), /limit\.windowMs/);
  });

  test('storage keys: one hash tag per policy and identity, long identities hashed, no collisions', () => {
    assert.equal(storageKey('pol_1', 'key:key_abc', 'fw'), 'rl:{pol_1:=key:key_abc}:fw');
    const long = storageKey('pol_1', 'x'.repeat(201), 'fw');
    assert.match(long, /^rl:\{pol_1:#[A-Za-z0-9_-]{43}\}:fw$/);
    assert.equal(storageKey('pol_1', 'x'.repeat(200), 'fw').length, 'rl:{pol_1:=}:fw'.length + 200);
    // A short identity that looks like a digest cannot land on a long identity's key.
    const digest = long.slice('rl:{pol_1:'.length, -'}:fw'.length);
    assert.notEqual(storageKey('pol_1', digest, 'fw'), long);
  });

  test('cost above the limit is capped at limit + 1 (denied alike); cost must be a positive integer', () => {
    const limit = compileLimit({ policyId: 'p', algorithm: 'fixed_window', limit: 3, windowMs: 1_000 });
    assert.equal(planCheck({ limit, identity: 'x', cost: 1e15 }).cost, 4);
    assert.equal(planCheck({ limit, identity: 'x' }).cost, 1);
    assert.throws(
      () => planCheck({ limit, identity: 'x', cost: 0 }),
      /check\.cost must be a positive integer/,
    );
  });
});
