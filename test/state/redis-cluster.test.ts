/**
 * RedisState on a real Redis Cluster (three masters started for this file from redis-server):
 * the whole HotState contract, keys spread over the nodes, slots computed as Redis does, and
 * a subscriber that survives the loss of its node.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { keySlot } from '../../src/state/cluster-slot.js';
import { isStateError } from '../../src/state/errors.js';
import { openState } from '../../src/state/open-state.js';
import { RedisState } from '../../src/state/redis.js';
import { type LocalRedisCluster, redisServerGate, startRedisCluster } from '../helpers/redis-cluster.js';
import { uniqueName } from '../helpers/services.js';
import { eventually } from '../helpers/wait.js';
import { Inbox, runStateContract } from './state-contract.js';

// Faults must surface as rejections of our calls, never as stray rejections or 'error' events.
const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`unhandledRejection: ${String(reason)}`));
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  if (String(args[0]).includes('[ioredis]')) strays.push(args.map(String).join(' '));
  consoleError(...args);
};

const gate = redisServerGate();
// Started once for the file (about 2 s), while the tests are registered.
const cluster: LocalRedisCluster | undefined = gate.skip ? undefined : await startRedisCluster();
if (cluster) process.stderr.write(`[redis cluster] 3 masters ready in ${cluster.startMs} ms\n`);
const keyPrefix = `${uniqueName('pcl_cl')}:`;

describe('RedisState on Redis Cluster', { skip: gate.skip }, () => {
  const c = cluster as LocalRedisCluster;
  // A loaded machine (parallel suites) must not turn a slow reply into a contract failure;
  // fail-fast timing is tested against a lost node below, and with a proxy in redis.test.ts.
  const open = () => RedisState.connect({ url: c.url, cluster: true, keyPrefix, commandTimeoutMs: 2_000 });

  after(async () => {
    await c.stop();
    assert.deepEqual(strays, []);
  });

  runStateContract('RedisState (cluster)', open);

  describe('cluster specifics', () => {
    test('keys are spread over the masters, each under its slot', async () => {
      const state = await open();
      try {
        const names = Array.from({ length: 30 }, (_, i) => `spread:${i}`);
        await Promise.all(names.map((name) => state.set(name, name)));
        const holders = new Set<number>();
        for (const name of names) {
          const found = await Promise.all(
            c.nodes.map((_, i) =>
              c
                .node(i)
                .get(`${keyPrefix}${name}`)
                .catch(() => null),
            ),
          );
          const at = found.indexOf(name);
          assert.equal(
            at,
            await c.ownerOf(keySlot(`${keyPrefix}${name}`)),
            `${name} is on the node owning its slot`,
          );
          holders.add(at);
        }
        assert.equal(holders.size, 3, 'thirty keys reach all three masters');
        assert.deepEqual(await Promise.all(names.map((name) => state.get(name))), names);
      } finally {
        await state.close();
      }
    });

    test('keySlot computes the slot Redis computes (CLUSTER KEYSLOT), hash tags included', async () => {
      const admin = c.node(0);
      const keys = [
        '',
        'a',
        'foo',
        '{user1000}.following',
        '{user1000}.followers',
        'foo{}{bar}',
        'foo{{bar}}zap',
        'foo{bar}{zap}',
        '{',
        '}{',
        'pcl:ab12cd34:rl:{pol_1:=key:lin_9}:tb',
        'pcl:ab12cd34:hb:{instances}',
        'pcl:ab12cd34:hbi:{instances}',
        'ключ{ідентичність}',
        '🙂{🙂}',
        ...Array.from({ length: 200 }, () => Math.random().toString(36).repeat(3)),
      ];
      for (const key of keys) {
        assert.equal(
          keySlot(key),
          Number(await admin.cluster('KEYSLOT', key)),
          `slot of ${JSON.stringify(key)}`,
        );
      }
    });

    test('openState takes a seed list with cluster mode, and one seed is enough', async () => {
      const state = await openState({ redisUrl: c.urls[1], redis: { cluster: true }, keyPrefix });
      try {
        assert.equal(state.kind, 'redis');
        await state.set('one-seed', 'ok');
        assert.equal(await state.get('one-seed'), 'ok');
      } finally {
        await state.close();
      }
    });

    test('a seed list without cluster mode, or a cluster URL with a database, is refused', async () => {
      await assert.rejects(
        RedisState.connect({ url: c.url, keyPrefix }),
        /options\.url lists 3 URLs: .*options\.cluster/,
      );
      await assert.rejects(
        RedisState.connect({ url: `${c.urls[0]}/2`, cluster: true, keyPrefix }),
        /Redis Cluster has only database 0/,
      );
      await assert.rejects(
        RedisState.connect({ url: c.url, cluster: true, keyPrefix: 'x{y}:' }),
        /options\.keyPrefix must not contain "\{"/,
      );
    });

    test('a cluster node opened without cluster mode is refused at start, saying what to set', async () => {
      await assert.rejects(RedisState.connect({ url: c.urls[0]!, keyPrefix }), (err: unknown) => {
        assert.ok(isStateError(err, 'ERR_STATE_CONNECT'), String(err));
        assert.match(
          err.message,
          /is a node of a Redis Cluster: connect in cluster mode \(PORTCULLIS_REDIS_CLUSTER=true\)/,
        );
        return true;
      });
    });

    test('an unreachable seed fails at connect, naming the cluster', async () => {
      await assert.rejects(
        RedisState.connect({ url: 'redis://127.0.0.1:1', cluster: true, keyPrefix, connectTimeoutMs: 500 }),
        (err: unknown) => {
          assert.ok(isStateError(err, 'ERR_STATE_CONNECT'), String(err));
          assert.match(err.message, /cannot connect to Redis at cluster redis:\/\/127\.0\.0\.1:1/);
          return true;
        },
      );
    });
  });

  // Last: it takes a master down for good, so nothing may run on this cluster after it.
  describe('losing a node', () => {
    test('commands for the lost node fail fast, the others still work, and the subscriber moves on', async () => {
      const state = await RedisState.connect({ url: c.url, cluster: true, keyPrefix });
      const publisher = await open();
      try {
        const inbox = new Inbox();
        const unsubscribe = await state.subscribe('moves', inbox.handler);
        await publisher.publish('moves', 'before');
        await inbox.waitFor(1);
        // Which node holds the subscriber connection (CLIENT LIST names it).
        const lists = await Promise.all(c.nodes.map((_, i) => c.node(i).client('LIST') as Promise<string>));
        const victim = lists.findIndex((list) => list.includes('name=portcullis:subscriber'));
        assert.ok(victim >= 0, 'the subscriber is connected to one of the nodes');
        const survivors = c.nodes.map((_, i) => i).filter((i) => i !== victim);
        // A key on the victim and one on a survivor.
        const onNode = async (i: number, prefix: string) => {
          for (let n = 0; ; n++) {
            const name = `${prefix}:${n}`;
            if ((await c.ownerOf(keySlot(`${keyPrefix}${name}`))) === i) return name;
          }
        };
        const lost = await onNode(victim, 'lost');
        const kept = await onNode(survivors[0]!, 'kept');
        await state.set(kept, 'still here');

        await c.kill(victim);

        const started = performance.now();
        await assert.rejects(state.get(lost), (err: unknown) => isStateError(err));
        assert.ok(performance.now() - started < 1_000, `took ${Math.round(performance.now() - started)} ms`);
        // The subscriber gives up on its node after a few reconnects and moves to a survivor;
        // messages published meanwhile are lost (pub/sub is at-most-once).
        const direct = new Redis({ host: '127.0.0.1', port: c.nodes[survivors[0]!]!.port });
        try {
          await eventually(async () => {
            await direct.publish(`${keyPrefix}moves`, 'after');
            await inbox.waitFor(2, 100);
          }, 15_000);
        } finally {
          direct.disconnect();
        }
        assert.equal(inbox.messages.at(-1), 'after');
        // Unsubscribing after the move leaves the channel on the new connection, not the lost one.
        const subscribers = async () => {
          let n = 0;
          for (const i of survivors) {
            const reply = (await c.node(i).pubsub('NUMSUB', `${keyPrefix}moves`)) as [string, number];
            n += Number(reply[1]);
          }
          return n;
        };
        assert.equal(await subscribers(), 1, 'the new connection listens on the channel');
        await unsubscribe();
        await eventually(async () => assert.equal(await subscribers(), 0), 5_000);
        // Slots of the survivors keep answering: require-full-coverage is off in this cluster.
        assert.equal(await eventually(() => state.get(kept)), 'still here');
      } finally {
        await Promise.all([state.close(), publisher.close()]);
      }
    });
  });
});
