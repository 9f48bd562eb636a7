import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryState } from '../../src/state/memory.js';
import { openState } from '../../src/state/open-state.js';

describe('openState chooses the backend in one place', () => {
  test('no URL, an empty one or blanks: in-memory state', async () => {
    for (const redisUrl of [undefined, '', '  ']) {
      const state = await openState(redisUrl === undefined ? {} : { redisUrl });
      assert.ok(state instanceof MemoryState);
      assert.equal(state.kind, 'memory');
      assert.equal(state.shared, false);
      await state.close();
    }
  });

  test('memory options and the clock reach the memory backend', async () => {
    const clock = new ManualClock();
    const state = await openState({ memory: { maxEntries: 2 }, clock });
    await state.set('a', '1', 100);
    await state.set('b', '1');
    await state.set('c', '1');
    assert.equal((state as MemoryState).size, 2);
    clock.advance(100);
    assert.equal(await state.get('a'), null);
    await state.close();
  });

  test('an unknown scheme fails fast, naming the scheme and the accepted forms but not the rest', async () => {
    await assert.rejects(openState({ redisUrl: 'memcached://user:pw@cache:11211' }), (err: Error) => {
      assert.match(err.message, /unsupported scheme "memcached:"/);
      assert.match(err.message, /redis:\/\//);
      assert.match(err.message, /rediss:\/\//);
      assert.doesNotMatch(err.message, /pw@cache/);
      return true;
    });
    await assert.rejects(openState({ redisUrl: 'localhost:6379' }), /unsupported scheme "localhost:"/);
    await assert.rejects(openState({ redisUrl: 'not a url' }), /redisUrl is not a URL/);
  });
});
