import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import { Blocklist } from '../../src/ip-controls/blocklist.js';
import { addBlock } from '../../src/ip-controls/operations.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';

describe('blocklist snapshot', () => {
  const clock = new ManualClock();
  const logger = pino({ level: 'silent' });
  let store: Store;
  let blocklist: Blocklist;

  before(async () => {
    store = await openStore({ url: 'sqlite::memory:', clock });
    await store.migrate();
    blocklist = new Blocklist({ store, clock, logger });
  });
  after(() => store.close());

  it('matches addresses, networks of both families and identities; nothing else', async () => {
    const now = clock.now();
    await addBlock(store, { kind: 'ip', value: '192.0.2.9', reason: 'scanner' }, now);
    await addBlock(store, { kind: 'ip', value: '198.51.100.0/24', reason: 'bad net' }, now);
    await addBlock(store, { kind: 'ip', value: '2001:db8:bad::/48', reason: 'bad v6 net' }, now);
    await addBlock(store, { kind: 'key', value: 'key_1', reason: 'leaked' }, now);
    await addBlock(store, { kind: 'client', value: 'acme', reason: 'unpaid' }, now);
    await addBlock(store, { kind: 'user', value: 'user|42', reason: 'abuse' }, now);
    await blocklist.refresh();
    assert.equal(blocklist.size, 6);
    assert.equal(blocklist.matchIp('192.0.2.9')?.reason, 'scanner');
    assert.equal(blocklist.matchIp('192.0.2.10'), undefined);
    assert.equal(blocklist.matchIp('198.51.100.200')?.reason, 'bad net');
    assert.equal(blocklist.matchIp('2001:db8:bad:1::5')?.reason, 'bad v6 net');
    assert.equal(blocklist.matchIp('2001:db8:bae::1'), undefined);
    assert.equal(blocklist.match('key', 'key_1')?.reason, 'leaked');
    assert.equal(blocklist.match('client', 'acme')?.reason, 'unpaid');
    assert.equal(blocklist.match('user', 'user|42')?.reason, 'abuse');
    assert.equal(blocklist.match('user', 'acme'), undefined, 'kinds do not mix');
    assert.equal(blocklist.matchIp('not an ip'), undefined);
  });

  it('lifts an entry at its expiry without a reload', async () => {
    const now = clock.now();
    await addBlock(
      store,
      { kind: 'ip', value: '203.0.113.0/25', reason: 'brief', expiresAt: now + 60_000 },
      now,
    );
    await blocklist.refresh();
    assert.ok(blocklist.matchIp('203.0.113.5'));
    clock.advance(60_000);
    assert.equal(blocklist.matchIp('203.0.113.5'), undefined);
  });

  it('refuses bad entries with the field named', async () => {
    const now = clock.now();
    await assert.rejects(addBlock(store, { kind: 'ip', value: '10.0.0.0/40', reason: 'x' }, now), /ip:/);
    await assert.rejects(addBlock(store, { kind: 'key', value: 'Has Space', reason: 'x' }, now), /key:/);
    await assert.rejects(addBlock(store, { kind: 'client', value: 'c', reason: 'a\nb' }, now), /reason:/);
    await assert.rejects(
      addBlock(store, { kind: 'client', value: 'c', reason: 'x', expiresAt: now - 1 }, now),
      /expires: must be in the future/,
    );
  });

  it('keeps the last snapshot when a reload fails', async () => {
    const broken = await openStore({ url: 'sqlite::memory:', clock });
    await broken.migrate();
    const list = new Blocklist({ store: broken, clock, logger });
    await addBlock(broken, { kind: 'ip', value: '192.0.2.1', reason: 'x' }, clock.now());
    await list.refresh();
    await broken.close();
    await assert.rejects(list.refresh(), 'a failed reload is reported, so the watcher retries it');
    assert.ok(list.matchIp('192.0.2.1'), 'still enforced with the database gone');
    const fresh = new Blocklist({ store: broken, clock, logger });
    await assert.rejects(fresh.refresh(), 'the first load must succeed');
  });
});
