import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BURST_MULTIPLIERS, runEvaluation, SCENARIOS, TARGET_MULTIPLIER } from '../../bench/anomaly-eval.js';

// The evaluation harness (npm run eval:anomaly) on a small seeded dataset: 200 identities,
// one warm-up day and one scored day, 180 incidents (20 per burst multiplier and per other
// scenario). It runs in about a second; no timing is asserted.
describe('anomaly detector evaluation (small seeded dataset)', () => {
  const result = runEvaluation({ seed: 1, identities: 200, days: 2, incidents: 180 });

  it('injects every scenario and scores normal traffic', () => {
    for (const scenario of SCENARIOS) {
      const row = result.signals.find((s) => s.scenario === scenario);
      assert.ok(row !== undefined && row.incidents > 0, `no ${scenario} incidents`);
    }
    for (const multiplier of BURST_MULTIPLIERS.filter((m) => m >= TARGET_MULTIPLIER)) {
      const row = result.bursts.find((b) => b.multiplier === multiplier);
      assert.ok(row !== undefined && row.incidents > 0, `no judged ${multiplier}× bursts`);
    }
    assert.ok(result.falsePositives.normalIdentityIntervals > 200 * 1000);
  });

  it('detects every burst of 5× or more within two intervals', () => {
    const missed = result.missedBursts.map(
      (i) => `${i.identity} ${i.multiplier}× at ${i.start.toFixed(2)} (detected: ${i.detectedBucket})`,
    );
    assert.deepEqual(missed, []);
    assert.ok(result.targets.burstRecall.pass);
  });

  it('keeps false positives at or below 1% of normal identity-intervals', () => {
    assert.ok(
      result.targets.falsePositiveRate.pass,
      `false-positive rate ${result.falsePositives.rate} (${JSON.stringify(result.falsePositives.bySignal)})`,
    );
  });

  it('is reproducible from its seed', () => {
    const a = runEvaluation({ seed: 7, identities: 40, days: 2, incidents: 20 });
    const b = runEvaluation({ seed: 7, identities: 40, days: 2, incidents: 20 });
    assert.deepEqual({ ...a, elapsedMs: 0 }, { ...b, elapsedMs: 0 });
  });
});
