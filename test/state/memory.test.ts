import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import { isStateError } from '../../src/state/errors.js';
import { MemoryState } from '../../src/state/memory.js';
import { Inbox, runStateContract } from './state-contract.js';

const clock = new ManualClock();
runStateContract('MemoryState', async () => new MemoryState({ clock }), {
  advance: async (ms) => clock.advance(ms),
});

describe('MemoryState: bounds', () => {
  test('a flood of distinct keys never holds more than maxEntries', async () => {
    const state = new MemoryState({ maxEntries: 100, clock: new ManualClock() });
    for (let i = 0; i < 300; i++) {
      await state.set(`flood:${i}`, 'x');
      assert.ok(state.size <= 100);
    }
    assert.equal(state.size, 100);
    assert.equal(state.evictions, 200);
    assert.equal(await state.get('flood:299'), 'x', 'the newest survive');
    assert.equal(await state.get('flood:0'), null, 'the oldest go');
    await state.close();
  });

  test('a 300k-key flood at the default bound stays bounded and fast', async () => {
    const state = new MemoryState({ clock: new ManualClock() });
    const started = performance.now();
    for (let i = 0; i < 300_000; i++) await state.setIfAbsent(`nonce:${i}`, '1', 60_000);
    const ms = performance.now() - started;
    assert.equal(state.size, 100_000);
    // ~0.5 s when eviction is O(1); an eviction that rescans the Map takes seconds, which
    // under a real flood means the event loop stalls and every request waits.
    assert.ok(ms < 5_000, `took ${Math.round(ms)} ms`);
    await state.close();
  });

  test('every kind of write is bounded, not only set', async () => {
    const state = new MemoryState({ maxEntries: 10, clock: new ManualClock() });
    for (let i = 0; i < 50; i++) {
      await state.setIfAbsent(`nonce:${i}`, '1', 60_000);
      await state.incr(`counter:${i}`, 1, 60_000);
    }
    assert.equal(state.size, 10);
    await state.close();
  });

  test('a flood of keys never evicts a lease', async () => {
    const state = new MemoryState({ maxEntries: 10, clock: new ManualClock() });
    assert.equal(await state.acquireLease('detector', 'one', 60_000), true);
    for (let i = 0; i < 50; i++) await state.set(`flood:${i}`, 'x');
    assert.equal(state.evictions, 40);
    assert.equal(await state.acquireLease('detector', 'two', 60_000), false);
    assert.equal(await state.releaseLease('detector', 'one'), true);
    await state.close();
  });

  test('the least recently used entry is evicted: a key read recently survives', async () => {
    const state = new MemoryState({ maxEntries: 3, clock: new ManualClock() });
    await state.set('a', '1');
    await state.set('b', '2');
    await state.set('c', '3');
    assert.equal(await state.get('a'), '1'); // a is now the most recently used
    await state.set('d', '4');
    assert.equal(await state.get('b'), null, 'b was least recently used');
    assert.equal(await state.get('a'), '1');
    await state.incr('c', 1, 1_000); // touching by incr counts as use too
    await state.set('e', '5');
    assert.equal(await state.get('d'), null);
    assert.equal(await state.get('c'), '4');
    await state.close();
  });

  test('maxBytes bounds large values whatever the entry count', async () => {
    const state = new MemoryState({ maxEntries: 1_000, maxBytes: 64 * 1024, clock: new ManualClock() });
    const big = 'x'.repeat(8 * 1024); // ~16 KiB as UTF-16
    for (let i = 0; i < 20; i++) await state.set(`big:${i}`, big);
    assert.ok(state.bytes <= 64 * 1024, `bytes ${state.bytes}`);
    assert.ok(state.size <= 4);
    assert.equal(await state.get('big:19'), big);
    await state.close();
  });

  test('options are validated with messages naming the field', () => {
    assert.throws(() => new MemoryState({ maxEntries: 0 }), /options\.maxEntries must be a positive integer/);
    assert.throws(() => new MemoryState({ maxBytes: 1.5 }), /options\.maxBytes must be a positive integer/);
    assert.throws(
      () => new MemoryState({ sweepIntervalMs: -1 }),
      /options\.sweepIntervalMs must be a positive integer/,
    );
  });
});

describe('MemoryState: expiry', () => {
  test('expired entries are invisible at once and reclaimed by a sweep', async () => {
    const clock = new ManualClock();
    const state = new MemoryState({ clock });
    for (let i = 0; i < 10; i++) await state.set(`short:${i}`, 'v', 100);
    for (let i = 0; i < 5; i++) await state.set(`long:${i}`, 'v');
    clock.advance(100);
    assert.equal(await state.get('short:3'), null, 'invisible as soon as the ttl has passed');
    assert.equal(state.size, 14, 'the read dropped the one it found; the others wait for the sweep');
    assert.equal(state.sweep(), 9);
    assert.equal(state.size, 5);
    assert.equal(await state.get('long:0'), 'v');
    await state.close();
  });

  test('the periodic sweep runs by itself', async () => {
    const clock = new ManualClock();
    const state = new MemoryState({ clock, sweepIntervalMs: 10 });
    for (let i = 0; i < 10; i++) await state.set(`nonce:${i}`, 'v', 50);
    clock.advance(60);
    const deadline = Date.now() + 2_000;
    while (state.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(state.size, 0);
    await state.close();
  });
});

describe('MemoryState: pub/sub delivery', () => {
  test('delivery is asynchronous, never inside publish', async () => {
    const state = new MemoryState();
    const inbox = new Inbox();
    await state.subscribe('c', inbox.handler);
    await state.publish('c', 'm');
    assert.deepEqual(inbox.messages, [], 'not delivered before publish returned to its caller');
    assert.deepEqual(await inbox.waitFor(1), ['m']);
    await state.close();
  });

  test('a handler added after a publish does not see it; one removed before delivery does not either', async () => {
    const state = new MemoryState();
    const early = new Inbox();
    const late = new Inbox();
    const removed = new Inbox();
    await state.subscribe('c', early.handler);
    const unsubscribe = await state.subscribe('c', removed.handler);
    await state.publish('c', 'm');
    await state.subscribe('c', late.handler);
    await unsubscribe();
    await early.waitFor(1);
    assert.deepEqual(late.messages, []);
    assert.deepEqual(removed.messages, []);
    await state.close();
  });

  test('a throwing handler is reported to the logger', async () => {
    const errors: unknown[] = [];
    const logger = { info() {}, warn() {}, error: (obj: object) => errors.push(obj) };
    const state = new MemoryState({ logger });
    const inbox = new Inbox();
    await state.subscribe('c', () => {
      throw new Error('boom');
    });
    await state.subscribe('c', inbox.handler);
    await state.publish('c', 'm');
    await inbox.waitFor(1);
    assert.equal(errors.length, 1);
    await state.close();
  });
});

/** The obvious model of the contract, without eviction or sweeping. */
class ModelState {
  readonly #entries = new Map<string, { value: string; expiresAt: number }>();
  now = 0;

  #live(key: string) {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.expiresAt > this.now ? entry : undefined;
  }
  get(key: string): string | null {
    return this.#live(key)?.value ?? null;
  }
  set(key: string, value: string, ttlMs?: number): void {
    this.#entries.set(key, {
      value,
      expiresAt: ttlMs === undefined ? Number.POSITIVE_INFINITY : this.now + ttlMs,
    });
  }
  del(key: string): void {
    this.#entries.delete(key);
  }
  setIfAbsent(key: string, value: string, ttlMs: number): boolean {
    if (this.#live(key)) return false;
    this.set(key, value, ttlMs);
    return true;
  }
  incr(key: string, by: number, ttlMs: number): number | 'ERR_STATE_NOT_INTEGER' {
    const entry = this.#live(key);
    if (entry === undefined) {
      this.set(key, String(by), ttlMs);
      return by;
    }
    if (String(Number.parseInt(entry.value, 10)) !== entry.value) return 'ERR_STATE_NOT_INTEGER';
    const next = Number(entry.value) + by;
    entry.value = String(next);
    return next;
  }
}

type Op =
  | { op: 'get'; key: string }
  | { op: 'set'; key: string; value: string; ttl: number | undefined }
  | { op: 'del'; key: string }
  | { op: 'setIfAbsent'; key: string; value: string; ttl: number }
  | { op: 'incr'; key: string; by: number; ttl: number }
  | { op: 'advance'; ms: number };

const key = fc.constantFrom('a', 'b', 'c', 'd');
const value = fc.oneof(
  fc.integer({ min: -50, max: 50 }).map(String),
  fc.constantFrom('x', '1.5', '01', '-0', ''),
);
const ttl = fc.integer({ min: 1, max: 100 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('get' as const), key }),
  fc.record({ op: fc.constant('set' as const), key, value, ttl: fc.option(ttl, { nil: undefined }) }),
  fc.record({ op: fc.constant('del' as const), key }),
  fc.record({ op: fc.constant('setIfAbsent' as const), key, value, ttl }),
  fc.record({ op: fc.constant('incr' as const), key, by: fc.integer({ min: -5, max: 5 }), ttl }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120 }) }),
);

describe('MemoryState: model-based property', () => {
  test('eviction follows least-recently-used order under any mix of reads, writes and deletes', async () => {
    const lruOp = fc.record({
      op: fc.constantFrom('get', 'set', 'del'),
      key: fc.integer({ min: 0, max: 7 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(lruOp, { maxLength: 200, size: 'large' }),
        async (max, ops) => {
          const state = new MemoryState({ maxEntries: max, clock: new ManualClock() });
          const order: string[] = []; // least recently used first
          const use = (key: string) => {
            const at = order.indexOf(key);
            if (at >= 0) order.splice(at, 1);
          };
          try {
            for (const { op, key: n } of ops) {
              const key = `k${n}`;
              if (op === 'get') {
                const hit = order.includes(key);
                assert.equal(await state.get(key), hit ? key : null);
                if (hit) {
                  use(key);
                  order.push(key);
                }
              } else if (op === 'set') {
                await state.set(key, key);
                use(key);
                order.push(key);
                if (order.length > max) order.shift();
              } else {
                await state.del(key);
                use(key);
              }
              assert.equal(state.size, order.length);
            }
          } finally {
            await state.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('get/set/del/incr/setIfAbsent agree with a reference model under a manual clock', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 80, size: 'large' }), async (ops) => {
        const clock = new ManualClock();
        const state = new MemoryState({ clock });
        const model = new ModelState();
        try {
          for (const [i, step] of ops.entries()) {
            const where = `step ${i} ${JSON.stringify(step)}`;
            switch (step.op) {
              case 'get':
                assert.equal(await state.get(step.key), model.get(step.key), where);
                break;
              case 'set':
                await state.set(step.key, step.value, step.ttl);
                model.set(step.key, step.value, step.ttl);
                break;
              case 'del':
                await state.del(step.key);
                model.del(step.key);
                break;
              case 'setIfAbsent':
                assert.equal(
                  await state.setIfAbsent(step.key, step.value, step.ttl),
                  model.setIfAbsent(step.key, step.value, step.ttl),
                  where,
                );
                break;
              case 'incr': {
                const expected = model.incr(step.key, step.by, step.ttl);
                const actual = await state.incr(step.key, step.by, step.ttl).catch((err: unknown) => {
                  assert.ok(isStateError(err), where);
                  return err.code;
                });
                assert.equal(actual, expected, where);
                break;
              }
              case 'advance':
                clock.advance(step.ms);
                model.now += step.ms;
                break;
            }
          }
          for (const k of ['a', 'b', 'c', 'd']) assert.equal(await state.get(k), model.get(k), `final ${k}`);
        } finally {
          await state.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});
