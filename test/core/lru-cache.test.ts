import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { LruCache } from '../../src/core/lru-cache.js';

describe('LruCache', () => {
  it('stays within its bound and evicts the least recently used', () => {
    const cache = new LruCache<string, number>({ maxEntries: 4, ttlMs: 1000, clock: new ManualClock() });
    for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) cache.set(k, i);
    assert.deepEqual(cache.lookup('a'), { hit: true, value: 0 }, 'a (oldest) is used again');
    cache.set('e', 4);
    assert.equal(cache.size, 4);
    assert.deepEqual(cache.lookup('b'), { hit: false }, 'b is now the least recently used');
    assert.equal(cache.lookup('a').hit, true);
    for (let i = 0; i < 1000; i++) cache.set(`flood${i}`, i);
    assert.equal(cache.size, 4, 'a flood of new keys cannot grow it');
  });

  it('a hot key survives a stream of one-off keys', () => {
    const cache = new LruCache<string, number>({ maxEntries: 2000, ttlMs: 1e9, clock: new ManualClock() });
    cache.set('hot', 1);
    for (let i = 0; i < 10_000; i++) {
      cache.set(`once${i}`, i);
      assert.equal(cache.lookup('hot').hit, true, `after ${i} other keys`);
    }
  });

  it('expires entries after the TTL, and caches nothing with size or TTL 0', () => {
    const clock = new ManualClock();
    const cache = new LruCache<string, null>({ maxEntries: 10, ttlMs: 100, clock });
    cache.set('k', null);
    assert.deepEqual(cache.lookup('k'), { hit: true, value: null }, 'a cached undefined-ish value is a hit');
    clock.advance(100);
    assert.deepEqual(cache.lookup('k'), { hit: false });
    const none = new LruCache<string, number>({ maxEntries: 0, ttlMs: 100, clock });
    none.set('k', 1);
    assert.equal(none.size, 0);
  });
});
