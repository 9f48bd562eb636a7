/**
 * The memory backend stays bounded whatever the number of distinct identities (PRODUCT §7:
 * "bounded memory whatever the number of distinct keys"). Measures the heap after a forced
 * GC; the figure is recorded in src/limits/README.md. The bound asserted is generous (3×
 * what was measured) so the test catches unboundedness, not allocator noise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../../src/core/clock.js';
import { compileLimit } from '../../src/limits/compile.js';
import { MemoryLimiter } from '../../src/limits/memory.js';

/** `gc` without --expose-gc on the command line: set the flag, then take it from a fresh context. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const MiB = 1024 * 1024;
/** Measured ~52 MiB (~275 B per entry) for 200 000 entries (see README); three times that fails only if unbounded. */
const HEAP_BOUND_BYTES = 150 * MiB;

test('1 000 000 distinct identities through MemoryLimiter (maxEntries 200 000) stay under the heap bound', async () => {
  const gc = collector();
  const clock = new ManualClock();
  const limiter = new MemoryLimiter({ clock, maxEntries: 200_000 });
  const limits = [
    compileLimit({
      policyId: 'pol_flood_tb',
      algorithm: 'token_bucket',
      limit: 10,
      rate: { count: 10, perMs: 1_000 },
    }),
    compileLimit({ policyId: 'pol_flood_sw', algorithm: 'sliding_window', limit: 10, windowMs: 60_000 }),
  ];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000_000; i++) {
    // Realistic identities (an IPv6 /64 or a key id), each new, alternating algorithms.
    limiter.checkAllSync([{ limit: limits[i % 2]!, identity: `ip:2001:db8:${i.toString(16)}::/64` }]);
    if (i % 1000 === 0) clock.advance(1);
  }
  gc();
  const heldBytes = process.memoryUsage().heapUsed - before;
  assert.equal(limiter.size, 200_000);
  // Token-bucket entries expire within 100 ms of their last use; dropping those is not an eviction.
  assert.ok(limiter.evictions >= 400_000, `evictions ${limiter.evictions}`);
  process.stdout.write(
    `# memory bound: ${limiter.size} entries hold ${(heldBytes / MiB).toFixed(1)} MiB ` +
      `(${Math.round(heldBytes / limiter.size)} B/entry) after 1 000 000 identities\n`,
  );
  assert.ok(heldBytes < HEAP_BOUND_BYTES, `held ${(heldBytes / MiB).toFixed(1)} MiB`);
  await limiter.close();
});
