/**
 * Admin API /instances, grouped by expected status: live instances from their heartbeats
 * (two registries on one state stand for two gateways), stale and departed ones gone, the
 * degraded rate-limit mode reported, 409 in the CLI's local mode, 503 when the state fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { API_PREFIX, registerAdminApi } from '../../src/admin/api/plugin.js';
import { ManualClock } from '../../src/core/clock.js';
import { InstanceRegistry } from '../../src/core/instances.js';
import { MemoryState } from '../../src/state/memory.js';
import { type AdminHarness, adminHarness } from '../helpers/admin-api.js';

const logger = pino({ level: 'silent' });
const STARTED = Date.parse('2026-01-01T00:00:00Z');

describe('admin API /instances', () => {
  let h: AdminHarness;
  let clock: ManualClock;
  let state: MemoryState;
  let self: InstanceRegistry;
  let other: InstanceRegistry;
  let degraded: string | null = null;
  let app: FastifyInstance;

  /** GET /instances on `api` with a token (default viewer). */
  async function list(api = app, token: string | null = h.tokens.viewer) {
    const answer = await api.inject({
      method: 'GET',
      url: `${API_PREFIX}/instances`,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: answer.statusCode, body: JSON.parse(answer.body) };
  }

  async function apiWith(deps: Partial<AdminHarness['deps']>): Promise<FastifyInstance> {
    const api = Fastify({ logger: false });
    await registerAdminApi(api, { ...h.deps, ...deps }, { openapi: false });
    await api.ready();
    return api;
  }

  before(async () => {
    h = await adminHarness('sqlite');
    clock = new ManualClock(STARTED);
    state = new MemoryState({ clock });
    self = new InstanceRegistry({
      state,
      logger,
      version: '1.2.3',
      startedAt: STARTED,
      worker: 1,
      describe: () => ({ proxy: '0.0.0.0:8080', admin: '127.0.0.1:8081', degraded }),
    });
    other = new InstanceRegistry({ state, logger, version: '1.2.2', startedAt: STARTED + 1000 });
    await self.start();
    clock.advance(1000);
    await other.start();
    app = await apiWith({ state, instances: self });
  });
  after(async () => {
    await self.stop();
    await other.stop();
    await app.close();
    await state.close();
    await h.close();
  });

  describe('200', () => {
    it('lists every live instance with what it said, oldest start first, marking the one answering', async () => {
      const answer = await list();
      assert.equal(answer.status, 200);
      assert.equal(answer.body.state, 'memory');
      assert.deepEqual(answer.body.items, [
        {
          id: self.id,
          self: true,
          version: '1.2.3',
          host: answer.body.items[0].host,
          pid: process.pid,
          worker: 1,
          proxy: '0.0.0.0:8080',
          admin: '127.0.0.1:8081',
          startedAt: '2026-01-01T00:00:00.000Z',
          state: 'memory',
          degraded: null,
          lastBeatAt: '2026-01-01T00:00:00.000Z',
        },
        {
          id: other.id,
          self: false,
          version: '1.2.2',
          host: answer.body.items[0].host,
          pid: process.pid,
          worker: null,
          proxy: null,
          admin: null,
          startedAt: '2026-01-01T00:00:01.000Z',
          state: 'memory',
          degraded: null,
          lastBeatAt: '2026-01-01T00:00:01.000Z',
        },
      ]);
      assert.equal(typeof answer.body.items[0].host, 'string');
      assert.ok(answer.body.items[0].host.length > 0);
    });

    it('reports the degraded rate-limit mode from the next beat on', async () => {
      degraded = 'local';
      await self.beat();
      const answer = await list();
      assert.equal(answer.body.items.find((i: { self: boolean }) => i.self).degraded, 'local');
      degraded = null;
      await self.beat();
      assert.equal((await list()).body.items[0].degraded, null);
    });

    it('drops an instance after three missed beats, and one that stopped at once', async () => {
      // `other` stops beating: still listed within the ttl (6 s), gone after it.
      clock.advance(5_000);
      await self.beat();
      assert.equal((await list()).body.items.length, 2);
      clock.advance(1_500);
      await self.beat();
      assert.deepEqual(
        (await list()).body.items.map((i: { id: string }) => i.id),
        [self.id],
      );
      assert.equal(self.live, 1, 'the live count follows');

      const third = new InstanceRegistry({ state, logger, version: '1.2.3', startedAt: clock.now() });
      await third.start();
      assert.equal((await list()).body.items.length, 2);
      await third.stop();
      assert.deepEqual(
        (await list()).body.items.map((i: { id: string }) => i.id),
        [self.id],
      );
    });

    it('lists what it can read of an instance that sent no or unreadable info (another version)', async () => {
      await state.heartbeat('instances', 'old-version', 6_000);
      await state.heartbeat('instances', 'odd-version', 6_000, '{"version":7,"pid":"x","host":"h"}');
      const items = (await list()).body.items as Array<Record<string, unknown>>;
      const old = items.find((i) => i['id'] === 'old-version');
      assert.equal(old?.['version'], null);
      assert.equal(old?.['startedAt'], null);
      const odd = items.find((i) => i['id'] === 'odd-version');
      assert.equal(odd?.['version'], null);
      assert.equal(odd?.['pid'], null);
      assert.equal(odd?.['host'], 'h');
      await state.leave('instances', 'old-version');
      await state.leave('instances', 'odd-version');
    });
  });

  describe('401 / 403', () => {
    it('needs a credential, and the viewer role at least', async () => {
      assert.equal((await list(app, null)).status, 401);
      assert.equal((await list(app, h.tokens.verifier)).status, 403);
      assert.equal((await list(app, h.tokens.admin)).status, 200);
    });
  });

  describe('409', () => {
    it('in the CLI’s local mode there is no instance to ask', async () => {
      // The harness's own API is built like the CLI's local one: no registry.
      const answer = await h.call('GET', '/instances', { token: h.tokens.viewer });
      assert.equal(answer.status, 409);
      assert.equal(answer.body.code, 'conflict');
      assert.match(answer.body.detail, /--url/);
    });
  });

  describe('503', () => {
    it('when the shared state fails, as a store outage', async () => {
      const broken = new MemoryState({ clock });
      const registry = new InstanceRegistry({ state: broken, logger, version: 'x', startedAt: 0 });
      await broken.close();
      const api = await apiWith({ state: broken, instances: registry });
      try {
        const answer = await list(api);
        assert.equal(answer.status, 503);
        assert.equal(answer.body.code, 'store_unavailable');
      } finally {
        await api.close();
      }
    });
  });
});
