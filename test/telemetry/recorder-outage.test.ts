/**
 * A real database outage under a steady stream of records: PostgreSQL reached through a TCP
 * proxy that is stopped mid-stream (connections reset, then refused) and started again. The
 * recorder must never block the caller, lose nothing that fit in its queue, and catch up.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { systemClock } from '../../src/core/clock.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import type { Allow, RequestFacts } from '../../src/pipeline/types.js';
import { openStore } from '../../src/store/open-store.js';
import { RequestRecorder } from '../../src/telemetry/recorder.js';
import { POSTGRES_URL, postgresGate } from '../helpers/services.js';
import { TcpProxy } from '../state/tcp-proxy.js';

const pg = await postgresGate();

describe('recorder through a PostgreSQL outage', { skip: pg.skip }, () => {
  for (const writer of ['event loop', 'writer thread'] as const)
    it(`loses nothing that fit in the queue and recovers by itself (${writer})`, async () => {
      const target = new URL(POSTGRES_URL);
      const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
      await proxy.start();
      const viaProxy = new URL(POSTGRES_URL);
      viaProxy.port = String(proxy.port);
      const schema = `outage_${randomBytes(4).toString('hex')}`;
      const store = await openStore({ url: viaProxy.toString(), schema, poolSize: 2 });
      await store.migrate();
      const recorder = new RequestRecorder({
        store,
        clock: systemClock,
        logger: pino({ level: 'silent' }),
        enabled: true,
        queueSize: 5000,
        batchSize: 200,
        flushMs: 50,
        retentionDays: 30,
        accessLogSample: 0,
        ...(writer === 'writer thread' ? { thread: { url: viaProxy.toString(), schema, poolSize: 1 } } : {}),
      });
      recorder.start();
      const allow = {
        kind: 'allow',
        match: { route: { id: 'r' } },
        principal: { kind: 'anonymous', scopes: [] },
      } as unknown as Allow;
      let sent = 0;
      let slowest = 0;
      const send = (n: number) => {
        for (let i = 0; i < n; i++) {
          const started = performance.now();
          recorder.record({
            facts: {
              requestId: `o-${sent}`,
              door: 'gateway',
              method: 'GET',
              path: '/',
              rawHeaders: [],
              clientIp: '192.0.2.1',
              startedAt: 0,
            } as unknown as RequestFacts,
            decision: allow,
            status: 200,
            upstreamMs: 1,
            totalMs: 1,
            bytesOut: 0,
            upstreamError: undefined,
          } as Outcome);
          slowest = Math.max(slowest, performance.now() - started);
          sent++;
        }
      };
      try {
        send(500);
        await new Promise((r) => setTimeout(r, 300));
        await proxy.stop(); // database gone: connections reset, new ones refused
        for (let t = 0; t < 10; t++) {
          send(200);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(
          recorder.depth >= 2000 - 200,
          `records wait in the queue during the outage (${recorder.depth})`,
        );
        await proxy.start();
        const deadline = Date.now() + 40_000;
        while (recorder.depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.equal(recorder.depth, 0, 'caught up after the outage');
        assert.equal(recorder.dropped, 0);
        assert.equal(await store.requestLogs.count({}), sent, 'nothing lost, nothing doubled');
        assert.ok(slowest < 50, `recording never waited on the database (slowest ${slowest.toFixed(2)} ms)`);
      } finally {
        await recorder.stop(1000);
        await store.close();
        const cleanup = await openStore({ url: POSTGRES_URL });
        const { sql } = await import('kysely');
        await sql.raw(`drop schema if exists "${schema}" cascade`).execute(cleanup.db);
        await cleanup.close();
        await proxy.stop();
      }
    });
});
