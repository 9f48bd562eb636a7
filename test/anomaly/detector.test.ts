import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Baselines, DEFAULT_PARAMS, evaluate, SERIES_LENGTH } from '../../src/anomaly/detector.js';
import { type BucketCounts, type Counts, classify } from '../../src/anomaly/signals.js';

const MINUTE = 60_000;
const counts = (c: Partial<Counts>): Counts => ({
  requests: 0,
  authFailures: 0,
  errors: 0,
  limited: 0,
  ips: 0,
  ...c,
});
const bucketOf = (entries: Array<[string, Partial<Counts>]>): BucketCounts =>
  new Map(entries.map(([id, c]) => [id, counts(c)]));

/** Learn `n` intervals of the same counts for one identity, from bucket `from`. */
function learn(baselines: Baselines, id: string, c: Partial<Counts>, n: number, from = 0): number {
  for (let b = from; b < from + n; b++) evaluate(b, MINUTE, bucketOf([[id, c]]), baselines);
  return from + n;
}

describe('anomaly detector', () => {
  it('classifies answers the way the docs say', () => {
    // The gateway's own refusals (second argument: its code).
    assert.equal(classify(401, 'invalid_credentials'), 'auth');
    assert.equal(classify(401, 'missing_credentials'), 'ok');
    assert.equal(classify(429, 'rate_limited'), 'limited');
    assert.equal(classify(429, 'quota_exceeded'), 'limited');
    assert.equal(classify(403, 'blocked'), 'ok', 'refusals by policy are not errors');
    assert.equal(classify(404, 'no_route'), 'error');
    assert.equal(classify(413, 'payload_too_large'), 'error');
    assert.equal(classify(503, 'failsafe_closed'), 'error');
    // What the upstream answered: never an auth failure or a rate-limit refusal of ours.
    assert.equal(classify(200, undefined), 'ok');
    assert.equal(classify(401, undefined), 'error', 'an upstream 401 is not a wrong API key');
    assert.equal(classify(403, undefined), 'error');
    assert.equal(classify(429, undefined), 'error');
    assert.equal(classify(502, undefined), 'error');
  });

  it('an identity that is not always on (an hourly job) is judged by its active intervals', () => {
    const baselines = new Baselines();
    let found = 0;
    for (let b = 0; b < 60 * 24; b++) {
      const requests = b % 60 === 0 ? 500 : 0;
      if (requests === 0) continue; // silent intervals: the identity is simply absent
      found += evaluate(b, MINUTE, bucketOf([['k:job', { requests }]]), baselines).length;
    }
    assert.ok(found <= 1, `the hourly job was reported ${found} times`);
    const [burst] = evaluate(60 * 24, MINUTE, bucketOf([['k:job', { requests: 5_000 }]]), baselines);
    assert.equal(burst?.signal, 'burst', 'ten times its usual run is still a burst');
  });

  it('learns a steady identity and finds nothing in its normal noise', () => {
    const baselines = new Baselines();
    let found = 0;
    for (let b = 0; b < 200; b++) {
      const requests = 100 + Math.round(15 * Math.sin(b)); // ±15%
      found += evaluate(b, MINUTE, bucketOf([['k:key_a', { requests, ips: 2 }]]), baselines).length;
    }
    assert.equal(found, 0);
  });

  it('finds a 5× burst against the own baseline and explains it', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'k:key_a', { requests: 100, ips: 2 }, 30);
    const [finding, ...rest] = evaluate(
      next,
      MINUTE,
      bucketOf([['k:key_a', { requests: 500, ips: 2 }]]),
      baselines,
    );
    assert.equal(rest.length, 0);
    assert.equal(finding?.signal, 'burst');
    assert.equal(finding?.kind, 'key');
    assert.equal(finding?.value, 'key_a');
    assert.equal(finding?.observed, 500);
    assert.equal(finding?.expected, 100);
    assert.ok((finding?.score ?? 0) > 20);
    assert.equal(finding?.evidence.history, 'own');
    assert.equal(finding?.evidence.series.at(-1), 500);
    assert.equal(finding?.explanation, 'key key_a made 500 requests in 60 s, 5× its usual 100 (±10)');
  });

  it('a burst does not become the new normal (learned clipped)', () => {
    const baselines = new Baselines();
    let b = learn(baselines, 'k:key_a', { requests: 100 }, 30);
    for (let i = 0; i < 3; i++)
      evaluate(b++, MINUTE, bucketOf([['k:key_a', { requests: 5_000 }]]), baselines);
    const mean = baselines.tracks.get('k:key_a')?.mean[0] ?? 0;
    assert.ok(mean < 200, `mean after three bursts: ${mean}`);
    const again = evaluate(b, MINUTE, bucketOf([['k:key_a', { requests: 5_000 }]]), baselines);
    assert.equal(again[0]?.signal, 'burst', 'still a burst on the fourth interval');
  });

  it('judges new identities against the global floor, not their short past', () => {
    const baselines = new Baselines();
    const floor = DEFAULT_PARAMS.burst.newIdentityFloor * DEFAULT_PARAMS.burst.ratio;
    assert.equal(evaluate(0, MINUTE, bucketOf([['k:new', { requests: floor - 1 }]]), baselines).length, 0);
    const [finding] = evaluate(1, MINUTE, bucketOf([['k:other', { requests: floor * 2 }]]), baselines);
    assert.equal(finding?.signal, 'burst');
    assert.equal(finding?.evidence.history, 'floor');
    assert.match(finding?.explanation ?? '', /for identities without history/);
  });

  it('small counts never alarm, whatever the ratio', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'k:tiny', { requests: 1 }, 30);
    assert.equal(evaluate(next, MINUTE, bucketOf([['k:tiny', { requests: 40 }]]), baselines).length, 0);
  });

  it('credential stuffing from one address', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'i:203.0.113.9', { requests: 50, authFailures: 1 }, 30);
    const findings = evaluate(
      next,
      MINUTE,
      bucketOf([['i:203.0.113.9', { requests: 400, authFailures: 350 }]]),
      baselines,
    );
    assert.deepEqual(findings.map((f) => f.signal).sort(), ['auth_failures', 'burst']);
    assert.match(
      findings.find((f) => f.signal === 'auth_failures')?.explanation ?? '',
      /address 203\.0\.113\.9 failed authentication 350 times in 60 s.*credential stuffing/,
    );
  });

  it('auth failures are read for addresses only; key sharing for keys only', () => {
    const baselines = new Baselines();
    const findings = evaluate(
      0,
      MINUTE,
      bucketOf([
        ['c:acme', { requests: 50, authFailures: 300, ips: 100 }],
        ['i:198.51.100.1', { requests: 50, ips: 100 }],
      ]),
      baselines,
    );
    assert.deepEqual(findings, []);
  });

  it('key sharing: a key suddenly used from many addresses', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'k:key_s', { requests: 200, ips: 2 }, 30);
    const [finding] = evaluate(next, MINUTE, bucketOf([['k:key_s', { requests: 220, ips: 60 }]]), baselines);
    assert.equal(finding?.signal, 'key_sharing');
    assert.match(finding?.explanation ?? '', /used from 60 addresses in 60 s.*shared or stolen/);
  });

  it('error storms: the ratio against the usual ratio, with enough requests and errors', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'k:key_e', { requests: 100, errors: 2 }, 30);
    const [finding] = evaluate(
      next,
      MINUTE,
      bucketOf([['k:key_e', { requests: 100, errors: 70 }]]),
      baselines,
    );
    assert.equal(finding?.signal, 'error_rate');
    assert.equal(finding?.observed, 0.7);
    assert.equal(finding?.expected, 0.02);
    assert.match(
      finding?.explanation ?? '',
      /^70% of key key_e's 100 requests in 60 s failed \(usually 2%\)$/,
    );
    // Few requests: no conclusion.
    assert.equal(
      evaluate(next + 1, MINUTE, bucketOf([['k:key_e', { requests: 12, errors: 12 }]]), baselines).length,
      0,
    );
  });

  it('rate-limit refusals piling up', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'c:acme', { requests: 300, limited: 2 }, 30);
    const [finding] = evaluate(
      next,
      MINUTE,
      bucketOf([['c:acme', { requests: 310, limited: 200 }]]),
      baselines,
    );
    assert.equal(finding?.signal, 'rate_limited');
  });

  it('learns silent intervals as zeros when the identity comes back', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'k:key_a', { requests: 100 }, 30);
    const track = baselines.current('k:key_a', next + 20, DEFAULT_PARAMS.alpha);
    assert.ok(
      (track?.mean[0] ?? 0) < 100 * (1 - DEFAULT_PARAMS.alpha) ** 19,
      `decayed mean ${track?.mean[0]}`,
    );
    assert.equal(track?.series.length, SERIES_LENGTH);
    assert.equal(track?.series.at(-1), 0);
  });

  it('partial intervals (run-now) are judged but not learned', () => {
    const baselines = new Baselines();
    const next = learn(baselines, 'k:key_a', { requests: 100 }, 30);
    const before = JSON.stringify(baselines);
    const findings = evaluate(
      next,
      MINUTE,
      bucketOf([['k:key_a', { requests: 900 }]]),
      baselines,
      DEFAULT_PARAMS,
      { learn: false },
    );
    assert.equal(findings.length, 1);
    assert.equal(JSON.stringify(baselines), before);
  });

  it('stays bounded: the longest silent identity is forgotten first', () => {
    const baselines = new Baselines(3);
    for (const [b, id] of ['k:a', 'k:b', 'k:c', 'k:a', 'k:d'].entries())
      evaluate(b, MINUTE, bucketOf([[id, { requests: 10 }]]), baselines);
    assert.deepEqual([...baselines.tracks.keys()].sort(), ['k:a', 'k:c', 'k:d']);
  });

  it('round-trips through JSON for the next leader, dropping malformed entries', () => {
    const baselines = new Baselines();
    learn(baselines, 'k:key_a', { requests: 100 }, 10);
    const copy = Baselines.fromJSON(JSON.parse(JSON.stringify(baselines)));
    assert.deepEqual(copy.tracks.get('k:key_a'), baselines.tracks.get('k:key_a'));
    const broken = Baselines.fromJSON([
      ['k:x', { last: 1, n: 1, mean: [1, 2], variance: [0, 0, 0, 0, 0], series: [] }],
      ['k:y', { last: 'x', n: 1, mean: [0, 0, 0, 0, 0], variance: [0, 0, 0, 0, 0], series: [] }],
      'junk',
      null,
    ]);
    assert.equal(broken.size, 0);
    assert.equal(Baselines.fromJSON({ not: 'an array' }).size, 0);
  });

  it('clone() is a deep copy with the same bound: judging on it teaches the original nothing', () => {
    const baselines = new Baselines(2);
    learn(baselines, 'k:key_a', { requests: 100 }, 10);
    learn(baselines, 'k:key_b', { requests: 50 }, 10);
    const before = JSON.stringify(baselines);
    const copy = baselines.clone();
    assert.deepEqual(JSON.parse(JSON.stringify(copy)), JSON.parse(before));
    learn(copy, 'k:key_a', { requests: 900 }, 3, 10);
    learn(copy, 'k:key_c', { requests: 5 }, 1, 13);
    assert.equal(JSON.stringify(baselines), before, 'the original is untouched');
    assert.equal(copy.size, 2, 'the copy keeps the bound');
    assert.ok(copy.tracks.has('k:key_c'));
  });
});
