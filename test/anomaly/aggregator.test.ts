import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { AnomalyAggregator, chunkKeys, MAX_IPS_PER_KEY, readBucket } from '../../src/anomaly/aggregator.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { MemoryState } from '../../src/state/memory.js';

const logger = pino({ level: 'silent' });
const INTERVAL = 60_000;

function outcome(ip: string, keyId?: string, status = 200, code?: string): Outcome {
  const principal = keyId
    ? { kind: 'api_key', keyId, clientId: 'acme', userId: 'u1', scopes: [] }
    : undefined;
  return {
    facts: { clientIp: ip },
    decision: status < 400 ? { kind: 'allow', principal } : { kind: 'deny', status, code, principal },
    status,
    upstreamMs: 1,
    totalMs: 1,
    bytesOut: 0,
    upstreamError: undefined,
  } as unknown as Outcome;
}

describe('anomaly aggregator', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 25, 12, 0, 0));
  const bucket = Math.floor(clock.now() / INTERVAL);

  it("counts per identity and sums every instance's chunks without double counting", async () => {
    const state = new MemoryState({ clock });
    const a = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL, shared: true });
    const b = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL, shared: true });
    for (let i = 0; i < 10; i++) a.observe(outcome('198.51.100.1', 'key_a'));
    a.observe(outcome('198.51.100.2', 'key_a', 429, 'rate_limited'));
    a.observe(outcome('198.51.100.3', undefined, 401, 'invalid_credentials'));
    await a.flush();
    for (let i = 0; i < 5; i++) b.observe(outcome('2001:db8:1:2::7', 'key_a', 502, 'upstream_unavailable'));
    b.observe(outcome('2001:db8:1:2:ffff::1', 'key_a'));
    await b.flush();
    await a.flush(); // nothing new: writes nothing
    const { counts, chunks } = await readBucket(state, INTERVAL, bucket);
    assert.equal(chunks, 2);
    assert.deepEqual(counts.get('k:key_a'), { requests: 17, authFailures: 0, errors: 5, limited: 1, ips: 3 });
    assert.deepEqual(counts.get('c:acme'), { requests: 17, authFailures: 0, errors: 5, limited: 1, ips: 0 });
    assert.equal(counts.get('u:u1')?.requests, 17);
    assert.deepEqual(counts.get('i:198.51.100.3'), {
      requests: 1,
      authFailures: 1,
      errors: 0,
      limited: 0,
      ips: 0,
    });
    assert.equal(
      counts.get('i:2001:db8:1:2::/64')?.requests,
      6,
      'IPv6 counted per /64, in canonical CIDR form',
    );
    await state.close();
  });

  it('counts by the interval a request was answered in', async () => {
    const state = new MemoryState({ clock });
    const agg = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL, shared: true });
    agg.observe(outcome('198.51.100.1', 'key_a'));
    clock.advance(INTERVAL);
    agg.observe(outcome('198.51.100.1', 'key_a'));
    agg.observe(outcome('198.51.100.1', 'key_a'));
    await agg.flush();
    assert.equal((await readBucket(state, INTERVAL, bucket)).counts.get('k:key_a')?.requests, 1);
    assert.equal((await readBucket(state, INTERVAL, bucket + 1)).counts.get('k:key_a')?.requests, 2);
    clock.advance(-INTERVAL);
    await state.close();
  });

  it('is bounded per interval, not per flush, and a flood of addresses never crowds out keys', async () => {
    const state = new MemoryState({ clock });
    const agg = new AnomalyAggregator({
      state,
      clock,
      logger,
      intervalMs: INTERVAL,
      maxAddresses: 100,
      maxIdentities: 50,
      shared: true,
    });
    for (let flush = 0; flush < 5; flush++) {
      for (let i = 0; i < 1_000; i++) agg.observe(outcome(`2001:db8:${flush}:${i.toString(16)}::1`));
      await agg.flush();
    }
    for (let i = 0; i < 10; i++) agg.observe(outcome('2001:db8:ffff::1', `key_${i}`));
    await agg.flush();
    const { counts } = await readBucket(state, INTERVAL, bucket);
    const addresses = [...counts.keys()].filter((id) => id.startsWith('i:'));
    assert.equal(addresses.length, 100, 'five flushes, still 100 addresses in the interval');
    assert.equal([...counts.keys()].filter((id) => id.startsWith('k:')).length, 10, 'keys still watched');
    // An address admitted earlier in the interval keeps being counted after the bound is hit.
    agg.observe(outcome('2001:db8:0:0::1'));
    await agg.flush();
    const again = (await readBucket(state, INTERVAL, bucket)).counts;
    assert.equal(again.get('i:2001:db8::/64')?.requests, 2);

    for (let i = 0; i < 2 * MAX_IPS_PER_KEY; i++) agg.observe(outcome(`10.1.${i >> 8}.${i & 255}`, 'key_1'));
    await agg.flush();
    const ips = (await readBucket(state, INTERVAL, bucket)).counts.get('k:key_1')?.ips ?? 0;
    assert.ok(ips > 0 && ips <= MAX_IPS_PER_KEY + 1, `ips ${ips}`);
    await state.close();
  });

  it('with in-memory state the counts stay in this process and never enter the state', async () => {
    const state = new MemoryState({ clock });
    const agg = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL });
    for (let i = 0; i < 7; i++) agg.observe(outcome('198.51.100.1', 'key_local'));
    await agg.flush();
    agg.observe(outcome('198.51.100.2', 'key_local'));
    await agg.flush();
    assert.equal(state.size, 0);
    const { counts } = await agg.read(bucket);
    assert.deepEqual(counts.get('k:key_local'), {
      requests: 8,
      authFailures: 0,
      errors: 0,
      limited: 0,
      ips: 2,
    });
    await state.close();
  });

  it('skips chunks it cannot read, and a dead state loses counts, never requests', async () => {
    const state = new MemoryState({ clock });
    const keys = chunkKeys(INTERVAL, bucket + 5);
    await state.set(keys.slots, '2');
    await state.set(keys.chunk(1), '{"v":1,"c":{"k:x":[1,0,0,"a"]},"p":{}}');
    await state.set(keys.chunk(2), 'not json');
    const read = await readBucket(state, INTERVAL, bucket + 5);
    assert.equal(read.unreadable, 2);
    assert.equal(read.counts.size, 0);

    await state.close(); // every call now rejects
    const agg = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL, shared: true });
    agg.observe(outcome('198.51.100.1', 'key_a'));
    await agg.flush();
    assert.equal(agg.lost, 0, 'kept for the next flush');
    await agg.stop();
    assert.equal(agg.lost, 1, 'given up at shutdown');
  });

  /** Memory state whose next `incr` or `set` calls fail, as a Redis timing out would. */
  class FlakyState extends MemoryState {
    failIncr = 0;
    failSet = 0;
    /** Make the failed set land anyway (a timeout after Redis applied the command). */
    landFailedSet = false;
    override async incr(key: string, by: number, ttlMs: number): Promise<number> {
      if (this.failIncr > 0) {
        this.failIncr--;
        throw new Error('Command timed out');
      }
      return super.incr(key, by, ttlMs);
    }
    override async set(key: string, value: string, ttlMs?: number): Promise<void> {
      if (this.failSet > 0) {
        this.failSet--;
        if (this.landFailedSet) await super.set(key, value, ttlMs);
        throw new Error('Command timed out');
      }
      return super.set(key, value, ttlMs);
    }
  }

  for (const failure of ['incr', 'set', 'set that landed'] as const)
    it(`writes counts again at the next flush after a failed ${failure}, counted once`, async () => {
      const state = new FlakyState({ clock });
      const agg = new AnomalyAggregator({ state, clock, logger, intervalMs: INTERVAL, shared: true });
      const at = Math.floor(clock.now() / INTERVAL);
      for (let i = 0; i < 3; i++) agg.observe(outcome('198.51.100.1', 'key_r'));
      if (failure === 'incr') state.failIncr = 1;
      else state.failSet = 1;
      state.landFailedSet = failure === 'set that landed';
      await agg.flush();
      for (let i = 0; i < 2; i++) agg.observe(outcome('198.51.100.2', 'key_r'));
      await agg.flush();
      const read = await readBucket(state, INTERVAL, at);
      assert.equal(read.counts.get('k:key_r')?.requests, 5);
      assert.equal(read.counts.get('k:key_r')?.ips, 2);
      assert.equal(read.chunks, 1, 'the slot taken before the failure is reused');
      assert.equal(read.unreadable, 0);
      assert.equal(agg.lost, 0);
      await state.close();
    });

  it('gives up on counts whose interval is past judging, and says so in `lost`', async () => {
    const local = new ManualClock(clock.now());
    const state = new FlakyState({ clock: local });
    const agg = new AnomalyAggregator({ state, clock: local, logger, intervalMs: INTERVAL, shared: true });
    const at = Math.floor(local.now() / INTERVAL);
    agg.observe(outcome('198.51.100.1', 'key_old'));
    state.failIncr = 1;
    await agg.flush();
    local.advance(2 * INTERVAL);
    await agg.flush();
    assert.equal(agg.lost, 1);
    assert.equal((await readBucket(state, INTERVAL, at)).counts.size, 0, 'not written late');
    await state.close();
  });
});
