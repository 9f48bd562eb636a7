import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryLimiter } from '../../src/limits/memory.js';
import { limitOf, runLimiterContract } from './limiter-contract.js';
import { runModelProperties } from './model.js';

const clock = new ManualClock();
runLimiterContract('MemoryLimiter', async () => new MemoryLimiter({ clock }), { clock });

describe('MemoryLimiter: model', () => {
  const modelClock = new ManualClock();
  runModelProperties('MemoryLimiter', modelClock, async () => new MemoryLimiter({ clock: modelClock }));
});

describe('MemoryLimiter: bounds', () => {
  test('a flood of distinct identities never holds more than maxEntries', async () => {
    const limiter = new MemoryLimiter({ clock: new ManualClock(), maxEntries: 100 });
    const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: 60_000 });
    for (let i = 0; i < 300; i++) {
      await limiter.checkAll([{ limit, identity: `flood:${i}` }]);
      assert.ok(limiter.size <= 100);
    }
    assert.equal(limiter.size, 100);
    assert.equal(limiter.evictions, 200);
    const newest = await limiter.checkAll([{ limit, identity: 'flood:299' }]);
    assert.equal(newest.allowed, false, 'the most recently used keep their counts');
  });

  test('eviction only makes a limit more lenient: the evicted identity starts over, nobody is denied wrongly', async () => {
    const limiter = new MemoryLimiter({ clock: new ManualClock(), maxEntries: 10 });
    const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: 60_000 });
    assert.equal((await limiter.checkAll([{ limit, identity: 'victim' }])).allowed, true);
    assert.equal((await limiter.checkAll([{ limit, identity: 'victim' }])).allowed, false);
    for (let i = 0; i < 10; i++) {
      assert.equal((await limiter.checkAll([{ limit, identity: `other:${i}` }])).allowed, true);
    }
    assert.equal(
      (await limiter.checkAll([{ limit, identity: 'victim' }])).allowed,
      true,
      'forgotten, so allowed',
    );
  });

  test('a denied or recently checked identity counts as used (LRU, not FIFO)', async () => {
    const limiter = new MemoryLimiter({ clock: new ManualClock(), maxEntries: 3 });
    const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: 60_000 });
    for (const who of ['a', 'b', 'c']) await limiter.checkAll([{ limit, identity: who }]);
    await limiter.checkAll([{ limit, identity: 'a' }]); // denied, but touches 'a'
    await limiter.checkAll([{ limit, identity: 'd' }]); // evicts 'b', the least recently used
    assert.equal((await limiter.checkAll([{ limit, identity: 'a' }])).allowed, false);
    assert.equal((await limiter.checkAll([{ limit, identity: 'b' }])).allowed, true);
  });

  test('expired entries are not counted as evictions', async () => {
    const clock = new ManualClock();
    const limiter = new MemoryLimiter({ clock, maxEntries: 5 });
    const limit = limitOf({ algorithm: 'fixed_window', limit: 1, windowMs: 1_000 });
    for (let i = 0; i < 5; i++) await limiter.checkAll([{ limit, identity: `old:${i}` }]);
    clock.advance(10_000);
    for (let i = 0; i < 5; i++) await limiter.checkAll([{ limit, identity: `new:${i}` }]);
    assert.equal(limiter.evictions, 0);
  });

  test('checkAllSync answers without a Promise, for a synchronous pipeline stage', () => {
    const limiter = new MemoryLimiter({ clock: new ManualClock() });
    const limit = limitOf({ algorithm: 'token_bucket', limit: 1, rate: { count: 1, perMs: 1_000 } });
    assert.equal(limiter.checkAllSync([{ limit, identity: 'sync' }]).allowed, true);
    assert.equal(limiter.checkAllSync([{ limit, identity: 'sync' }]).allowed, false);
  });

  test('options are validated with messages naming the field', () => {
    assert.throws(
      () => new MemoryLimiter({ maxEntries: 0 }),
      /options\.maxEntries must be a positive integer/,
    );
    assert.throws(
      () => new MemoryLimiter({ leaseTtlMs: 1.5 }),
      /options\.leaseTtlMs must be a positive integer/,
    );
  });
});
