/**
 * `portcullis start --workers 2` on Redis and one SQLite file, as real processes: both
 * workers serve (on one pair of ports) and list each other as instances; a killed worker is
 * started again while the other keeps serving; a load with the request recorder on loses no
 * record and meets no SQLite lock error (several writer processes on one WAL file); SIGTERM
 * drains every worker (in-flight requests complete, recorders flush) and the primary exits 0.
 * And the refusals: no Redis, a bad count, demo mode on — exit 2 with the reason.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { openStore } from '../../src/store/open-store.js';
import { type GatewayProcess, runCli, startGateway, tempDir } from '../helpers/gateway.js';
import { REDIS_URL, redisGate } from '../helpers/services.js';

const redis = await redisGate();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface InstanceItem {
  id: string;
  pid: number;
  worker: number | null;
  proxy: string;
  admin: string;
  state: string;
}

/** Poll `check` until it returns a value (not undefined) or `timeoutMs` passes. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

describe('start --workers refusals', () => {
  it('refuses without Redis, with the reason and exit 2', async () => {
    const dir = tempDir();
    const result = await runCli(['start', '--workers', '2'], { cwd: dir });
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^error\[invalid_configuration\]: --workers needs shared state: set PORTCULLIS_REDIS_URL/,
    );
    assert.match(result.stderr, /rate limits, HMAC nonces/);
    const auto = await runCli(['start', '--workers', 'auto'], { cwd: dir });
    assert.equal(auto.code, 2, 'auto too');
  });

  it('refuses a count that is not a positive integer or auto', async () => {
    for (const bad of ['0', 'many']) {
      const result = await runCli(['start', '--workers', bad], {
        cwd: tempDir(),
        env: { PORTCULLIS_REDIS_URL: REDIS_URL },
      });
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /--workers must be a positive integer or "auto"/);
    }
  });

  it('refuses demo mode on (its key lives in one process)', async () => {
    const result = await runCli(['start', '--workers', '2'], {
      cwd: tempDir(),
      env: { PORTCULLIS_REDIS_URL: REDIS_URL, PORTCULLIS_DEMO: 'on' },
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /demo mode runs in one process/);
  });
});

describe('start --workers 2 on Redis and SQLite', { skip: redis.skip }, () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let token: string;
  const dir = tempDir('pcl-workers-');
  const env = {
    PORTCULLIS_REDIS_URL: REDIS_URL,
    PORTCULLIS_SECRET_KEY: randomBytes(32).toString('hex'),
    // Every request is logged with the worker's slot: how the test sees who served what.
    PORTCULLIS_ACCESS_LOG_SAMPLE: '1',
    PORTCULLIS_SHUTDOWN_TIMEOUT_MS: '10000',
  };
  const agent = new Agent({ connections: 16, pipelining: 1 });

  async function instances(): Promise<InstanceItem[]> {
    const res = await request(`${gw.adminUrl}/admin/api/instances`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.statusCode, 200);
    return ((await res.body.json()) as { items: InstanceItem[] }).items;
  }

  /** Requests served per worker slot so far, from the access log lines. */
  function servedBy(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const line of gw.output().split('\n')) {
      if (!line.includes('"msg":"request"')) continue;
      const worker = (JSON.parse(line) as { worker?: number }).worker;
      if (worker !== undefined) counts.set(worker, (counts.get(worker) ?? 0) + 1);
    }
    return counts;
  }

  async function get(path: string): Promise<number> {
    const res = await request(`${gw.proxyUrl}${path}`, { dispatcher: agent, headersTimeout: 10_000 });
    await res.body.dump();
    return res.statusCode;
  }

  before(async () => {
    upstream = await startExampleUpstream();
    // A fresh directory: the primary creates and migrates the database before forking.
    gw = await startGateway({ dir, env, args: ['--workers', '2'], startTimeoutMs: 30_000 });
    writeFileSync(
      join(dir, 'routes.yaml'),
      stringify({
        routes: [{ id: 'all', path: '/*', methods: { '*': 'public' }, upstream: { url: upstream.url } }],
      }),
    );
    const applied = await runCli(['apply', '-f', 'routes.yaml'], { cwd: dir, env });
    assert.equal(applied.code, 0, applied.stderr);
    const created = await runCli(['admin', 'tokens', 'create', '--role', 'viewer', '--json'], {
      cwd: dir,
      env,
    });
    assert.equal(created.code, 0, created.stderr);
    token = (JSON.parse(created.stdout) as { token: string }).token;
  });
  after(async () => {
    if (gw && gw.child.exitCode === null) gw.child.kill('SIGKILL');
    await agent.close();
    await upstream?.close();
  });

  it('migrates once, in the primary, and each worker serves on the shared ports', async () => {
    const out = gw.output();
    const migrated = out.split('\n').filter((line) => line.includes('"database migrated"'));
    assert.equal(migrated.length, 1);
    assert.doesNotMatch(migrated[0] as string, /"worker"/);
    assert.equal(out.match(/"portcullis started"/g)?.length, 2);
    assert.equal(out.match(/"admin user created"/g)?.length, 1);
    // The route applied by the CLI reached both workers (announced through Redis).
    await eventually('the route is served', async () => ((await get('/hello')) === 200 ? true : undefined));
    const statuses = await Promise.all(Array.from({ length: 64 }, () => get('/hello')));
    assert.deepEqual(new Set(statuses), new Set([200]));
    const served = await eventually('both workers served', async () => {
      const counts = servedBy();
      return counts.size === 2 ? counts : undefined;
    });
    assert.deepEqual([...served.keys()].sort(), [0, 1]);
  });

  it('lists both workers in /admin/api/instances: same ports, own pid and slot', async () => {
    const items = await eventually('two instances', async () => {
      const list = await instances();
      return list.length === 2 ? list : undefined;
    });
    assert.deepEqual(items.map((i) => i.worker).sort(), [0, 1]);
    assert.notEqual(items[0]?.pid, items[1]?.pid);
    assert.equal(items[0]?.proxy, items[1]?.proxy);
    assert.equal(items[0]?.admin, items[1]?.admin);
    assert.equal(new URL(gw.proxyUrl).port, items[0]?.proxy.split(':').pop());
    for (const item of items) assert.equal(item.state, 'redis');
  });

  it('serves one set of metrics for both workers on the shared admin port', async () => {
    const scrape = async () => {
      const res = await request(`${gw.adminUrl}/metrics`, {
        dispatcher: new Agent({ connections: 1 }),
        reset: true,
      });
      assert.equal(res.statusCode, 200);
      return res.body.text();
    };
    const sum = (text: string, name: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
        .reduce((total, line) => total + Number(line.split(' ').pop()), 0);
    const served = [...servedBy().values()].reduce((a, b) => a + b, 0);
    // Several scrapes, each on a new connection (so on either worker): always the merged total.
    const texts = [await scrape(), await scrape(), await scrape(), await scrape()];
    for (const text of texts) {
      assert.equal(sum(text, 'portcullis_requests_total'), served, 'requests of both workers, once each');
      assert.equal(sum(text, 'portcullis_build_info'), 1);
      assert.match(text, /portcullis_dependency_up\{name="state:redis"\} 1/);
    }
  });

  it('starts a killed worker again while the other keeps serving', async () => {
    const before = await instances();
    const victim = before.find((i) => i.worker === 1) as InstanceItem;
    process.kill(victim.pid, 'SIGKILL');
    await eventually('the primary saw it die', async () =>
      gw.output().includes('"worker died; starting it again"') ? true : undefined,
    );
    // New connections go to the live worker only: nothing is refused while the other restarts.
    // (Kept-alive connections to the killed process died with it; a client must reconnect.)
    const fresh = new Agent({ connections: 4 });
    try {
      const during = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          await sleep(i * 50);
          const res = await request(`${gw.proxyUrl}/hello`, { dispatcher: fresh, reset: true });
          await res.body.dump();
          return res.statusCode;
        }),
      );
      assert.deepEqual(new Set(during), new Set([200]));
    } finally {
      await fresh.close();
    }
    const replaced = await eventually('worker 1 restarted and listed', async () => {
      const list = await instances();
      const again = list.find((i) => i.worker === 1 && i.pid !== victim.pid);
      return again && !list.some((i) => i.pid === victim.pid) ? again : undefined;
    });
    assert.notEqual(replaced.id, victim.id);
    // Listed as soon as it beats; "restarted" once it serves.
    await eventually('the primary saw it serve again', async () =>
      gw.output().includes('"worker restarted"') ? true : undefined,
    );
  });

  it('under load: every request answered and recorded, no SQLite lock error', async () => {
    const total = 3000;
    let next = 0;
    const statuses = new Map<number, number>();
    const lane = async () => {
      while (next < total) {
        next++;
        const status = await get('/echo/load');
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, lane));
    assert.deepEqual([...statuses], [[200, total]]);
    assert.doesNotMatch(gw.output(), /SQLITE_BUSY|database is locked|not written/i);
  });

  it('SIGTERM to the whole process group drains both workers: in-flight requests complete, records flushed, exit 0', async () => {
    // Worker pids as the instances list names them: signalled together with the primary, as
    // systemd's control-group kill or `kill -TERM -<pgid>` does. The primary's shutdown
    // message then reaches workers already draining and must not cut their drain short.
    const workerPids = (await instances()).map((i) => i.pid);
    assert.equal(workerPids.length, 2);
    const inFlight = Array.from({ length: 6 }, () =>
      request(`${gw.proxyUrl}/slow?ms=1500`, { dispatcher: agent }).then(async (res) => {
        await res.body.dump();
        return res.statusCode;
      }),
    );
    await sleep(300);
    gw.child.kill('SIGTERM');
    for (const pid of workerPids) process.kill(pid, 'SIGTERM');
    assert.deepEqual(await Promise.all(inFlight), [200, 200, 200, 200, 200, 200]);
    assert.equal(await gw.exited, 0);
    const out = gw.output();
    assert.equal(out.match(/"worker":\d,"msg":"stopped"/g)?.length, 2, 'each worker stopped cleanly');
    assert.match(out, /"code":0,"msg":"stopped"/);

    const store = await openStore({ url: `sqlite:${join(dir, 'data', 'portcullis.db')}` });
    try {
      const count = async (path: string) =>
        Number(
          (
            await store.db
              .selectFrom('request_logs')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('path', '=', path)
              .executeTakeFirstOrThrow()
          ).n,
        );
      assert.equal(await count('/echo/load'), 3000, 'every answered request of the load was recorded');
      assert.equal(await count('/slow'), 6, 'the drained requests were recorded before exit');
    } finally {
      await store.close();
    }
  });
});
