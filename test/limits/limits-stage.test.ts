/**
 * The limits stage on its own (no HTTP): the exact bytes of the rate-limit headers, the
 * identity each `key_by` counts under, and the per-policy cache of checks that keeps a
 * returning caller from building strings per request. The gateway suites cover the same
 * stage end to end; these pin what the caches must not change.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Logger } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import { compileLimit } from '../../src/limits/compile.js';
import { MemoryLimiter } from '../../src/limits/memory.js';
import { PolicyCatalog } from '../../src/limits/policy-catalog.js';
import type { CheckAllResult, LimitCheck } from '../../src/limits/types.js';
import { limitsStage } from '../../src/pipeline/stages/limits.js';
import type { Exchange, Principal } from '../../src/pipeline/types.js';
import type { CompiledRoute } from '../../src/routing/compile.js';
import type { Store } from '../../src/store/types.js';

const logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

async function catalogOf(specs: Array<Record<string, unknown>>): Promise<PolicyCatalog> {
  const store = {
    policies: { list: async () => specs.map((spec) => ({ id: spec['id'], spec })) },
  } as unknown as Store;
  const catalog = new PolicyCatalog({ store, logger });
  await catalog.refresh();
  return catalog;
}

/** The fields the stage reads; the rest of a compiled route does not matter here. */
function routeOf(id: string, policies: string[]): CompiledRoute {
  return { id, spec: { policies } } as unknown as CompiledRoute;
}

function exchangeOf(
  route: CompiledRoute,
  who: { keyId?: string; clientId?: string; userId?: string; ip?: string } = {},
): Exchange {
  const principal: Principal | undefined =
    who.keyId || who.clientId || who.userId
      ? {
          kind: who.keyId ? 'api_key' : 'jwt',
          scopes: [],
          ...(who.clientId ? { clientId: who.clientId } : {}),
          ...(who.keyId ? { keyId: who.keyId } : {}),
          ...(who.userId ? { userId: who.userId } : {}),
        }
      : undefined;
  return {
    facts: { requestId: 'req', clientIp: who.ip ?? '192.0.2.7' },
    match: { route, params: undefined },
    requirement: undefined,
    credential: undefined,
    principal,
    key: who.keyId ? { key: { id: who.keyId, policy: null, usesBudget: null } } : undefined,
    remaining: null,
    body: undefined,
    readBody: undefined,
    responseHeaders: undefined,
    onFinish: undefined,
    rateLimit: undefined,
    shadowDenied: undefined,
  } as unknown as Exchange;
}

/** A MemoryLimiter that records every call's checks. */
class RecordingLimiter extends MemoryLimiter {
  readonly calls: LimitCheck[][] = [];
  override checkAllSync(checks: readonly LimitCheck[]): CheckAllResult {
    this.calls.push([...checks]);
    return super.checkAllSync(checks);
  }
}

async function setup(specs: Array<Record<string, unknown>>, routePolicies: string[]) {
  const clock = new ManualClock();
  const limiter = new RecordingLimiter({ clock });
  const policies = await catalogOf(specs);
  const stage = limitsStage({
    policies,
    limiter,
    local: undefined,
    breaker: undefined,
    liveInstances: () => 1,
    logger,
  });
  const route = routeOf('r1', routePolicies);
  const run = (who: Parameters<typeof exchangeOf>[1]) => {
    const exchange = exchangeOf(route, who);
    const result = stage(exchange);
    assert.ok(!(result instanceof Promise), 'the in-memory limiter keeps the stage synchronous');
    return { exchange, result };
  };
  return { clock, limiter, policies, stage, route, run };
}

describe('limits stage', () => {
  test('headers: exact bytes for one policy, then for two (tightest decides RateLimit)', async () => {
    const { run } = await setup(
      [
        { id: 'bucket', algorithm: 'token_bucket', rate: '10/s', burst: 20, key_by: ['key'] },
        { id: 'window', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['client'] },
      ],
      ['bucket'],
    );
    const first = run({ keyId: 'key_A', clientId: 'c1' });
    assert.equal(first.result, undefined);
    assert.deepEqual(first.exchange.responseHeaders, [
      ['ratelimit-policy', '"bucket";q=20;w=2'],
      ['ratelimit', '"bucket";r=19;t=1'],
      ['x-ratelimit-limit', '20'],
      ['x-ratelimit-remaining', '19'],
      ['x-ratelimit-reset', '1'],
    ]);
    assert.deepEqual(first.exchange.rateLimit, { policy: 'bucket', limit: 20, remaining: 19, resetS: 1 });
    const second = run({ keyId: 'key_A', clientId: 'c1' });
    assert.deepEqual(second.exchange.responseHeaders?.[1], ['ratelimit', '"bucket";r=18;t=1']);

    const two = await setup(
      [
        { id: 'bucket', algorithm: 'token_bucket', rate: '10/s', burst: 20, key_by: ['key'] },
        { id: 'window', algorithm: 'fixed_window', limit: 3, window: '1m', key_by: ['client'] },
      ],
      ['bucket', 'window'],
    );
    two.clock.advance(60_000 - (Date.UTC(2026, 0, 1) % 60_000)); // at a window start: reset is 60 s
    const both = two.run({ keyId: 'key_A', clientId: 'c1' });
    assert.deepEqual(both.exchange.responseHeaders, [
      ['ratelimit-policy', '"bucket";q=20;w=2, "window";q=3;w=60'],
      ['ratelimit', '"window";r=2;t=60'],
      ['x-ratelimit-limit', '3'],
      ['x-ratelimit-remaining', '2'],
      ['x-ratelimit-reset', '60'],
    ]);
  });

  test('headers on a denial: Retry-After after the rate-limit headers, headers added earlier kept', async () => {
    const { run, stage, route } = await setup(
      [{ id: 'tiny', algorithm: 'fixed_window', limit: 1, window: '10s', key_by: ['ip'] }],
      ['tiny'],
    );
    assert.equal(run({ ip: '198.51.100.1' }).result, undefined);
    const exchange = exchangeOf(route, { ip: '198.51.100.1' });
    exchange.responseHeaders = [['x-earlier', 'yes']];
    const denial = stage(exchange);
    assert.ok(denial && !(denial instanceof Promise) && denial.kind === 'deny');
    assert.equal(denial.code, 'rate_limited');
    const headers = denial.headers as Array<[string, string]>;
    assert.deepEqual(
      headers.map(([name]) => name),
      [
        'x-earlier',
        'ratelimit-policy',
        'ratelimit',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
        'retry-after',
      ],
    );
    const resetS = headers[5]![1];
    assert.deepEqual(headers.slice(1), [
      ['ratelimit-policy', '"tiny";q=1;w=10'],
      ['ratelimit', `"tiny";r=0;t=${resetS}`],
      ['x-ratelimit-limit', '1'],
      ['x-ratelimit-remaining', '0'],
      ['x-ratelimit-reset', resetS],
      ['retry-after', resetS],
    ]);
    assert.equal(exchange.responseHeaders, headers, 'the denial answers with every header gathered');
  });

  test('identities per key_by: key, client, user, IPv4, IPv6 by prefix, route, global, combined', async () => {
    const specs = [
      { id: 'k', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['key'] },
      { id: 'c', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['client'] },
      { id: 'u', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['user'] },
      { id: 'i', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['ip'] },
      { id: 'i48', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['ip'], ipv6_prefix: 48 },
      { id: 'r', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['route'] },
      { id: 'g', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['global'] },
      { id: 'ki', algorithm: 'fixed_window', limit: 100, window: '1m', key_by: ['ip', 'key'] },
    ];
    const { run, limiter } = await setup(
      specs,
      specs.map((s) => s.id),
    );
    run({ keyId: 'key_A', clientId: 'c1', userId: 'u9', ip: '2001:db8:1:2:3:4:5:6' });
    run({ keyId: 'key_A', clientId: 'c1', ip: '192.0.2.1' });
    const identities = limiter.calls.map((checks) =>
      checks.map((check) => `${check.limit.policyId} ${check.identity}`),
    );
    assert.deepEqual(identities, [
      [
        'k key=key_A',
        'c client=c1',
        'u user=u9',
        'i ip=2001:db8:1:2::/64',
        'i48 ip=2001:db8:1::/48',
        'r route=r1',
        'g global',
        'ki key=key_A|ip=2001:db8:1:2::/64',
      ],
      // No user: the policy counting by user does not apply.
      [
        'k key=key_A',
        'c client=c1',
        'i ip=192.0.2.1',
        'i48 ip=192.0.2.1',
        'r route=r1',
        'g global',
        'ki key=key_A|ip=192.0.2.1',
      ],
    ]);
  });

  test('a returning caller reuses one frozen check per policy; a refreshed catalog starts afresh', async () => {
    const { run, limiter, policies } = await setup(
      [
        { id: 'k', algorithm: 'token_bucket', rate: '100/s', key_by: ['key'] },
        { id: 'ki', algorithm: 'token_bucket', rate: '100/s', key_by: ['key', 'ip'] },
      ],
      ['k', 'ki'],
    );
    run({ keyId: 'key_A' });
    run({ keyId: 'key_A' });
    run({ keyId: 'key_B' });
    const [a1, a2, b] = limiter.calls as [LimitCheck[], LimitCheck[], LimitCheck[]];
    assert.equal(a1[0], a2[0], 'same check object for the same key');
    assert.ok(Object.isFrozen(a1[0]));
    assert.notEqual(a1[0], b[0]);
    assert.equal(b[0]!.identity, 'key=key_B');
    // Several key_by parts: built per request (equal, not cached).
    assert.notEqual(a1[1], a2[1]);
    assert.deepEqual(a1[1], a2[1]);

    await policies.refresh();
    run({ keyId: 'key_A' });
    const after = limiter.calls[3]!;
    assert.notEqual(after[0], a1[0], 'a new compiled policy gets new checks');
    // The counter is the same (same policy id and identity), whatever object carries it.
    assert.equal(after[0]!.identity, a1[0]!.identity);
    assert.equal(after[0]!.limit.policyId, a1[0]!.limit.policyId);
  });

  test('many distinct IPs: the check cache starts over beyond its bound and stays correct', async () => {
    const { run, limiter } = await setup(
      [{ id: 'per-ip', algorithm: 'fixed_window', limit: 2, window: '1m', key_by: ['ip'] }],
      ['per-ip'],
    );
    for (let i = 0; i < 10_050; i++) run({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
    assert.equal(run({ ip: '10.0.0.1' }).result, undefined, 'second request of 10.0.0.1 is allowed');
    const third = run({ ip: '10.0.0.1' });
    assert.equal(third.result?.kind, 'deny', 'third is denied: the counter survived the cache reset');
    assert.equal(limiter.calls.at(-1)![0]!.identity, 'ip=10.0.0.1');
  });
});

describe('MemoryLimiter: expired entries and a hot key', () => {
  test('an expired key is dropped when the call is denied and rewritten when it is allowed', async () => {
    const clock = new ManualClock();
    const limiter = new MemoryLimiter({ clock });
    const limit = compileLimit({ policyId: 'exp', algorithm: 'fixed_window', limit: 1, windowMs: 1_000 });
    limiter.checkAllSync([{ limit, identity: 'x' }]);
    limiter.checkAllSync([{ limit, identity: 'y' }]);
    assert.equal(limiter.size, 2);
    clock.advance(5_000);
    // x is expired and would pass; y's cost cannot: nothing is consumed, both expired keys go.
    const denied = limiter.checkAllSync([
      { limit, identity: 'x' },
      { limit, identity: 'y', cost: 2 },
    ]);
    assert.equal(denied.allowed, false);
    assert.equal(limiter.size, 0);
    limiter.checkAllSync([{ limit, identity: 'x' }]);
    clock.advance(5_000);
    const allowed = limiter.checkAllSync([{ limit, identity: 'x' }]);
    assert.equal(allowed.allowed, true);
    assert.equal(allowed.decisions[0]!.remaining, 0);
    assert.equal(limiter.size, 1);
    assert.equal(limiter.checkAllSync([{ limit, identity: 'x' }]).allowed, false, 'the rewrite counts');
  });
});
