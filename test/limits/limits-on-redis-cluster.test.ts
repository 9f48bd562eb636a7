import assert from 'node:assert/strict';
import { type LocalRedisCluster, redisServerGate, startRedisCluster } from '../helpers/redis-cluster.js';
import { describeSharedLimits } from './shared-limit-scenario.js';

// Issue 10: two gateway processes on a real Redis Cluster (three masters, started for this
// file) enforce one exact limit, as on a standalone Redis.
const gate = redisServerGate();
const cluster: LocalRedisCluster | undefined = gate.skip ? undefined : await startRedisCluster();

describeSharedLimits('rate limits across two instances on a Redis Cluster', {
  skip: gate.skip,
  instances: 2,
  env: cluster === undefined ? {} : { PORTCULLIS_REDIS_URL: cluster.url, PORTCULLIS_REDIS_CLUSTER: 'true' },
  sustained: false,
  afterBurst: {
    'the limit and both instances are in the cluster': async () => {
      const c = cluster as LocalRedisCluster;
      // A cluster SCAN is per node: every master is asked.
      const found = await Promise.all(
        c.nodes.map(async (_, i) => {
          const keys: string[] = [];
          let cursor = '0';
          do {
            const [next, batch] = await c.node(i).scan(cursor, 'MATCH', 'pcl:*', 'COUNT', 1000);
            keys.push(...batch);
            cursor = next;
          } while (cursor !== '0');
          return keys.map((key) => ({ key, node: i }));
        }),
      );
      const keys = found.flat();
      assert.ok(
        keys.some(({ key }) => /:rl:\{hundred-[^}]+\}:fw$/.test(key)),
        `a fixed-window key among ${keys.map((k) => k.key).join(' ')}`,
      );
      const heartbeats = keys.find(({ key }) => key.endsWith(':hb:{instances}'));
      assert.ok(heartbeats, 'the heartbeat set');
      assert.equal(await c.node(heartbeats.node).zcard(heartbeats.key), 2);
    },
  },
  teardown: async () => cluster?.stop(),
});
