/**
 * Limits shared by several gateway processes (PRODUCT.md §7 / §13): one scenario, run against
 * every shared-state setup — a standalone Redis (limits-across-instances.test.ts) and a Redis
 * Cluster (limits-on-redis-cluster.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway, tempDir } from '../helpers/gateway.js';
import { addClient, createKey, grant, settle } from '../helpers/identity.js';
import { uniqueName } from '../helpers/services.js';

export interface SharedLimitScenario {
  skip: string | false;
  /** How many gateway processes share the limits. */
  instances: number;
  /** Environment naming the shared state (PORTCULLIS_REDIS_URL, …). */
  env: Record<string, string>;
  /** Also run 10 s of sustained load at 3× a token bucket's rate (±1%). */
  sustained: boolean;
  /** Run after the gateways stop (e.g. tear down a cluster started for the file). */
  teardown?: () => Promise<void>;
  /** Checks of the shared state itself, run after the burst (name → check). */
  afterBurst?: Record<string, () => Promise<void>>;
}

export function describeSharedLimits(label: string, scenario: SharedLimitScenario): void {
  describe(label, { skip: scenario.skip }, () => {
    let upstream: ExampleUpstream;
    const gateways: GatewayProcess[] = [];
    let key: string;
    const agent = new Agent({ connections: 256 });

    before(async () => {
      upstream = await startExampleUpstream();
      const dir = tempDir();
      const id = uniqueName('rl').replaceAll('_', '-').toLowerCase();
      // This suite checks that the shared limit is exact, so a busy machine (the full test run)
      // must not push a Redis command past its timeout into the degraded `local` mode, which
      // legitimately admits up to limit/instances per instance (tested in degraded-modes).
      const env = {
        ...scenario.env,
        PORTCULLIS_REDIS_TIMEOUT: '5s',
        PORTCULLIS_SECRET_KEY: 'cd'.repeat(32),
      };
      const document = {
        policies: [
          { id: `hundred-${id}`, algorithm: 'fixed_window', limit: 100, window: '1h', key_by: ['key'] },
          { id: `steady-${id}`, algorithm: 'token_bucket', rate: '100/s', burst: 10, key_by: ['key'] },
        ],
        routes: [
          {
            id: 'burst',
            path: '/burst/*',
            methods: { GET: 'api_key' },
            policies: [`hundred-${id}`],
            upstream: { url: `${upstream.url}/echo` },
          },
          {
            id: 'steady',
            path: '/steady/*',
            methods: { GET: 'api_key' },
            policies: [`steady-${id}`],
            upstream: { url: `${upstream.url}/echo` },
          },
        ],
      };
      gateways.push(await startGateway({ dir, env, document }));
      for (let i = 1; i < scenario.instances; i++) gateways.push(await startGateway({ dir, env }));
      const first = gateways[0] as GatewayProcess;
      await addClient(first, 'app');
      await grant(first, 'app', 'burst');
      await grant(first, 'app', 'steady');
      key = (await createKey(first, 'app')).key;
      await settle(...gateways);
    });
    after(async () => {
      await Promise.all(gateways.map((g) => g.stop()));
      await agent.close();
      await upstream?.close();
      await scenario.teardown?.();
    });

    const hit = async (i: number, path: string) => {
      const gw = gateways[i % gateways.length] as GatewayProcess;
      const res = await request(`${gw.proxyUrl}${path}`, {
        headers: { authorization: `Bearer ${key}` },
        dispatcher: agent,
      });
      await res.body.dump();
      return res.statusCode;
    };

    it('200 concurrent requests against a limit of 100 → exactly 100 allowed', async () => {
      const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => hit(i, '/burst/x')));
      assert.equal(statuses.filter((s) => s === 200).length, 100);
      assert.equal(statuses.filter((s) => s === 429).length, 100);
    });

    for (const [name, check] of Object.entries(scenario.afterBurst ?? {})) it(name, check);

    it('sustained load at 3× the rate for 10 s → allowed within 1% of the limit', {
      skip: scenario.sustained ? false : 'run against the standalone Redis only (10 s)',
    }, async () => {
      // 300 requests/s for 10 s spread over the instances, against 100/s (burst 10).
      const started = performance.now();
      const pending: Array<Promise<number>> = [];
      let sent = 0;
      while (performance.now() - started < 10_000) {
        const due = Math.floor(((performance.now() - started) / 1000) * 300);
        while (sent < due) pending.push(hit(sent++, '/steady/x'));
        await new Promise((r) => setTimeout(r, 5));
      }
      const elapsedS = (performance.now() - started) / 1000;
      const statuses = await Promise.all(pending);
      const allowed = statuses.filter((s) => s === 200).length;
      const expected = 10 + 100 * elapsedS;
      assert.ok(
        statuses.every((s) => s === 200 || s === 429),
        `unexpected statuses: ${[...new Set(statuses)]}`,
      );
      assert.ok(
        Math.abs(allowed - expected) / expected <= 0.01,
        `allowed ${allowed}, expected ${expected.toFixed(1)} (±1%)`,
      );
    });
  });
}
