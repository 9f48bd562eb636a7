import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { SpecError } from '../../src/core/spec-error.js';
import {
  compilePolicy,
  KEY_BY,
  type PolicySpec,
  PolicySpecSchema,
  parseDurationMs,
  parsePolicySpec,
  parseRate,
} from '../../src/limits/policy.js';

/** The issues of a refused spec, as "path: message" lines. */
function refusals(input: unknown, at?: string): string[] {
  try {
    parsePolicySpec(input, at);
  } catch (error) {
    assert.ok(error instanceof SpecError, String(error));
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

const base = { id: 'p1', key_by: ['key'] };

describe('policy specs: valid specs compile to the right limit', () => {
  test('token bucket: 100/s is 100 per 1000 ms, burst defaults to the rate count', () => {
    const spec = parsePolicySpec({ ...base, algorithm: 'token_bucket', rate: '100/s' });
    assert.deepEqual(spec, {
      id: 'p1',
      algorithm: 'token_bucket',
      rate: '100/s',
      key_by: ['key'],
      on_store_failure: 'local',
      shadow: false,
      refund_on_5xx: false,
    });
    const compiled = compilePolicy(spec);
    assert.deepEqual(compiled.limit.rate, { count: 100, perMs: 1000 });
    assert.equal(compiled.limit.limit, 100, 'burst = rate count');
    assert.equal(compiled.limit.policyId, 'p1');
    assert.equal(compiled.limit.algorithm, 'token_bucket');
    assert.deepEqual([compiled.quota, compiled.windowS], [100, 1]);

    const burst = compilePolicy(
      parsePolicySpec({ ...base, algorithm: 'token_bucket', rate: '100/s', burst: 200 }),
    );
    assert.equal(burst.limit.limit, 200);
    assert.deepEqual([burst.quota, burst.windowS], [200, 2], 'q = burst, w = time to refill it');
  });

  test('rates: every unit and "<count>/<duration>"', () => {
    const cases: Array<[string, { count: number; perMs: number }]> = [
      ['100/s', { count: 100, perMs: 1000 }],
      ['5/m', { count: 5, perMs: 60_000 }],
      ['1000/h', { count: 1000, perMs: 3_600_000 }],
      ['10000/d', { count: 10_000, perMs: 86_400_000 }],
      ['5/10s', { count: 5, perMs: 10_000 }],
      ['1/500ms', { count: 1, perMs: 500 }],
      ['3/2m', { count: 3, perMs: 120_000 }],
    ];
    for (const [text, expected] of cases) {
      assert.deepEqual(parseRate(text), expected, text);
      const compiled = compilePolicy(parsePolicySpec({ ...base, algorithm: 'token_bucket', rate: text }));
      assert.deepEqual(compiled.limit.rate, expected, text);
    }
  });

  test('windows: sliding and fixed, every unit', () => {
    const cases: Array<[string, number]> = [
      ['500ms', 500],
      ['30s', 30_000],
      ['15m', 900_000],
      ['1h', 3_600_000],
      ['1d', 86_400_000],
    ];
    for (const [text, ms] of cases) {
      assert.equal(parseDurationMs(text), ms);
      for (const algorithm of ['sliding_window', 'fixed_window'] as const) {
        const compiled = compilePolicy(parsePolicySpec({ ...base, algorithm, limit: 10, window: text }));
        assert.equal(compiled.limit.algorithm, algorithm);
        assert.equal(compiled.limit.windowMs, ms);
        assert.equal(compiled.limit.limit, 10);
        assert.deepEqual([compiled.quota, compiled.windowS], [10, Math.max(1, ms / 1000)]);
      }
    }
  });

  test('quotas: rolling 24 h, calendar day and month in a validated time zone', () => {
    const rolling = compilePolicy(
      parsePolicySpec({ ...base, algorithm: 'quota', limit: 1000, period: 'rolling_24h' }),
    );
    assert.deepEqual(
      [rolling.limit.period, rolling.limit.windowMs, rolling.limit.timeZone, rolling.windowS],
      ['rolling_24h', 86_400_000, undefined, 86_400],
    );
    const day = parsePolicySpec({
      ...base,
      algorithm: 'quota',
      limit: 1000,
      period: 'day',
      time_zone: 'europe/berlin',
    });
    assert.equal(day.time_zone, 'Europe/Berlin', 'canonical zone name');
    assert.deepEqual(
      [compilePolicy(day).limit.period, compilePolicy(day).limit.timeZone],
      ['day', 'Europe/Berlin'],
    );
    const month = compilePolicy(parsePolicySpec({ ...base, algorithm: 'quota', limit: 5, period: 'month' }));
    assert.deepEqual([month.limit.timeZone, month.windowS], ['UTC', 31 * 86_400]);
  });

  test('concurrency, and the mode fields', () => {
    const spec = parsePolicySpec({
      id: 'cc',
      description: 'in flight per key',
      algorithm: 'concurrency',
      limit: 5,
      key_by: ['ip', 'key'],
      ipv6_prefix: 56,
      attach: ['global', 'route:orders', 'client:mobile-app', 'key:key_AbC123'],
      on_store_failure: 'closed',
      shadow: true,
      refund_on_5xx: false,
    });
    assert.deepEqual(spec.key_by, ['key', 'ip'], 'canonical key order');
    assert.equal('refund_on_5xx' in spec, false, 'nothing to refund for concurrency');
    const compiled = compilePolicy(spec);
    assert.deepEqual(
      { ...compiled.limit },
      { policyId: 'cc', algorithm: 'concurrency', limit: 5, windowMs: 0 },
    );
    assert.deepEqual(compiled.keyBy, ['key', 'ip']);
    assert.equal(compiled.ipv6Prefix, 56);
    assert.equal(compiled.attach.global, true);
    assert.deepEqual([...compiled.attach.routes], ['orders']);
    assert.deepEqual([...compiled.attach.clients], ['mobile-app']);
    assert.deepEqual([...compiled.attach.keys], ['key_AbC123']);
    assert.deepEqual(
      [compiled.onStoreFailure, compiled.shadow, compiled.refundOn5xx, compiled.quota, compiled.windowS],
      ['closed', true, false, 5, 0],
    );
    assert.ok(Object.isFrozen(compiled) && Object.isFrozen(compiled.limit));

    const defaults = compilePolicy(
      parsePolicySpec({ id: 'd', algorithm: 'fixed_window', limit: 1, window: '1s', key_by: ['ip'] }),
    );
    assert.deepEqual(
      [
        defaults.ipv6Prefix,
        defaults.onStoreFailure,
        defaults.shadow,
        defaults.refundOn5xx,
        defaults.attach.global,
      ],
      [64, 'local', false, false, false],
    );
    assert.equal(
      compilePolicy(parsePolicySpec({ ...base, algorithm: 'token_bucket', rate: '1/s', refund_on_5xx: true }))
        .refundOn5xx,
      true,
    );
  });

  test('canonical form is a fixed point, passes the schema, and every key_by value is accepted', () => {
    const specs: PolicySpec[] = [
      parsePolicySpec({
        id: 'a',
        algorithm: 'token_bucket',
        rate: '5/10s',
        burst: 7,
        key_by: ['user', 'key'],
      }),
      parsePolicySpec({
        id: 'b',
        algorithm: 'quota',
        limit: 3,
        period: 'month',
        time_zone: 'America/Santiago',
        key_by: ['global'],
        attach: [],
      }),
      ...KEY_BY.map((k) =>
        parsePolicySpec({ id: `k-${k}`, algorithm: 'concurrency', limit: 1, key_by: [k] }),
      ),
    ];
    for (const spec of specs) {
      assert.deepEqual(parsePolicySpec(JSON.parse(JSON.stringify(spec))), spec);
      assert.ok(
        Value.Check(PolicySpecSchema, spec),
        JSON.stringify([...Value.Errors(PolicySpecSchema, spec)]),
      );
    }
    assert.equal('attach' in (specs[1] as PolicySpec), false, 'an empty attach list is omitted');
  });
});

describe('policy specs: refusals name the field and say why', () => {
  test('not a mapping; unknown fields; id', () => {
    assert.deepEqual(refusals('x'), ['policy: must be a mapping of policy fields']);
    assert.deepEqual(refusals({ ...base, algorithm: 'concurrency', limit: 1, burts: 2 }), [
      'policy.burts: unknown field; a policy has id, description, algorithm, rate, burst, limit, window, period, time_zone, key_by, ipv6_prefix, attach, on_store_failure, shadow, refund_on_5xx',
    ]);
    assert.deepEqual(refusals({ id: 'Bad Id', algorithm: 'concurrency', limit: 1, key_by: ['key'] }), [
      'policy.id: must be 1-64 characters: a-z, 0-9, "_", "." or "-", starting with a letter or digit (got "Bad Id")',
    ]);
    assert.deepEqual(refusals({ algorithm: 'concurrency', limit: 1, key_by: ['key'] }), [
      'policy.id: is required',
    ]);
  });

  test('unknown or missing algorithm', () => {
    assert.deepEqual(refusals({ ...base, algorithm: 'leaky_bucket' }), [
      'policy.algorithm: must be one of token_bucket, sliding_window, fixed_window, quota, concurrency (got "leaky_bucket")',
    ]);
    assert.deepEqual(refusals({ ...base }), [
      'policy.algorithm: is required: one of token_bucket, sliding_window, fixed_window, quota, concurrency',
    ]);
  });

  test('missing rate, limit, window, period', () => {
    assert.deepEqual(refusals({ ...base, algorithm: 'token_bucket' }), [
      'policy.rate: is required for token_bucket',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'fixed_window' }), [
      'policy.limit: is required for fixed_window',
      'policy.window: is required for fixed_window',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'sliding_window', limit: 5 }), [
      'policy.window: is required for sliding_window',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'quota', limit: 5 }), [
      'policy.period: is required for quota',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'concurrency' }), [
      'policy.limit: is required for concurrency',
    ]);
  });

  test('fields of another algorithm are errors', () => {
    assert.deepEqual(refusals({ ...base, algorithm: 'token_bucket', rate: '1/s', window: '60s', limit: 3 }), [
      'policy.limit: does not apply to token_bucket (only to sliding_window, fixed_window, quota, concurrency)',
      'policy.window: does not apply to token_bucket (only to sliding_window, fixed_window)',
    ]);
    assert.deepEqual(
      refusals({
        ...base,
        algorithm: 'fixed_window',
        limit: 3,
        window: '1s',
        rate: '1/s',
        burst: 2,
        period: 'day',
      }),
      [
        'policy.rate: does not apply to fixed_window (only to token_bucket)',
        'policy.burst: does not apply to fixed_window (only to token_bucket)',
        'policy.period: does not apply to fixed_window (only to quota)',
      ],
    );
    assert.deepEqual(
      refusals({ ...base, algorithm: 'quota', limit: 3, period: 'rolling_24h', time_zone: 'Europe/Berlin' }),
      ['policy.time_zone: applies to day and month quotas only (rolling_24h has no calendar)'],
    );
    assert.deepEqual(refusals({ ...base, algorithm: 'concurrency', limit: 3, refund_on_5xx: true }), [
      'policy.refund_on_5xx: does not apply to concurrency (the slot is freed when the response ends)',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'concurrency', limit: 3, ipv6_prefix: 64 }), [
      'policy.ipv6_prefix: applies only when key_by includes ip',
    ]);
  });

  test('bad rate syntax, zero counts, limiter bounds', () => {
    const hint =
      'must be "<count>/<unit>" like 100/s, 5/m, 1000/h, 10000/d, or "<count>/<duration>" like 5/10s';
    const tb = (rate: unknown) => refusals({ ...base, algorithm: 'token_bucket', rate });
    assert.deepEqual(tb('100/x'), [`policy.rate: ${hint} (got "100/x")`]);
    assert.deepEqual(tb('100'), [`policy.rate: ${hint} (got "100")`]);
    assert.deepEqual(tb('100/ms'), [`policy.rate: ${hint} (got "100/ms")`]);
    assert.deepEqual(tb('1.5/s'), [`policy.rate: ${hint} (got "1.5/s")`]);
    assert.deepEqual(tb(100), [`policy.rate: ${hint} (got 100)`]);
    assert.deepEqual(tb('100/0s'), [`policy.rate: ${hint} (got "100/0s")`]);
    assert.deepEqual(tb('0/s'), ['policy.rate: count must be a positive integer (got "0/s")']);
    assert.deepEqual(tb('3000000/s'), ['policy.rate: must be at most 1 000 000 per second']);
    assert.deepEqual(refusals({ ...base, algorithm: 'token_bucket', rate: '1/s', burst: 0 }), [
      'policy.burst: must be a positive integer (got 0)',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'fixed_window', limit: 1.5, window: '1m' }), [
      'policy.limit: must be a positive integer (got 1.5)',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'fixed_window', limit: 1, window: '60' }), [
      'policy.window: must be a duration like 500ms, 30s, 15m, 1h or 1d (got "60")',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'fixed_window', limit: 1, window: '0s' }), [
      'policy.window: must be longer than 0 (got "0s")',
    ]);
    assert.deepEqual(refusals({ ...base, algorithm: 'sliding_window', limit: 1e9, window: '1d' }), [
      'policy.limit: is too large for the window (limit × window in ms must be at most 2^51)',
    ]);
    assert.throws(
      () => parseRate('100/x', '--rate'),
      (e: unknown) => e instanceof SpecError && e.issues[0]?.path === '--rate',
    );
  });

  test('bad key_by', () => {
    const c = (key_by: unknown) => refusals({ id: 'p', algorithm: 'concurrency', limit: 1, key_by });
    assert.deepEqual(c(undefined), [
      'policy.key_by: is required: a list of key, client, user, ip, route, global',
    ]);
    assert.deepEqual(c([]), [
      'policy.key_by: must be a non-empty list of key, client, user, ip, route, global (got [])',
    ]);
    assert.deepEqual(c('key'), [
      'policy.key_by: must be a non-empty list of key, client, user, ip, route, global (got "key")',
    ]);
    assert.deepEqual(c(['key', 'tenant']), [
      'policy.key_by[1]: must be one of key, client, user, ip, route, global (got "tenant")',
    ]);
    assert.deepEqual(c(['key', 'key']), ['policy.key_by[1]: "key" is listed twice']);
    assert.deepEqual(c(['global', 'ip']), [
      'policy.key_by: global cannot be combined with other keys (it is one counter shared by everyone)',
    ]);
  });

  test('bad attach targets', () => {
    const a = (attach: unknown) =>
      refusals({ id: 'p', algorithm: 'concurrency', limit: 1, key_by: ['key'], attach });
    assert.deepEqual(a(['route:']), ['policy.attach[0]: "route:" names no route; write route:<id>']);
    assert.deepEqual(a(['global', 'tenant:x']), [
      'policy.attach[1]: must be global, route:<id>, client:<id> or key:<id> (got "tenant:x")',
    ]);
    assert.deepEqual(a(['orders']), [
      'policy.attach[0]: must be global, route:<id>, client:<id> or key:<id> (got "orders")',
    ]);
    assert.deepEqual(a(['route:Orders!']), ['policy.attach[0]: "Orders!" is not a valid route id']);
    assert.deepEqual(a(['global', 'global']), ['policy.attach[1]: "global" is listed twice']);
    assert.deepEqual(a('global'), [
      'policy.attach: must be a list of global, route:<id>, client:<id> or key:<id> (got "global")',
    ]);
  });

  test('unknown time zone, ipv6_prefix out of range, bad modes', () => {
    const q = { ...base, algorithm: 'quota', limit: 1, period: 'day' };
    assert.deepEqual(refusals({ ...q, time_zone: 'Mars/Olympus_Mons' }), [
      'policy.time_zone: is not a known IANA time zone (got "Mars/Olympus_Mons")',
    ]);
    assert.deepEqual(refusals({ ...q, time_zone: '' }), [
      'policy.time_zone: must be an IANA time zone name such as "Europe/Berlin" (got "")',
    ]);
    assert.deepEqual(refusals({ ...q, period: 'week' }), [
      'policy.period: must be one of rolling_24h, day, month (got "week")',
    ]);
    const ip = { id: 'p', algorithm: 'concurrency', limit: 1, key_by: ['ip'] };
    for (const prefix of [31, 129, 64.5, '64']) {
      assert.deepEqual(refusals({ ...ip, ipv6_prefix: prefix }), [
        `policy.ipv6_prefix: must be a whole number from 32 to 128 (got ${JSON.stringify(prefix)})`,
      ]);
    }
    assert.equal(parsePolicySpec({ ...ip, ipv6_prefix: 32 }).ipv6_prefix, 32);
    assert.equal(parsePolicySpec({ ...ip, ipv6_prefix: 128 }).ipv6_prefix, 128);
    assert.deepEqual(refusals({ ...ip, on_store_failure: 'fail' }), [
      'policy.on_store_failure: must be one of local, open, closed (got "fail")',
    ]);
    assert.deepEqual(refusals({ ...ip, shadow: 'yes' }), [
      'policy.shadow: must be true or false (got "yes")',
    ]);
  });

  test('lists every issue at once, under the caller-given path', () => {
    assert.deepEqual(
      refusals(
        {
          id: 'x',
          algorithm: 'token_bucket',
          rate: '100/x',
          window: '1m',
          key_by: ['ip', 'nope'],
          attach: ['route:'],
        },
        'policies[2]',
      ),
      [
        'policies[2].rate: must be "<count>/<unit>" like 100/s, 5/m, 1000/h, 10000/d, or "<count>/<duration>" like 5/10s (got "100/x")',
        'policies[2].key_by[1]: must be one of key, client, user, ip, route, global (got "nope")',
        'policies[2].attach[0]: "route:" names no route; write route:<id>',
        'policies[2].window: does not apply to token_bucket (only to sliding_window, fixed_window)',
      ],
    );
  });
});
