/**
 * The HotState contract: one suite every implementation must pass (STYLE 1). Run by
 * memory.test.ts (ManualClock) and redis.test.ts (real Redis, real time).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { isStateError, type StateErrorCode } from '../../src/state/errors.js';
import type { HotState } from '../../src/state/types.js';

export interface ContractOptions {
  /** Move the state's clock forward. Default: really wait (for backends that keep their own time). */
  advance?: (ms: number) => Promise<void>;
}

/** Collects messages from a subscription and waits for them (deliveries are asynchronous). */
export class Inbox {
  readonly messages: string[] = [];
  #waiters: Array<() => void> = [];

  readonly handler = (message: string): void => {
    this.messages.push(message);
    for (const wake of this.#waiters.splice(0)) wake();
  };

  /** Resolve once at least `count` messages arrived; reject after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 2_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(
          `expected ${count} message(s) within ${timeoutMs} ms, got ${JSON.stringify(this.messages)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages;
  }
}

export function rejectsWith(code: StateErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isStateError(err), `expected a StateError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function runStateContract(
  label: string,
  open: () => Promise<HotState>,
  opts: ContractOptions = {},
): void {
  const advance = opts.advance ?? sleep;
  /** Short enough for real-time backends, with margins wide enough for a loaded CI machine. */
  const TTL = 150;
  const EXPIRED = TTL + 150;
  let opened: HotState[] = [];
  let seq = 0;
  // Keys and channels are unique per test: a shared backend keeps them across tests.
  const name = (what: string) => `${what}:${++seq}`;

  async function fresh(): Promise<HotState> {
    const state = await open();
    opened.push(state);
    return state;
  }

  /** Two handles on the state: two instances when it is shared, the same one otherwise. */
  async function pair(): Promise<[HotState, HotState]> {
    const a = await fresh();
    return [a, a.shared ? await fresh() : a];
  }

  describe(`${label}: HotState contract`, () => {
    afterEach(async () => {
      const closing = opened;
      opened = [];
      await Promise.all(closing.map((state) => state.close()));
    });

    describe('heartbeat', () => {
      test('counts members seen within the ttl, across handles', async () => {
        const [a, b] = await pair();
        const group = name('hb');
        assert.equal(await a.heartbeat(group, 'one', 1000), 1);
        assert.equal(await b.heartbeat(group, 'two', 1000), 2);
        assert.equal(await a.heartbeat(group, 'one', 1000), 2, 'a repeated beat is one member');
      });

      test('forgets members that stopped beating', async () => {
        const state = await fresh();
        const group = name('hb');
        await state.heartbeat(group, 'gone', TTL);
        await advance(EXPIRED);
        assert.equal(await state.heartbeat(group, 'here', TTL), 1);
      });

      test('members lists each live member with its info and last beat, across handles', async () => {
        const [a, b] = await pair();
        const group = name('hb');
        const before = Date.now();
        await a.heartbeat(group, 'one', 10_000, '{"n":1}');
        await b.heartbeat(group, 'two', 10_000);
        await b.heartbeat(group, 'three', 10_000, '');
        const listed = await a.members(group, 10_000);
        assert.deepEqual(listed.map((m) => [m.member, m.info]).sort(), [
          ['one', '{"n":1}'],
          ['three', ''],
          ['two', null],
        ]);
        for (const m of listed) assert.ok(Number.isSafeInteger(m.lastBeatAt), `lastBeatAt ${m.lastBeatAt}`);
        // Real backends beat by their own clock: only check it is near real time there.
        if (opts.advance === undefined)
          for (const m of listed) assert.ok(Math.abs(m.lastBeatAt - before) < 60_000, `${m.lastBeatAt}`);
        assert.deepEqual(await b.members(name('empty'), 10_000), []);
      });

      test('a beat without info keeps the last info; a beat with info replaces it', async () => {
        const [a, b] = await pair();
        const group = name('hb');
        await a.heartbeat(group, 'one', 10_000, 'first');
        await b.heartbeat(group, 'one', 10_000);
        assert.deepEqual(
          (await a.members(group, 10_000)).map((m) => m.info),
          ['first'],
        );
        await b.heartbeat(group, 'one', 10_000, 'second');
        assert.deepEqual(
          (await a.members(group, 10_000)).map((m) => m.info),
          ['second'],
        );
      });

      test('members leaves out members silent for the ttl, and their info goes with them', async () => {
        const state = await fresh();
        const group = name('hb');
        await state.heartbeat(group, 'gone', TTL, 'old');
        await advance(EXPIRED);
        await state.heartbeat(group, 'here', TTL, 'new');
        assert.deepEqual(
          (await state.members(group, TTL)).map((m) => m.member),
          ['here'],
        );
        // Beating again under the old name starts without the old info.
        await state.heartbeat(group, 'gone', TTL);
        const gone = (await state.members(group, TTL)).find((m) => m.member === 'gone');
        assert.equal(gone?.info, null);
      });

      test('leave forgets a member at once; leaving twice or an unknown member is fine', async () => {
        const [a, b] = await pair();
        const group = name('hb');
        await a.heartbeat(group, 'one', 10_000, 'x');
        await a.heartbeat(group, 'two', 10_000, 'y');
        await b.leave(group, 'one');
        await b.leave(group, 'one');
        await b.leave(name('none'), 'nobody');
        assert.deepEqual(
          (await a.members(group, 10_000)).map((m) => m.member),
          ['two'],
        );
        assert.equal(await a.heartbeat(group, 'one', 10_000), 2);
        assert.equal((await a.members(group, 10_000)).find((m) => m.member === 'one')?.info, null);
      });

      test('invalid group, member, ttl or info are rejected as caller bugs', async () => {
        const state = await fresh();
        const invalid = rejectsWith('ERR_STATE_INVALID_ARGUMENT');
        const long = 'k'.repeat(1025);
        await assert.rejects(state.heartbeat(long, 'one', TTL), invalid);
        await assert.rejects(state.heartbeat(name('hb'), long, TTL), invalid);
        await assert.rejects(state.heartbeat(name('hb'), 'one', 0), invalid);
        await assert.rejects(state.heartbeat(name('hb'), 'one', TTL, 'i'.repeat(4097)), invalid);
        await assert.rejects(state.heartbeat(name('hb'), 'one', TTL, 42 as unknown as string), invalid);
        await assert.rejects(state.members(long, TTL), invalid);
        await assert.rejects(state.members(name('hb'), -1), invalid);
        await assert.rejects(state.leave(name('hb'), long), invalid);
        assert.equal(await state.heartbeat(name('hb'), 'one', TTL, 'i'.repeat(4096)), 1);
      });
    });

    describe('leases', () => {
      test('a free lease goes to the first owner; another owner is refused while it is held', async () => {
        const [a, b] = await pair();
        const lease = name('lease');
        assert.equal(await a.acquireLease(lease, 'one', 10_000), true);
        assert.equal(await b.acquireLease(lease, 'two', 10_000), false);
        assert.equal(await a.acquireLease(lease, 'two', 10_000), false);
      });

      test('the holder renews, and the renewal runs from now', async () => {
        const [a, b] = await pair();
        const lease = name('lease');
        const ttl = 400;
        assert.equal(await a.acquireLease(lease, 'one', ttl), true);
        await advance(250);
        assert.equal(await b.acquireLease(lease, 'one', ttl), true, 'renewal from any handle');
        // 500 ms after the first acquire: free had the renewal not extended it (400), held to 650 if it did.
        await advance(250);
        assert.equal(await b.acquireLease(lease, 'two', ttl), false);
      });

      test('once the lease runs out another owner takes it', async () => {
        const [a, b] = await pair();
        const lease = name('lease');
        assert.equal(await a.acquireLease(lease, 'one', TTL), true);
        await advance(EXPIRED);
        assert.equal(await b.acquireLease(lease, 'two', 10_000), true);
        assert.equal(await a.acquireLease(lease, 'one', 10_000), false, 'the old holder lost it');
        assert.equal(await a.releaseLease(lease, 'one'), false);
      });

      test('release by someone other than the holder is refused and the lease stays', async () => {
        const [a, b] = await pair();
        const lease = name('lease');
        assert.equal(await b.releaseLease(lease, 'one'), false, 'nothing to release');
        assert.equal(await a.acquireLease(lease, 'one', 10_000), true);
        assert.equal(await b.releaseLease(lease, 'two'), false);
        assert.equal(await b.acquireLease(lease, 'two', 10_000), false);
        assert.equal(await a.acquireLease(lease, 'one', 10_000), true);
      });

      test('release by the holder hands the lease over at once', async () => {
        const [a, b] = await pair();
        const lease = name('lease');
        assert.equal(await a.acquireLease(lease, 'one', 10_000), true);
        assert.equal(await a.releaseLease(lease, 'one'), true);
        assert.equal(await a.releaseLease(lease, 'one'), false, 'released once');
        assert.equal(await b.acquireLease(lease, 'two', 10_000), true);
        assert.equal(await a.acquireLease(lease, 'one', 10_000), false);
      });

      test('leases with different names are independent', async () => {
        const state = await fresh();
        const first = name('lease');
        const second = name('lease');
        assert.equal(await state.acquireLease(first, 'one', 10_000), true);
        assert.equal(await state.acquireLease(second, 'two', 10_000), true);
        assert.equal(await state.releaseLease(first, 'two'), false);
      });

      test('20 owners racing for a free lease: exactly one gets it', async () => {
        const [a, b] = await pair();
        const lease = name('race');
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? a : b).acquireLease(lease, `owner${i}`, 10_000),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.equal(await b.acquireLease(lease, `owner${winner}`, 10_000), true);
        assert.equal(await a.acquireLease(lease, `owner${(winner + 1) % 20}`, 10_000), false);
      });

      test('invalid ttl, name or owner are rejected as caller bugs', async () => {
        const state = await fresh();
        const invalid = rejectsWith('ERR_STATE_INVALID_ARGUMENT');
        for (const ttl of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(state.acquireLease(name('bad'), 'one', ttl), invalid);
        }
        const long = 'k'.repeat(1025);
        await assert.rejects(state.acquireLease(long, 'one', TTL), invalid);
        await assert.rejects(state.acquireLease(name('bad'), long, TTL), invalid);
        await assert.rejects(state.releaseLease(long, 'one'), invalid);
        await assert.rejects(state.releaseLease(name('bad'), long), invalid);
        const notAString = 42 as unknown as string;
        await assert.rejects(state.acquireLease(notAString, 'one', TTL), invalid);
        await assert.rejects(state.releaseLease(name('bad'), notAString), invalid);
        assert.equal(await state.acquireLease(name('max').padEnd(1024, 'k'), 'o'.repeat(1024), TTL), true);
      });
    });

    describe('get / set / del', () => {
      test('get of a missing key is null', async () => {
        const state = await fresh();
        assert.equal(await state.get(name('missing')), null);
      });

      test('set then get returns the value; set overwrites; del removes', async () => {
        const state = await fresh();
        const key = name('kv');
        await state.set(key, 'one');
        assert.equal(await state.get(key), 'one');
        await state.set(key, 'two');
        assert.equal(await state.get(key), 'two');
        await state.del(key);
        assert.equal(await state.get(key), null);
        await state.del(key); // deleting a missing key is not an error
      });

      test('values round-trip unchanged (empty, unicode, JSON)', async () => {
        const state = await fresh();
        for (const value of ['', 'ünïcødé ✓ 🚪', '{"a":[1,2]}', ' padded ']) {
          const key = name('value');
          await state.set(key, value);
          assert.equal(await state.get(key), value);
        }
      });

      test('a key with a ttl is visible until it expires, then gone', async () => {
        const state = await fresh();
        const key = name('ttl');
        await state.set(key, 'v', TTL);
        assert.equal(await state.get(key), 'v');
        await advance(EXPIRED);
        assert.equal(await state.get(key), null);
      });

      test('a set without ttl clears a previous expiry (Redis SET semantics)', async () => {
        const state = await fresh();
        const key = name('persist');
        await state.set(key, 'short', TTL);
        await state.set(key, 'kept');
        await advance(EXPIRED);
        assert.equal(await state.get(key), 'kept');
      });

      test('invalid ttl, increment or oversized key are rejected as caller bugs', async () => {
        const state = await fresh();
        for (const ttl of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(state.set(name('bad'), 'v', ttl), rejectsWith('ERR_STATE_INVALID_ARGUMENT'));
          await assert.rejects(
            state.setIfAbsent(name('bad'), 'v', ttl),
            rejectsWith('ERR_STATE_INVALID_ARGUMENT'),
          );
          await assert.rejects(state.incr(name('bad'), 1, ttl), rejectsWith('ERR_STATE_INVALID_ARGUMENT'));
        }
        await assert.rejects(state.incr(name('bad'), 0.5, TTL), rejectsWith('ERR_STATE_INVALID_ARGUMENT'));
        await assert.rejects(state.get('k'.repeat(1025)), rejectsWith('ERR_STATE_INVALID_ARGUMENT'));
        assert.equal(await state.get('k'.repeat(1024)), null);
      });
    });

    describe('setIfAbsent', () => {
      test('only the first call for a key succeeds and its value stays', async () => {
        const state = await fresh();
        const key = name('nonce');
        assert.equal(await state.setIfAbsent(key, 'first', 10_000), true);
        assert.equal(await state.setIfAbsent(key, 'second', 10_000), false);
        assert.equal(await state.get(key), 'first');
      });

      test('50 concurrent calls on one key: exactly one wins', async () => {
        const [a, b] = await pair();
        const key = name('race');
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).setIfAbsent(key, `v${i}`, 10_000)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.equal(await a.get(key), `v${winner}`);
      });

      test('an expired key counts as absent', async () => {
        const state = await fresh();
        const key = name('nonce');
        assert.equal(await state.setIfAbsent(key, 'first', TTL), true);
        await advance(EXPIRED);
        assert.equal(await state.setIfAbsent(key, 'again', TTL), true);
        assert.equal(await state.get(key), 'again');
      });
    });

    describe('incr', () => {
      test('starts from 0 when absent, adds, accepts negative increments', async () => {
        const state = await fresh();
        const key = name('counter');
        assert.equal(await state.incr(key, 1, 10_000), 1);
        assert.equal(await state.incr(key, 5, 10_000), 6);
        assert.equal(await state.incr(key, -10, 10_000), -4);
        assert.equal(await state.get(key), '-4');
        assert.equal(await state.incr(name('counter'), -3, 10_000), -3);
      });

      test('the ttl is set on creation and not extended by later increments', async () => {
        const state = await fresh();
        const key = name('window');
        const ttl = 300;
        assert.equal(await state.incr(key, 1, ttl), 1);
        await advance(200);
        assert.equal(await state.incr(key, 1, ttl), 2);
        // 400 ms after creation: expired if the ttl was kept (300), alive if it was re-armed (500).
        await advance(200);
        assert.equal(await state.get(key), null);
        assert.equal(await state.incr(key, 1, ttl), 1, 'an expired counter starts again');
      });

      test('a counter written with set keeps having no expiry', async () => {
        const state = await fresh();
        const key = name('plain');
        await state.set(key, '10');
        assert.equal(await state.incr(key, 1, TTL), 11);
        await advance(EXPIRED);
        assert.equal(await state.get(key), '11');
      });

      test('100 concurrent increments count 100', async () => {
        const [a, b] = await pair();
        const key = name('busy');
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).incr(key, 1, 10_000)),
        );
        assert.deepEqual(
          [...results].sort((x, y) => x - y),
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        assert.equal(await a.get(key), '100');
      });

      test('a non-integer stored value rejects and is left unchanged', async () => {
        const state = await fresh();
        for (const value of ['abc', '1.5', '01', '-0', ' 1', '+1', '', '1e3']) {
          const key = name('text');
          await state.set(key, value);
          await assert.rejects(
            state.incr(key, 1, TTL),
            rejectsWith('ERR_STATE_NOT_INTEGER'),
            `value ${JSON.stringify(value)}`,
          );
          assert.equal(await state.get(key), value);
        }
      });
    });

    describe('publish / subscribe', () => {
      test('every subscriber of the channel receives each message, in order', async () => {
        const [a, b] = await pair();
        const channel = name('events');
        const one = new Inbox();
        const two = new Inbox();
        await a.subscribe(channel, one.handler);
        await b.subscribe(channel, two.handler);
        for (const message of ['m1', 'm2', 'm3']) await b.publish(channel, message);
        assert.deepEqual(await one.waitFor(3), ['m1', 'm2', 'm3']);
        assert.deepEqual(await two.waitFor(3), ['m1', 'm2', 'm3']);
      });

      test('publishing to a channel nobody listens on is fine', async () => {
        const state = await fresh();
        await state.publish(name('void'), 'x');
      });

      test('unsubscribe stops delivery to that handler only; the channel can be joined again', async () => {
        const [a, b] = await pair();
        const channel = name('events');
        const leaving = new Inbox();
        const staying = new Inbox();
        const unsubscribe = await a.subscribe(channel, leaving.handler);
        await a.subscribe(channel, staying.handler);
        await b.publish(channel, 'before');
        await leaving.waitFor(1);
        await staying.waitFor(1);

        await unsubscribe();
        await unsubscribe(); // idempotent
        await b.publish(channel, 'after');
        // Both handlers share a connection and a dispatch, so once the staying handler has
        // 'after', the leaving one would have it too had it not been removed.
        assert.deepEqual(await staying.waitFor(2), ['before', 'after']);
        assert.deepEqual(leaving.messages, ['before']);
      });

      test('after the last handler leaves, a new subscription on the channel still works', async () => {
        const [a, b] = await pair();
        const channel = name('events');
        const first = new Inbox();
        const unsubscribe = await a.subscribe(channel, first.handler);
        await unsubscribe();
        const second = new Inbox();
        await a.subscribe(channel, second.handler);
        await b.publish(channel, 'hello');
        assert.deepEqual(await second.waitFor(1), ['hello']);
        assert.deepEqual(first.messages, []);
      });

      test('channels are isolated from each other', async () => {
        const [a, b] = await pair();
        const red = name('red');
        const blue = name('blue');
        const redInbox = new Inbox();
        const blueInbox = new Inbox();
        await a.subscribe(red, redInbox.handler);
        await a.subscribe(blue, blueInbox.handler);
        await b.publish(red, 'r1');
        await b.publish(blue, 'b1');
        await b.publish(red, 'r2');
        assert.deepEqual(await redInbox.waitFor(2), ['r1', 'r2']);
        assert.deepEqual(await blueInbox.waitFor(1), ['b1']);
        assert.deepEqual(blueInbox.messages, ['b1']);
      });

      test('a throwing handler does not stop delivery to the others', async () => {
        const [a, b] = await pair();
        const channel = name('events');
        const good = new Inbox();
        await a.subscribe(channel, () => {
          throw new Error('broken subscriber');
        });
        await a.subscribe(channel, good.handler);
        await b.publish(channel, 'one');
        await b.publish(channel, 'two');
        assert.deepEqual(await good.waitFor(2), ['one', 'two']);
      });
    });

    describe('sharing', () => {
      test('two instances see each other’s writes and messages exactly when the state is shared', async () => {
        const a = await fresh();
        const b = await fresh();
        const key = name('shared');
        const channel = name('shared-events');
        await a.set(key, 'from-a');
        const inbox = new Inbox();
        await b.subscribe(channel, inbox.handler);
        await a.publish(channel, 'hello-b');
        if (a.shared) {
          assert.equal(await b.get(key), 'from-a');
          assert.equal(await b.incr(name('shared-counter'), 1, 10_000), 1);
          assert.deepEqual(await inbox.waitFor(1), ['hello-b']);
        } else {
          assert.equal(await b.get(key), null);
          await a.publish(channel, 'again');
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.deepEqual(inbox.messages, []);
        }
      });
    });

    describe('health and close', () => {
      test('health reports ok with the backend kind', async () => {
        const state = await fresh();
        const health = await state.health();
        assert.equal(health.ok, true, health.error);
        assert.equal(health.kind, state.kind);
      });

      test('after close, operations reject with ERR_STATE_CLOSED and health reports not ok', async () => {
        const state = await fresh();
        const inbox = new Inbox();
        await state.subscribe(name('events'), inbox.handler);
        await state.close();
        await state.close(); // idempotent
        const closed = rejectsWith('ERR_STATE_CLOSED');
        await assert.rejects(state.get('k'), closed);
        await assert.rejects(state.set('k', 'v'), closed);
        await assert.rejects(state.del('k'), closed);
        await assert.rejects(state.setIfAbsent('k', 'v', TTL), closed);
        await assert.rejects(state.incr('k', 1, TTL), closed);
        await assert.rejects(state.acquireLease('l', 'me', TTL), closed);
        await assert.rejects(state.releaseLease('l', 'me'), closed);
        await assert.rejects(state.heartbeat('g', 'me', TTL, 'i'), closed);
        await assert.rejects(state.members('g', TTL), closed);
        await assert.rejects(state.leave('g', 'me'), closed);
        await assert.rejects(state.publish('c', 'm'), closed);
        await assert.rejects(
          state.subscribe('c', () => {}),
          closed,
        );
        const health = await state.health();
        assert.equal(health.ok, false);
        assert.equal(health.error, 'closed');
      });
    });
  });
}
