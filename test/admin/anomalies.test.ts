import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Finding } from '../../src/anomaly/detector.js';
import type { RunResult } from '../../src/anomaly/service.js';
import type { AnomalyRecord } from '../../src/store/types.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const HOUR = 3_600_000;
/** Twelve hours before the harness clock (2026-01-01T00:00:00Z). */
const T = Date.parse('2025-12-31T12:00:00Z');

function anomaly(id: string, extra: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    id,
    signal: 'burst',
    identityKind: 'key',
    identity: 'key_a',
    bucketStart: T - 60_000,
    intervalMs: 60_000,
    detectedAt: T,
    lastSeenAt: T,
    occurrences: 1,
    score: 9.5,
    observed: 420,
    expected: 40,
    explanation: 'key key_a sent 420 requests in 60 s (expected about 40)',
    evidence: {
      metric: 'requests',
      observed: 420,
      expected: 40,
      stddev: 4,
      threshold: 80,
      history: 'own',
      requests: 420,
      series: [38, 41, 40, 420],
    },
    action: 'recorded',
    blockId: null,
    blockExpiresAt: null,
    alertId: null,
    status: 'open',
    resolvedAt: null,
    resolvedBy: null,
    resolutionNote: null,
    ...extra,
  };
}

forEachDialect('admin API /anomalies', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  const ids = (answer: { body: { items: Array<{ id: string }> } }) => answer.body.items.map((a) => a.id);
  const list = async (query: Record<string, string | number> = {}) => {
    const answer = await h.call('GET', '/anomalies', { query, token: h.tokens.viewer });
    assert.equal(answer.status, 200, answer.text);
    return answer;
  };
  const resolve = (id: string, body?: unknown, token?: string) =>
    h.call('POST', `/anomalies/${id}/resolve`, { ...(body === undefined ? {} : { body }), token });

  describe('200', () => {
    // First in the suite: it lists the whole table.
    it('lists newest first, filters by status, signal, identity and time, and pages by cursor', async () => {
      const records = [
        anomaly('anm_list1', { detectedAt: T - 5 * HOUR }),
        anomaly('anm_list2', {
          signal: 'auth_failures',
          identityKind: 'ip',
          identity: '203.0.113.7',
          detectedAt: T - 4 * HOUR,
          status: 'resolved',
          resolvedAt: T - 3 * HOUR,
          resolvedBy: 'token:tok_x',
          resolutionNote: 'pen test',
          // A figure the detector may add later is passed through as stored.
          evidence: { metric: 'auth_failures', observed: 420, series: [0, 420], ratio: 0.9 },
        }),
        anomaly('anm_list3', {
          signal: 'error_rate',
          identityKind: 'client',
          identity: 'acme',
          detectedAt: T - 3 * HOUR,
        }),
        // Two in the same millisecond: the page boundary falls between them.
        anomaly('anm_list4', { signal: 'key_sharing', detectedAt: T - 2 * HOUR }),
        anomaly('anm_list5', {
          signal: 'rate_limited',
          identityKind: 'user',
          identity: 'u1',
          detectedAt: T - 2 * HOUR,
        }),
        anomaly('anm_list6', { identityKind: 'ip', identity: '2001:db8::/64', detectedAt: T - HOUR }),
      ];
      for (const r of records) await h.store.anomalies.insert(r);

      const all = await list();
      assert.deepEqual(ids(all), [
        'anm_list6',
        'anm_list5',
        'anm_list4',
        'anm_list3',
        'anm_list2',
        'anm_list1',
      ]);
      assert.equal(all.body.nextCursor, null);
      assert.deepEqual(all.body.items[4], {
        id: 'anm_list2',
        signal: 'auth_failures',
        identityKind: 'ip',
        identity: '203.0.113.7',
        bucketStart: '2025-12-31T11:59:00.000Z',
        intervalMs: 60_000,
        detectedAt: '2025-12-31T08:00:00.000Z',
        lastSeenAt: '2025-12-31T12:00:00.000Z',
        occurrences: 1,
        score: 9.5,
        observed: 420,
        expected: 40,
        explanation: 'key key_a sent 420 requests in 60 s (expected about 40)',
        evidence: { metric: 'auth_failures', observed: 420, series: [0, 420], ratio: 0.9 },
        action: 'recorded',
        blockId: null,
        blockExpiresAt: null,
        alertId: null,
        status: 'resolved',
        resolvedAt: '2025-12-31T09:00:00.000Z',
        resolvedBy: 'token:tok_x',
        resolutionNote: 'pen test',
      });

      assert.deepEqual(ids(await list({ status: 'resolved' })), ['anm_list2']);
      assert.deepEqual(ids(await list({ status: 'open' })), [
        'anm_list6',
        'anm_list5',
        'anm_list4',
        'anm_list3',
        'anm_list1',
      ]);
      assert.deepEqual(ids(await list({ signal: 'burst' })), ['anm_list6', 'anm_list1']);
      assert.deepEqual(ids(await list({ identityKind: 'key' })), ['anm_list4', 'anm_list1']);
      assert.deepEqual(ids(await list({ identityKind: 'ip', identity: '2001:db8::/64' })), ['anm_list6']);
      assert.deepEqual(ids(await list({ identity: 'acme' })), ['anm_list3']);
      assert.deepEqual(ids(await list({ signal: 'burst', status: 'resolved' })), []);
      assert.deepEqual(ids(await list({ since: '2025-12-31T08:30:00Z' })), [
        'anm_list6',
        'anm_list5',
        'anm_list4',
        'anm_list3',
      ]);
      assert.deepEqual(ids(await list({ until: '2025-12-31T10:00:00Z' })), [
        'anm_list3',
        'anm_list2',
        'anm_list1',
      ]);
      // A duration ago, from the clock (2026-01-01T00:00Z): 14h ago is 10:00, inclusive.
      assert.deepEqual(ids(await list({ since: '14h' })), ['anm_list6', 'anm_list5', 'anm_list4']);

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await list({ limit: 2, ...(cursor ? { cursor } : {}) });
        assert.ok(page.body.items.length <= 2);
        seen.push(...ids(page));
        cursor = page.body.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids(all));

      // Filters hold across pages; an anomaly detected after the first page does not shift the rest.
      const first = await list({ status: 'open', limit: 3 });
      assert.deepEqual(ids(first), ['anm_list6', 'anm_list5', 'anm_list4']);
      await h.store.anomalies.insert(anomaly('anm_list7', { detectedAt: T }));
      const second = await list({ status: 'open', limit: 3, cursor: first.body.nextCursor });
      assert.deepEqual(ids(second), ['anm_list3', 'anm_list1']);
      assert.equal(second.body.nextCursor, null);
    });

    it('shows an anomaly with its alert’s deliveries (webhook origin only) and the block in force', async () => {
      const now = h.clock.now();
      const block = await h.store.blocks.upsert({
        id: 'blk_detail',
        kind: 'key',
        value: 'key_detail',
        reason: 'anomaly anm_detail: burst',
        source: 'anomaly',
        expiresAt: now + HOUR,
      });
      const delivery = {
        kind: 'anomaly',
        status: 'delivered' as const,
        attempts: 1,
        lastStatus: 200,
        lastError: null,
      };
      await h.store.alertDeliveries.insert({
        ...delivery,
        id: 'dlv_1',
        alertId: 'alr_detail',
        url: 'https://hooks.example.com',
        createdAt: now - 2000,
        finishedAt: now - 1900,
      });
      // Written by something other than the gateway's recorder: the path (the secret) must not show.
      await h.store.alertDeliveries.insert({
        ...delivery,
        id: 'dlv_2',
        alertId: 'alr_detail',
        url: 'https://hooks.example.com/services/T000/B000/s3cr3tpath',
        status: 'failed',
        attempts: 4,
        lastStatus: 500,
        lastError: 'receiver answered 500',
        createdAt: now - 1000,
        finishedAt: now - 500,
      });
      await h.store.alertDeliveries.insert({
        ...delivery,
        id: 'dlv_other',
        alertId: 'alr_other',
        url: 'https://hooks.example.com',
        createdAt: now,
        finishedAt: now,
      });
      await h.store.anomalies.insert(
        anomaly('anm_detail', {
          identity: 'key_detail',
          action: 'blocked',
          blockId: 'blk_detail',
          blockExpiresAt: now + HOUR,
          alertId: 'alr_detail',
        }),
      );

      const shown = await h.call('GET', '/anomalies/anm_detail', { token: h.tokens.viewer });
      assert.equal(shown.status, 200, shown.text);
      assert.ok(!shown.text.includes('s3cr3tpath'), 'no webhook path');
      assert.equal(shown.body.id, 'anm_detail');
      assert.equal(shown.body.blockExpiresAt, new Date(now + HOUR).toISOString());
      assert.deepEqual(shown.body.evidence.series, [38, 41, 40, 420]);
      assert.deepEqual(shown.body.deliveries, [
        {
          id: 'dlv_2',
          kind: 'anomaly',
          url: 'https://hooks.example.com',
          status: 'failed',
          attempts: 4,
          lastStatus: 500,
          lastError: 'receiver answered 500',
          createdAt: new Date(now - 1000).toISOString(),
          finishedAt: new Date(now - 500).toISOString(),
        },
        {
          id: 'dlv_1',
          kind: 'anomaly',
          url: 'https://hooks.example.com',
          status: 'delivered',
          attempts: 1,
          lastStatus: 200,
          lastError: null,
          createdAt: new Date(now - 2000).toISOString(),
          finishedAt: new Date(now - 1900).toISOString(),
        },
      ]);
      assert.deepEqual(shown.body.block, (await h.call('GET', `/blocks/${block.id}`)).body);

      // No alert, no block: empty deliveries and a null block.
      await h.store.anomalies.insert(anomaly('anm_plain'));
      const plain = await h.call('GET', '/anomalies/anm_plain');
      assert.equal(plain.status, 200, plain.text);
      assert.deepEqual([plain.body.deliveries, plain.body.block], [[], null]);

      // A block that expired (not yet pruned) or was lifted is no longer shown.
      await h.store.blocks.upsert({
        id: 'blk_expired',
        kind: 'user',
        value: 'u-expired',
        reason: 'anomaly anm_expired: burst',
        source: 'anomaly',
        expiresAt: now - 1,
      });
      await h.store.anomalies.insert(anomaly('anm_expired', { action: 'blocked', blockId: 'blk_expired' }));
      await h.store.anomalies.insert(anomaly('anm_lifted', { action: 'blocked', blockId: 'blk_gone' }));
      assert.equal((await h.call('GET', '/anomalies/anm_expired')).body.block, null);
      assert.equal((await h.call('GET', '/anomalies/anm_lifted')).body.block, null);
    });

    it('resolves an anomaly, lifting its own block but no block someone else put there', async () => {
      const block = (id: string, value: string, reason: string, source: 'anomaly' | 'manual') =>
        h.store.blocks.upsert({ id, kind: 'ip', value, reason, source, expiresAt: null });
      await block('blk_own', '198.51.100.1/32', 'anomaly anm_res_own: burst', 'anomaly');
      await block('blk_manual', '198.51.100.2/32', 'scanner', 'manual');
      await block('blk_foreign', '198.51.100.3/32', 'anomaly anm_elsewhere: burst', 'anomaly');
      await block('blk_keep', '198.51.100.4/32', 'anomaly anm_res_keep: burst', 'anomaly');
      const blocked = (id: string, blockId: string) =>
        anomaly(id, { identityKind: 'ip', action: 'blocked', blockId, alertId: `alr_${id}` });
      await h.store.anomalies.insert(blocked('anm_res_own', 'blk_own'));
      await h.store.anomalies.insert(blocked('anm_res_manual', 'blk_manual'));
      await h.store.anomalies.insert(blocked('anm_res_foreign', 'blk_foreign'));
      await h.store.anomalies.insert(blocked('anm_res_keep', 'blk_keep'));
      await h.store.anomalies.insert(anomaly('anm_res_nobody'));

      const own = await resolve('anm_res_own', { note: '  false alarm: load test  ' });
      assert.equal(own.status, 200, own.text);
      assert.equal(own.body.liftedBlock, 'blk_own');
      assert.equal(own.body.anomaly.id, 'anm_res_own');
      assert.equal(own.body.anomaly.status, 'resolved');
      assert.equal(own.body.anomaly.resolvedAt, new Date(h.clock.now()).toISOString());
      assert.match(own.body.anomaly.resolvedBy, /^token:/);
      assert.equal(own.body.anomaly.resolutionNote, 'false alarm: load test');
      assert.equal(await h.store.blocks.get('blk_own'), undefined);
      assert.deepEqual((await h.call('GET', '/anomalies/anm_res_own')).body, {
        ...own.body.anomaly,
        deliveries: [],
        block: null,
      });

      for (const [id, blockId] of [
        ['anm_res_manual', 'blk_manual'],
        ['anm_res_foreign', 'blk_foreign'],
      ] as const) {
        const answer = await resolve(id, {});
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.liftedBlock, null, id);
        assert.equal(answer.body.anomaly.status, 'resolved');
        assert.equal(answer.body.anomaly.resolutionNote, null);
        assert.ok(await h.store.blocks.get(blockId), `${blockId} stays`);
      }

      const kept = await resolve('anm_res_keep', { keepBlock: true });
      assert.equal(kept.status, 200, kept.text);
      assert.deepEqual([kept.body.liftedBlock, kept.body.anomaly.status], [null, 'resolved']);
      assert.ok(await h.store.blocks.get('blk_keep'), 'keepBlock leaves the block');
      assert.equal((await h.call('GET', '/anomalies/anm_res_keep')).body.block.id, 'blk_keep');

      const noBody = await resolve('anm_res_nobody');
      assert.equal(noBody.status, 200, noBody.text);
      assert.equal(noBody.body.anomaly.status, 'resolved');

      // Again: nothing changes, and it says so by answering the anomaly as it is.
      h.clock.advance(1000);
      const again = await resolve('anm_res_own', { note: 'second thoughts' });
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.body, { anomaly: own.body.anomaly, liftedBlock: null });

      const audit = await h.store.auditLog.list({});
      const resolved = audit.filter((e) => e.action === 'anomalies.resolve' && e.targetId === 'anm_res_own');
      assert.equal(resolved.length, 1, JSON.stringify(resolved));
      assert.match(resolved[0]?.actor ?? '', /^token:/);
      const lifted = audit.filter((e) => e.action === 'blocks.remove' && e.targetId === 'blk_own');
      assert.equal(lifted.length, 1);
      assert.equal(lifted[0]?.actor, resolved[0]?.actor);
    });

    it('runs the detector of a running gateway and answers what it found and recorded', async () => {
      const now = h.clock.now();
      const evidence: Finding['evidence'] = {
        metric: 'requests',
        observed: 900,
        expected: 50,
        stddev: 5,
        threshold: 100,
        history: 'floor',
        requests: 900,
        series: [900],
      };
      const finding: Finding = {
        signal: 'burst',
        kind: 'ip',
        value: '192.0.2.9',
        identity: 'i:192.0.2.9',
        bucket: Math.floor(now / 60_000),
        observed: 900,
        expected: 50,
        score: 170,
        explanation: '192.0.2.9 sent 900 requests (expected about 50)',
        evidence,
      };
      const recorded = anomaly('anm_run', {
        identityKind: 'ip',
        identity: '192.0.2.9',
        detectedAt: now,
        action: 'alerted',
        alertId: 'alr_run',
        evidence,
      });
      const result: RunResult = {
        bucketStart: finding.bucket * 60_000,
        intervalMs: 60_000,
        identities: 12,
        findings: [finding],
        anomalies: [recorded],
      };
      let runs = 0;
      h.deps.anomalies = {
        enabled: true,
        runNow: async () => {
          runs++;
          return result;
        },
      };
      try {
        const answer = await h.call('POST', '/anomalies/run');
        assert.equal(answer.status, 200, answer.text);
        assert.equal(runs, 1);
        assert.deepEqual(answer.body, {
          bucketStart: new Date(result.bucketStart).toISOString(),
          intervalMs: 60_000,
          identities: 12,
          findings: [
            {
              signal: 'burst',
              identityKind: 'ip',
              identity: '192.0.2.9',
              observed: 900,
              expected: 50,
              score: 170,
              explanation: '192.0.2.9 sent 900 requests (expected about 50)',
              evidence,
            },
          ],
          anomalies: [
            {
              ...anomaly('anm_run'),
              identityKind: 'ip',
              identity: '192.0.2.9',
              bucketStart: new Date(recorded.bucketStart).toISOString(),
              detectedAt: new Date(now).toISOString(),
              lastSeenAt: new Date(recorded.lastSeenAt).toISOString(),
              action: 'alerted',
              alertId: 'alr_run',
              evidence,
            },
          ],
        });
        const empty = await h.call('POST', '/anomalies/run', { body: {} });
        assert.equal(empty.status, 200, empty.text);
      } finally {
        delete h.deps.anomalies;
      }
    });
  });

  describe('400', () => {
    it('refuses filters and bodies of the wrong shape', async () => {
      for (const query of [
        { status: 'closed' },
        { signal: 'volcano' },
        { identityKind: 'asn' },
        { limit: 0 },
        { limit: 1001 },
        { identity_kind: 'key' },
        { colour: 'red' },
      ] as Array<Record<string, string | number>>) {
        const answer = await h.call('GET', '/anomalies', { query });
        assert.equal(answer.status, 400, JSON.stringify(query));
        assert.equal(answer.body.code, 'bad_request');
      }
      await h.store.anomalies.insert(anomaly('anm_bad_body'));
      for (const body of [
        { note: 'x', keep_block: true },
        { status: 'resolved' },
        { note: 5 },
        { note: '' },
        { note: 'x'.repeat(501) },
        { keepBlock: 'yes' },
        '{"note":',
        [],
      ]) {
        const answer = await resolve('anm_bad_body', body);
        assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'bad_request');
      }
      const run = await h.call('POST', '/anomalies/run', { body: { now: true } });
      assert.equal(run.status, 400, run.text);
      assert.equal((await h.store.anomalies.get('anm_bad_body'))?.status, 'open', 'nothing changed');
    });
  });

  describe('401/403', () => {
    it('needs a credential; a viewer reads but cannot resolve or run', async () => {
      await h.store.anomalies.insert(anomaly('anm_access'));
      for (const [method, path] of [
        ['GET', '/anomalies'],
        ['GET', '/anomalies/anm_access'],
        ['POST', '/anomalies/anm_access/resolve'],
        ['POST', '/anomalies/run'],
      ] as const) {
        const answer = await h.call(method, path, { token: null });
        assert.equal(answer.status, 401, `${method} ${path}`);
        assert.equal(answer.body.code, 'missing_credentials');
      }
      assert.equal((await h.call('GET', '/anomalies/anm_access', { token: h.tokens.viewer })).status, 200);
      h.deps.anomalies = {
        enabled: true,
        runNow: () => Promise.reject(new Error('a viewer must not get this far')),
      };
      try {
        for (const token of [h.tokens.viewer, h.tokens.verifier])
          for (const path of ['/anomalies/anm_access/resolve', '/anomalies/run']) {
            const answer = await h.call('POST', path, { body: {}, token });
            assert.equal(answer.status, 403, path);
            assert.equal(answer.body.code, 'forbidden');
          }
      } finally {
        delete h.deps.anomalies;
      }
      assert.equal((await h.store.anomalies.get('anm_access'))?.status, 'open');
    });
  });

  describe('404', () => {
    it('answers not_found for an unknown anomaly', async () => {
      for (const [method, path] of [
        ['GET', '/anomalies/anm_ghost'],
        ['POST', '/anomalies/anm_ghost/resolve'],
      ] as const) {
        const answer = await h.call(method, path);
        assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
        assert.match(answer.body.detail, /anm_ghost/);
      }
    });
  });

  describe('409', () => {
    it('cannot run without a detector (detection off, or the CLI’s local mode)', async () => {
      const answer = await h.call('POST', '/anomalies/run');
      assert.equal(answer.status, 409, answer.text);
      assert.equal(answer.body.code, 'conflict');
      assert.match(answer.headers['content-type'] as string, /^application\/problem\+json/);
      assert.match(answer.body.detail, /anomaly_detection/);
    });

    it('cannot run while detection is switched off live', async () => {
      let runs = 0;
      h.deps.anomalies = {
        enabled: false,
        runNow: async () => {
          runs++;
          throw new Error('must not run');
        },
      };
      try {
        const answer = await h.call('POST', '/anomalies/run');
        assert.equal(answer.status, 409, answer.text);
        assert.match(answer.body.detail, /anomalyDetection/);
        assert.equal(runs, 0);
      } finally {
        delete h.deps.anomalies;
      }
    });
  });

  describe('422', () => {
    it('names the field of a bad time, cursor or note and changes nothing', async () => {
      for (const [query, field] of [
        [{ since: 'yesterday' }, /^since: /],
        [{ until: '3 days' }, /^until: /],
        [{ cursor: '!!!' }, /^cursor: /],
        [{ cursor: Buffer.from('not-a-key').toString('base64url') }, /^cursor: /],
      ] as const) {
        const answer = await h.call('GET', '/anomalies', { query });
        assert.equal(answer.status, 422, `${JSON.stringify(query)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, field);
      }
      await h.store.anomalies.insert(anomaly('anm_bad_note'));
      for (const note of ['line\nbreak', 'bell\u0007', '   ', 'esc\u001b[31m']) {
        const answer = await resolve('anm_bad_note', { note });
        assert.equal(answer.status, 422, JSON.stringify(note));
        assert.match(answer.body.detail, /^note: /);
      }
      assert.equal((await h.store.anomalies.get('anm_bad_note'))?.status, 'open');
    });
  });
});
