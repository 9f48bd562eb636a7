import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import { deriveSecretKeys } from '../../src/core/crypto.js';
import { createClient, createKey } from '../../src/identity/operations.js';
import { KeyUsage } from '../../src/identity/usage.js';
import { MemoryState } from '../../src/state/memory.js';
import { openStore } from '../../src/store/open-store.js';

// A remaining-uses budget must not be granted again when its hot-state counter is lost: the
// in-memory LRU can evict it under load, and a Redis flush wipes it.
describe('remaining-uses budget survives the loss of its counter', () => {
  const logger = pino({ level: 'silent' });

  async function setup() {
    const clock = new ManualClock();
    const store = await openStore({ url: 'sqlite::memory:', clock });
    await store.migrate();
    const ctx = { store, keys: deriveSecretKeys(Buffer.alloc(32, 1)), clock, keyPrefix: 'pcl' };
    await createClient(ctx, { id: 'app', name: 'App' });
    const { record } = await createKey(ctx, { clientId: 'app', environment: 'live', usesBudget: 3 });
    return { store, clock, record };
  }

  it('an evicted counter is re-seeded from what was already used', async () => {
    const { store, clock, record } = await setup();
    const state = new MemoryState({ maxEntries: 10, clock });
    const usage = new KeyUsage({ store, state, clock, logger });
    for (let i = 0; i < 3; i++) assert.equal((await usage.consume(record)).ok, true);
    assert.equal((await usage.consume(record)).ok, false);
    // Push the counter out of the bounded state.
    for (let i = 0; i < 50; i++) await state.set(`filler:${i}`, 'x');
    assert.equal(await state.get(`uses:${record.id}:0`), null, 'the counter was evicted');
    assert.equal((await usage.consume(record)).ok, false, 'the budget is not granted again');
  });

  it('a restart with fresh state continues from the count written to the database', async () => {
    const { store, clock, record } = await setup();
    const first = new KeyUsage({ store, state: new MemoryState({ clock }), clock, logger });
    assert.equal((await first.consume(record)).ok, true);
    assert.equal((await first.consume(record)).ok, true);
    await first.stop();
    const reloaded = await store.apiKeys.get(record.id);
    assert.equal(reloaded?.usesConsumed, 2);
    const second = new KeyUsage({ store, state: new MemoryState({ clock }), clock, logger });
    assert.deepEqual(await second.consume(reloaded!), { ok: true, remaining: 0 });
    assert.equal((await second.consume(reloaded!)).ok, false);
  });

  it('a stale flush never lowers the recorded count', async () => {
    const { store, record } = await setup();
    await store.apiKeys.recordUsage([
      { keyId: record.id, lastUsedAt: 1, usesConsumed: { budgetVersion: 0, value: 3 } },
    ]);
    await store.apiKeys.recordUsage([
      { keyId: record.id, lastUsedAt: 2, usesConsumed: { budgetVersion: 0, value: 1 } },
    ]);
    assert.equal((await store.apiKeys.get(record.id))?.usesConsumed, 3);
  });
});
