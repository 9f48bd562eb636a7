/**
 * Three gateway processes sharing Redis (and one SQLite file) list each other: through the
 * admin API, the SDK and the CLI (remote, and local reading Redis); one killed with SIGKILL
 * drops out after three missed beats, one stopped with SIGTERM leaves at once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PortcullisAdmin } from '@portcullis/sdk';
import { type GatewayProcess, runCli, startGateway, tempDir } from '../helpers/gateway.js';
import { REDIS_URL, redisGate } from '../helpers/services.js';

const redis = await redisGate();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Item {
  id: string;
  self: boolean;
  pid: number;
  proxy: string;
  admin: string;
  version: string;
  state: string;
  degraded: string | null;
  worker: number | null;
}

describe('instances of one deployment', { skip: redis.skip }, () => {
  const dir = tempDir('pcl-instances-');
  const env = {
    PORTCULLIS_REDIS_URL: REDIS_URL,
    PORTCULLIS_SECRET_KEY: randomBytes(32).toString('hex'),
  };
  let gateways: GatewayProcess[] = [];
  let token: string;

  const adminOf = (gw: GatewayProcess) => new PortcullisAdmin({ url: gw.adminUrl, token });
  const list = async (gw: GatewayProcess) =>
    (await adminOf(gw).instances.list()) as { items: Item[]; state: string };
  const address = (gw: GatewayProcess) => `127.0.0.1:${gw.proxyPort}`;

  before(async () => {
    const created = await runCli(['admin', 'tokens', 'create', '--role', 'viewer', '--json'], {
      cwd: dir,
      env,
    });
    assert.equal(created.code, 0, created.stderr);
    token = (JSON.parse(created.stdout) as { token: string }).token;
    gateways = await Promise.all([0, 1, 2].map(() => startGateway({ dir, env })));
  });
  after(async () => {
    await Promise.all(gateways.map((gw) => gw.stop('SIGKILL')));
  });

  it('each instance lists all three, itself marked, with version, addresses and state', async () => {
    for (const gw of gateways) {
      const answer = await list(gw);
      assert.equal(answer.state, 'redis');
      assert.deepEqual(new Set(answer.items.map((i) => i.proxy)), new Set(gateways.map(address)));
      const self = answer.items.filter((i) => i.self);
      assert.equal(self.length, 1);
      assert.equal(self[0]?.proxy, address(gw));
      assert.equal(self[0]?.pid, gw.child.pid);
      for (const item of answer.items) {
        assert.match(item.version, /^\d+\.\d+\.\d+/);
        assert.equal(item.state, 'redis');
        assert.equal(item.degraded, null);
        assert.equal(item.worker, null);
        assert.match(item.admin, /^127\.0\.0\.1:\d+$/);
      }
    }
  });

  it('the CLI shows them: remotely as a table and as JSON, locally from Redis', async () => {
    const [first] = gateways as [GatewayProcess];
    const table = await runCli(['instances', '--url', first.adminUrl, '--token', token], { cwd: dir });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(
      lines[0] as string,
      /^ID\s+VERSION\s+HOST\s+PID\s+WORKER\s+PROXY\s+ADMIN\s+DEGRADED\s+UP\s+LAST BEAT$/,
    );
    assert.equal(lines.length, 4);
    assert.equal(lines.filter((l) => / \*\s/.test(l)).length, 1, 'the answering instance is starred');
    for (const gw of gateways) assert.ok(table.stdout.includes(address(gw)));

    const json = await runCli(['instances', '--json', '--url', first.adminUrl, '--token', token], {
      cwd: dir,
    });
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { items: Item[] }).items.length, 3);

    // No --url: the CLI reads the heartbeats in Redis itself (same secret key, same prefix).
    const local = await runCli(['instances', '--json'], { cwd: dir, env });
    assert.equal(local.code, 0, local.stderr);
    const items = (JSON.parse(local.stdout) as { items: Item[] }).items;
    assert.deepEqual(new Set(items.map((i) => i.proxy)), new Set(gateways.map(address)));
    assert.ok(
      items.every((i) => !i.self),
      'the CLI is not an instance',
    );
  });

  it('a killed instance drops out after three missed beats; a stopped one leaves at once', async () => {
    const [first, killed, stopped] = gateways as [GatewayProcess, GatewayProcess, GatewayProcess];
    killed.child.kill('SIGKILL');
    await killed.exited;
    const t0 = performance.now();
    // Still listed right after (its last beat is fresh), gone within 3 beats (6 s) and a margin.
    assert.equal((await list(first)).items.length, 3);
    for (;;) {
      const items = (await list(first)).items;
      if (!items.some((i) => i.proxy === address(killed))) break;
      assert.ok(performance.now() - t0 < 9_000, 'the killed instance is still listed after 9 s');
      await sleep(200);
    }
    const droppedAfter = performance.now() - t0;
    process.stderr.write(`instances: the killed instance dropped out after ${Math.round(droppedAfter)} ms\n`);
    assert.ok(
      droppedAfter > 2_000,
      `dropped after ${Math.round(droppedAfter)} ms: too early for three missed beats`,
    );

    assert.equal(await stopped.stop('SIGTERM'), 0);
    const items = (await list(first)).items;
    assert.deepEqual(
      items.map((i) => i.proxy),
      [address(first)],
    );
  });
});
