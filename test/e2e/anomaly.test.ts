/**
 * Anomaly detection on running gateways: the smoke command end to end (a real key, a burst
 * through the proxy, the detector run now, the block taking effect) on memory and on Redis
 * state, and leader election across two instances sharing Redis with the leader killed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { type GatewayProcess, runCli, startGateway, tempDir } from '../helpers/gateway.js';
import { settle } from '../helpers/identity.js';
import { REDIS_URL, redisGate } from '../helpers/services.js';

const redis = await redisGate();

interface SmokeJson {
  key: string;
  findings: Array<{ signal: string; identityKind: string; identity: string }>;
  anomalies: Array<{ id: string; signal: string; action: string; blockId: string | null }>;
  statusAfter: number;
}

for (const backend of ['memory', 'redis'] as const) {
  describe(`anomaly smoke against a running gateway (${backend} state)`, {
    skip: backend === 'redis' && redis.skip,
  }, () => {
    const gateways: GatewayProcess[] = [];
    after(async () => {
      await Promise.all(gateways.map((g) => g.stop()));
    });

    it('detects the burst of a real key, blocks it by the rule, and cleans up after itself', async () => {
      const gw = await startGateway({
        env: {
          PORTCULLIS_ANOMALY_RULES: 'burst=block:5m',
          PORTCULLIS_SECRET_KEY: randomBytes(32).toString('hex'),
          // A smoke of the detection path, not of Redis faults: a roomy command deadline.
          ...(backend === 'redis' ? { PORTCULLIS_REDIS_URL: REDIS_URL, PORTCULLIS_REDIS_TIMEOUT: '5s' } : {}),
        },
      });
      gateways.push(gw);
      // Local mode: the CLI finds the gateway's listeners through the same configuration.
      const [proxyPort, adminPort] = [gw.proxyPort, Number(new URL(gw.adminUrl).port)];
      const smoke = await runCli(['anomaly', 'smoke', '--json'], {
        cwd: gw.dir,
        env: {
          ...gw.env,
          PORTCULLIS_PROXY_LISTEN: `127.0.0.1:${proxyPort}`,
          PORTCULLIS_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        },
      });
      assert.equal(smoke.code, 0, smoke.stderr + smoke.stdout);
      const result = JSON.parse(smoke.stdout) as SmokeJson;
      assert.ok(
        result.findings.some(
          (f) => f.signal === 'burst' && f.identityKind === 'key' && f.identity === result.key,
        ),
        JSON.stringify(result.findings),
      );
      const keyAnomaly = result.anomalies.find((a) => a.signal === 'burst');
      assert.equal(keyAnomaly?.action, 'blocked');
      assert.equal(result.statusAfter, 403, 'the block reached the proxy');

      // On record and in the list; the service token is revoked.
      const listed = await gw.cli(['anomalies', 'list', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok(listed.stdout.includes(keyAnomaly?.id ?? '-'));
      const tokens = JSON.parse((await gw.cli(['admin', 'tokens', 'list', '--json'])).stdout) as Array<{
        name: string;
        revokedAt: string | null;
      }>;
      assert.ok(tokens.filter((t) => t.name === 'anomaly smoke').every((t) => t.revokedAt !== null));
      // Revoked, then removed with its client; the temporary route is gone too.
      const shown = await gw.cli(['keys', 'show', result.key, '--json']);
      assert.notEqual(shown.code, 0);
      assert.match(shown.stderr + shown.stdout, /not_found/);
      const routes = await gw.cli(['routes', 'list', '--json']);
      assert.doesNotMatch(routes.stdout, /anomaly-smoke-/);

      // The mode is live: switched off without a restart, the gateway refuses to run it.
      const off = await gw.cli(['settings', 'set', 'anomaly_detection=off']);
      assert.equal(off.code, 0, off.stderr);
      await settle(gw);
      const smokeOff = await runCli(['anomaly', 'smoke'], {
        cwd: gw.dir,
        env: {
          ...gw.env,
          PORTCULLIS_PROXY_LISTEN: `127.0.0.1:${proxyPort}`,
          PORTCULLIS_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        },
      });
      assert.notEqual(smokeOff.code, 0);
      assert.match(smokeOff.stderr, /conflict/);
    });
  });
}

describe('one anomaly detector across instances sharing Redis', { skip: redis.skip }, () => {
  const gateways: GatewayProcess[] = [];
  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
  });
  const INTERVAL_MS = 2_000;
  const leads = (gw: GatewayProcess) => gw.output().includes('anomaly detector: this instance leads');

  it('exactly one instance leads; when it is killed another takes over within two intervals', async () => {
    const dir = tempDir();
    const env = {
      PORTCULLIS_REDIS_URL: REDIS_URL,
      PORTCULLIS_SECRET_KEY: randomBytes(32).toString('hex'),
      PORTCULLIS_ANOMALY_INTERVAL: `${INTERVAL_MS}`,
    };
    gateways.push(await startGateway({ dir, env }));
    gateways.push(await startGateway({ dir, env }));
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    // Both have tried the lease several times by now.
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    assert.equal([a, b].filter(leads).length, 1, 'exactly one leader');
    const [leader, follower] = leads(a) ? [a, b] : [b, a];

    await leader.stop('SIGKILL'); // no clean hand-over: the lease has to run out
    const killed = Date.now();
    while (!leads(follower) && Date.now() - killed < 5 * INTERVAL_MS)
      await new Promise((r) => setTimeout(r, 50));
    const handover = Date.now() - killed;
    process.stdout.write(`# leader hand-over after kill: ${handover} ms (interval ${INTERVAL_MS} ms)\n`);
    assert.ok(leads(follower), 'the survivor took over');
    // The bound is two intervals; a second more for a loaded machine scheduling the survivor late.
    assert.ok(handover <= 2 * INTERVAL_MS + 1_000, `hand-over took ${handover} ms`);
  });
});
