import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentialHash } from '../../src/core/crypto.js';
import type { ApiKeyRecord } from '../../src/store/types.js';
import {
  type AdminHarness,
  assertCursorsRefused,
  assertPagesWalk,
  forEachDialect,
  walkPages,
} from '../helpers/admin-api.js';

const HOUR = 3_600_000;

/** The order of `/keys`: creation time, then id byte-wise. */
const byCreation = (a: ApiKeyRecord, b: ApiKeyRecord) =>
  a.createdAt - b.createdAt || Buffer.compare(Buffer.from(a.id), Buffer.from(b.id));
/** A cursor as the API encodes one. */
const encoded = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

forEachDialect('admin API /keys', (open) => {
  let h: AdminHarness;
  /** Every plaintext key issued in this suite: none may appear outside its create/rotate answer. */
  const issued: string[] = [];

  const create = async (body: Record<string, unknown> = {}) => {
    const answer = await h.call('POST', '/keys', { body: { client: 'app', ...body } });
    assert.equal(answer.status, 201, answer.text);
    issued.push(answer.body.key);
    return answer.body as { id: string; key: string; [field: string]: unknown };
  };
  const assertNoSecret = (what: string, text: string) => {
    for (const key of issued) {
      assert.ok(!text.includes(key), `${what} contains a key`);
      assert.ok(!text.includes(key.slice(9, 30)), `${what} contains the random part of a key`);
    }
  };

  before(async () => {
    h = await open();
    assert.equal((await h.call('POST', '/clients', { body: { name: 'App', id: 'app' } })).status, 201);
    assert.equal((await h.call('POST', '/clients', { body: { name: 'Other', id: 'other' } })).status, 201);
    await h.store.policies.insert({
      id: 'ten',
      algorithm: 'quota',
      limit: 10,
      period: 'day',
      key_by: ['key'],
      attach: [],
    } as unknown as Parameters<AdminHarness['store']['policies']['insert']>[0]);
  });
  after(() => h.close());

  describe('200/201', () => {
    it('issues a key with every field; the plaintext is in the create answer only', async () => {
      const answer = await h.call('POST', '/keys', {
        body: {
          client: 'app',
          environment: 'test',
          name: 'CI runner',
          scopes: ['orders:read', 'orders:write', 'orders:read'],
          expires: '90d',
          ipAllow: ['10.1.2.3/8', '2001:db8::/32'],
          ipDeny: ['10.9.0.0/16'],
          usesBudget: 1000,
          binding: 'multiple',
          maxIps: 3,
          bindPrefixV4: 24,
          bindPrefixV6: 64,
          policy: 'ten',
        },
      });
      assert.equal(answer.status, 201, answer.text);
      assert.equal(answer.headers['cache-control'], 'no-store');
      const key = answer.body;
      issued.push(key.key);
      assert.match(key.key, /^pcl_test_[A-Za-z0-9]{30}$/);
      assert.match(key.id, /^key_/);
      assert.equal(key.client, 'app');
      assert.equal(key.environment, 'test');
      assert.deepEqual(key.scopes, ['orders:read', 'orders:write']);
      assert.equal(key.expiresAt, new Date(h.clock.now() + 90 * 24 * HOUR).toISOString());
      assert.deepEqual(key.ipAllow, ['10.0.0.0/8', '2001:db8::/32']);
      assert.deepEqual(key.ipDeny, ['10.9.0.0/16']);
      assert.equal(key.usesBudget, 1000);
      assert.equal(key.binding, 'multiple');
      assert.equal(key.maxIps, 3);
      assert.equal(key.bindPrefixV4, 24);
      assert.equal(key.bindPrefixV6, 64);
      assert.equal(key.policy, 'ten');
      assert.equal(key.status, 'active');
      assert.equal(key.secrets.length, 1);
      assert.ok(key.key.startsWith(key.secrets[0].prefix));
      assert.ok(!('hash' in key) && !('hash' in key.secrets[0]));

      const shown = await h.call('GET', `/keys/${key.id}`);
      assert.equal(shown.status, 200);
      const { key: _plaintext, ...view } = key;
      assert.deepEqual(shown.body, view);
      assertNoSecret('GET /keys/:id', shown.text);
      assertNoSecret('GET /keys', (await h.call('GET', '/keys')).text);
    });

    it('issues a key with the defaults (live, no scopes, never expires, binding off)', async () => {
      const key = await create();
      assert.match(key.key, /^pcl_live_/);
      assert.equal(key['environment'], 'live');
      assert.deepEqual(key['scopes'], []);
      assert.equal(key['expiresAt'], null);
      assert.equal(key['binding'], 'off');
      assert.equal(key['usesBudget'], null);
      assert.equal(key['policy'], null);
    });

    it('lists keys by client, status and environment, paged by cursor', async () => {
      const mine = [await create(), await create(), await create({ environment: 'test' })];
      const theirs = await h.call('POST', '/keys', { body: { client: 'other' } });
      issued.push(theirs.body.key);
      const all = await h.call('GET', '/keys');
      assert.equal(all.status, 200);
      assert.ok(all.body.items.length >= 5);
      assertNoSecret('GET /keys', all.text);

      const others = await h.call('GET', '/keys', { query: { client: 'other' } });
      assert.deepEqual(
        others.body.items.map((k: { id: string }) => k.id),
        [theirs.body.id],
      );
      const testKeys = await h.call('GET', '/keys', { query: { client: 'app', environment: 'test' } });
      assert.ok(testKeys.body.items.every((k: { environment: string }) => k.environment === 'test'));
      assert.ok(testKeys.body.items.some((k: { id: string }) => k.id === mine[2]?.id));
      assert.equal((await h.call('GET', '/keys', { query: { client: 'nobody' } })).body.items.length, 0);

      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await h.call('GET', '/keys', { query: { limit: 2, ...(cursor ? { cursor } : {}) } });
        assert.equal(page.status, 200);
        assert.ok(page.body.items.length <= 2);
        seen.push(...page.body.items.map((k: { id: string }) => k.id));
        cursor = page.body.nextCursor ?? undefined;
      } while (cursor);
      assert.deepEqual(
        seen,
        all.body.items.map((k: { id: string }) => k.id),
      );
      assert.equal(new Set(seen).size, seen.length);
    });

    it('walks every key exactly once at any page size, with and without filters', async () => {
      // Keys issued in one millisecond: pages must split them by id alone.
      const made = [
        await create(),
        await create({ environment: 'test' }),
        await create(),
        await create({ client: 'other', environment: 'test' }),
      ];
      const revoked = await h.call('POST', `/keys/${made[2]?.id}/revoke`, { body: { reason: 'walk' } });
      assert.equal(revoked.status, 200, revoked.text);
      // Two secrets of one creation time on one key: the list shows them as the key's own page does.
      const rotated = await h.call('POST', `/keys/${made[0]?.id}/rotate`, { body: { grace: '1h' } });
      assert.equal(rotated.status, 201, rotated.text);
      issued.push(rotated.body.key);
      h.clock.advance(1);
      await create({ client: 'other' });

      /** What `/keys` lists for `query`: the stored keys, filtered, in page order. */
      const expected = async (query: Record<string, string>) =>
        (await h.store.apiKeys.list(query['client'] !== undefined ? { clientId: query['client'] } : {}))
          .filter(
            (k) =>
              (query['status'] === undefined || k.status === query['status']) &&
              (query['environment'] === undefined || k.environment === query['environment']),
          )
          .sort(byCreation)
          .map((k) => k.id);
      const walk = (query: Record<string, string>, limit: number) =>
        walkPages<{ id: string; secrets: unknown[] }>(h, '/keys', query, limit);

      const queries: Array<Record<string, string>> = [
        {},
        { client: 'app' },
        { client: 'other' },
        { status: 'revoked' },
        { environment: 'test' },
        { client: 'app', status: 'active', environment: 'live' },
        { client: 'nobody' },
      ];
      await assertPagesWalk(h, '/keys', queries, expected);
      assert.ok((await expected({})).length >= 10);

      // Each listed key exactly as its own page shows it, secrets and their order included.
      const { items } = await walk({}, 4);
      assert.equal(items.find((k) => k.id === made[0]?.id)?.secrets.length, 2);
      for (const item of items) assert.deepEqual(item, (await h.call('GET', `/keys/${item.id}`)).body);
      assertNoSecret('GET /keys pages', JSON.stringify(items));
    });

    it('continues from a cursor in the form it always had (15-digit time, a space, the id)', async () => {
      const all = (await h.store.apiKeys.list()).sort(byCreation);
      assert.ok(all.length > 3);
      const third = all[2] as ApiKeyRecord;
      const cursor = encoded(`${String(third.createdAt).padStart(15, '0')} ${third.id}`);
      const first = await h.call('GET', '/keys', { query: { limit: 3 } });
      assert.equal(first.body.nextCursor, cursor);
      const rest = await h.call('GET', '/keys', { query: { cursor, limit: 1000 } });
      assert.equal(rest.status, 200, rest.text);
      assert.deepEqual(
        rest.body.items.map((k: { id: string }) => k.id),
        all.slice(3).map((k) => k.id),
      );
      assert.equal(rest.body.nextCursor, null);
    });

    it('changes a key field by field, as `keys update` does', async () => {
      const key = await create();
      const patch = async (body: Record<string, unknown>) => {
        const answer = await h.call('PATCH', `/keys/${key.id}`, { body });
        assert.equal(answer.status, 200, `${JSON.stringify(body)}: ${answer.text}`);
        assertNoSecret('PATCH /keys/:id', answer.text);
        return answer.body;
      };
      assert.equal((await patch({ name: 'renamed' })).name, 'renamed');
      assert.deepEqual((await patch({ scopes: ['a', 'b'] })).scopes, ['a', 'b']);
      assert.equal((await patch({ expires: '2001-01-01T00:00:00Z' })).expiresAt, '2001-01-01T00:00:00.000Z');
      assert.equal((await patch({ expires: 'never' })).expiresAt, null);
      assert.deepEqual((await patch({ ipAllow: ['192.168.1.7/24'] })).ipAllow, ['192.168.1.0/24']);
      assert.deepEqual((await patch({ ipAllow: [] })).ipAllow, []);
      assert.deepEqual((await patch({ ipDeny: ['203.0.113.9'] })).ipDeny, ['203.0.113.9/32']);
      assert.equal((await patch({ usesBudget: 5 })).usesBudget, 5);
      assert.equal((await patch({ usesBudget: null })).usesBudget, null);
      const bound = await patch({ binding: 'multiple', maxIps: 4, bindPrefixV4: 24 });
      assert.deepEqual([bound.binding, bound.maxIps, bound.bindPrefixV4], ['multiple', 4, 24]);
      assert.equal((await patch({ bindPrefixV4: null })).bindPrefixV4, null);
      assert.equal((await patch({ binding: 'single' })).binding, 'single');
      assert.equal((await patch({ policy: 'ten' })).policy, 'ten');
      assert.equal((await patch({ policy: null })).policy, null);
      const unchanged = await patch({});
      assert.equal(unchanged.name, 'renamed');
    });

    it('revokes a key with a reason', async () => {
      const key = await create();
      const revoked = await h.call('POST', `/keys/${key.id}/revoke`, {
        body: { reason: 'leaked in a screenshot' },
      });
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.body.status, 'revoked');
      assert.equal(revoked.body.revokedReason, 'leaked in a screenshot');
      const stored = await h.store.apiKeys.get(key.id);
      assert.equal(stored?.revokedAt, h.clock.now());
      const listed = await h.call('GET', '/keys', { query: { status: 'revoked' } });
      assert.ok(listed.body.items.some((k: { id: string }) => k.id === key.id));
      const active = await h.call('GET', '/keys', { query: { status: 'active' } });
      assert.ok(!active.body.items.some((k: { id: string }) => k.id === key.id));
    });

    it('rotates: a new secret once, the same key (lineage), the old secret ends after the grace', async () => {
      const key = await create({ usesBudget: 10, scopes: ['x'] });
      const rotated = await h.call('POST', `/keys/${key.id}/rotate`, { body: { grace: '2h' } });
      assert.equal(rotated.status, 201, rotated.text);
      issued.push(rotated.body.key);
      assert.equal(rotated.body.id, key.id);
      assert.notEqual(rotated.body.key, key.key);
      assert.match(rotated.body.key, /^pcl_live_/);
      assert.ok(rotated.body.key.startsWith(rotated.body.prefix));
      const retireAt = new Date(h.clock.now() + 2 * HOUR).toISOString();
      assert.equal(rotated.body.oldSecretsExpireAt, retireAt);

      // Both secrets resolve to the same key record: limits, budget and usage follow the key.
      for (const secret of [key.key, rotated.body.key]) {
        const found = await h.store.apiKeys.findByHash(credentialHash(h.deps.keys, secret));
        assert.equal(found?.key.id, key.id);
      }
      const shown = await h.call('GET', `/keys/${key.id}`);
      assert.equal(shown.body.secrets.length, 2);
      assert.deepEqual(
        shown.body.secrets.map((s: { expiresAt: string | null }) => s.expiresAt).sort(),
        [retireAt, null].sort(),
      );
      assert.equal(shown.body.usesBudget, 10);
      assert.deepEqual(shown.body.scopes, ['x']);
      assertNoSecret('GET /keys/:id after rotation', shown.text);

      const defaultGrace = await h.call('POST', `/keys/${key.id}/rotate`);
      assert.equal(defaultGrace.status, 201, defaultGrace.text);
      issued.push(defaultGrace.body.key);
      assert.equal(defaultGrace.body.oldSecretsExpireAt, new Date(h.clock.now() + 24 * HOUR).toISOString());
    });

    it("reports a key's usage by bucket, route, status class and refusal code", async () => {
      const key = await create();
      const other = await create();
      const now = h.clock.now();
      const hour = Math.floor((now - 30 * 60_000) / HOUR) * HOUR;
      const row = (keyId: string, routeId: string, statusClass: string, code: string, requests: number) => ({
        granularity: 'hour' as const,
        bucket: hour,
        keyId,
        clientId: 'app',
        routeId,
        statusClass,
        code,
        requests,
        bytesIn: requests * 10,
        bytesOut: requests * 100,
        latency: [],
      });
      await h.store.usage.add([
        row(key.id, 'orders', '2xx', '', 5),
        row(key.id, 'orders', '4xx', 'rate_limited', 2),
        row(key.id, '', '4xx', 'no_route', 1),
        row(other.id, 'orders', '2xx', '', 50),
        { ...row(key.id, 'orders', '2xx', '', 7), bucket: hour - 48 * HOUR },
      ]);
      const usage = await h.call('GET', `/keys/${key.id}/usage`);
      assert.equal(usage.status, 200, usage.text);
      assert.equal(usage.body.keyId, key.id);
      assert.equal(usage.body.clientId, 'app');
      assert.equal(usage.body.by, 'hour');
      assert.equal(usage.body.since, new Date(now - 24 * HOUR).toISOString());
      assert.equal(usage.body.until, null);
      assert.deepEqual(usage.body.buckets, [
        {
          bucket: new Date(hour).toISOString(),
          requests: 8,
          status: { '2xx': 5, '4xx': 3 },
          denied: { rate_limited: 2, no_route: 1 },
          routes: { orders: 7, '(none)': 1 },
          bytesIn: 80,
          bytesOut: 800,
        },
      ]);
      const general = await h.call('GET', '/usage', { query: { key: key.id } });
      assert.deepEqual(general.body.buckets, usage.body.buckets, 'the same answer as GET /usage?key=');
      const longer = await h.call('GET', `/keys/${key.id}/usage`, { query: { since: '7d', by: 'hour' } });
      assert.equal(longer.body.buckets.length, 2);
      assert.equal(longer.body.buckets[0].requests, 7, 'oldest first');
      const none = await h.call('GET', `/keys/${key.id}/usage`, { query: { by: 'minute' } });
      assert.deepEqual(none.body.buckets, []);
    });
  });

  describe('400', () => {
    it('refuses bodies of the wrong shape and unknown fields', async () => {
      const id = (await create()).id;
      for (const [method, path, body] of [
        ['POST', '/keys', {}],
        ['POST', '/keys', { client: 42 }],
        ['POST', '/keys', { client: 'app', colour: 'red' }],
        ['POST', '/keys', { client: 'app', environment: 'prod' }],
        ['POST', '/keys', { client: 'app', scopes: 'a,b' }],
        ['POST', '/keys', { client: 'app', usesBudget: '5' }],
        ['POST', '/keys', { client: 'app', binding: 'sometimes' }],
        ['POST', '/keys', { client: 'app', key: 'pcl_live_mine' }],
        ['POST', '/keys', '{"client":'],
        ['PATCH', `/keys/${id}`, { status: 'active' }],
        ['PATCH', `/keys/${id}`, { ipAllow: '10.0.0.0/8' }],
        ['PATCH', `/keys/${id}`, { maxIps: 2.5 }],
        ['POST', `/keys/${id}/revoke`, {}],
        ['POST', `/keys/${id}/revoke`, { reason: 'x', extra: true }],
        ['POST', `/keys/${id}/rotate`, { grace: 3600 }],
      ] as const) {
        const answer = await h.call(method, path, { body });
        assert.equal(answer.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'bad_request');
      }
      const badQuery = await h.call('GET', '/keys', { query: { status: 'lost' } });
      assert.equal(badQuery.status, 400);
      const badBy = await h.call('GET', `/keys/${id}/usage`, { query: { by: 'week' } });
      assert.equal(badBy.status, 400);
    });
  });

  describe('401/403', () => {
    it('asks for a credential', async () => {
      const answer = await h.call('GET', '/keys', { token: null });
      assert.equal(answer.status, 401);
      assert.equal(answer.body.code, 'missing_credentials');
    });

    it('lets a viewer read keys but not change them', async () => {
      const key = await create();
      const viewer = h.tokens.viewer;
      assert.equal((await h.call('GET', '/keys', { token: viewer })).status, 200);
      assert.equal((await h.call('GET', `/keys/${key.id}`, { token: viewer })).status, 200);
      assert.equal((await h.call('GET', `/keys/${key.id}/usage`, { token: viewer })).status, 200);
      for (const [method, path, body] of [
        ['POST', '/keys', { client: 'app' }],
        ['PATCH', `/keys/${key.id}`, { name: 'x' }],
        ['POST', `/keys/${key.id}/revoke`, { reason: 'x' }],
        ['POST', `/keys/${key.id}/rotate`, {}],
      ] as const) {
        const answer = await h.call(method, path, { body, token: viewer });
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal(answer.body.code, 'forbidden');
      }
      const unchanged = await h.call('GET', `/keys/${key.id}`);
      assert.equal(unchanged.body.status, 'active');
      assert.equal(unchanged.body.secrets.length, 1);
    });

    it('refuses a verifier token on every keys endpoint', async () => {
      const key = await create();
      for (const [method, path, body] of [
        ['GET', '/keys', undefined],
        ['GET', `/keys/${key.id}`, undefined],
        ['GET', `/keys/${key.id}/usage`, undefined],
        ['POST', '/keys', { client: 'app' }],
        ['PATCH', `/keys/${key.id}`, { name: 'x' }],
        ['POST', `/keys/${key.id}/revoke`, { reason: 'x' }],
        ['POST', `/keys/${key.id}/rotate`, {}],
      ] as const) {
        const answer = await h.call(method, path, { body, token: h.tokens.verifier });
        assert.equal(answer.status, 403, `${method} ${path}`);
        assert.equal(answer.body.code, 'forbidden');
      }
    });
  });

  describe('404', () => {
    it('answers not_found for an unknown key on every verb', async () => {
      for (const [method, path, body] of [
        ['GET', '/keys/key_ghost', undefined],
        ['PATCH', '/keys/key_ghost', { name: 'x' }],
        ['POST', '/keys/key_ghost/revoke', { reason: 'x' }],
        ['POST', '/keys/key_ghost/rotate', {}],
        ['GET', '/keys/key_ghost/usage', undefined],
      ] as const) {
        const answer = await h.call(method, path, { body });
        assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
      }
    });

    it('answers not_found for an unknown client or policy', async () => {
      const noClient = await h.call('POST', '/keys', { body: { client: 'ghost' } });
      assert.equal(noClient.status, 404, noClient.text);
      assert.match(noClient.body.detail, /client/);
      const noPolicy = await h.call('POST', '/keys', { body: { client: 'app', policy: 'ghost' } });
      assert.equal(noPolicy.status, 404);
      assert.match(noPolicy.body.detail, /policy "ghost"/);
      const key = await create();
      const patch = await h.call('PATCH', `/keys/${key.id}`, { body: { policy: 'ghost' } });
      assert.equal(patch.status, 404);
      assert.equal((await h.call('GET', `/keys/${key.id}`)).body.policy, null);
    });
  });

  describe('409', () => {
    it('refuses to revoke a revoked key again or to rotate it', async () => {
      const key = await create();
      await h.call('POST', `/keys/${key.id}/revoke`, { body: { reason: 'first' } });
      const again = await h.call('POST', `/keys/${key.id}/revoke`, { body: { reason: 'second' } });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'conflict');
      const rotate = await h.call('POST', `/keys/${key.id}/rotate`, {});
      assert.equal(rotate.status, 409);
      assert.equal(rotate.body.code, 'conflict');
      const shown = await h.call('GET', `/keys/${key.id}`);
      assert.equal(shown.body.revokedReason, 'first');
      assert.equal(shown.body.secrets.length, 1);
    });
  });

  describe('422', () => {
    it('names the field of an unacceptable value and issues nothing', async () => {
      const before = (await h.call('GET', '/keys', { query: { client: 'app' } })).body.items.length;
      for (const [body, field] of [
        [{ scopes: ['has space'] }, 'scopes'],
        [{ ipAllow: ['10.0.0.0/33'] }, 'ipAllow'],
        [{ ipDeny: ['not-a-cidr'] }, 'ipDeny'],
        [{ expires: 'soon' }, 'expires'],
        [{ expires: '2001-01-01T00:00:00Z' }, 'expires'],
        [{ usesBudget: -1 }, 'usesBudget'],
        [{ binding: 'multiple' }, 'maxIps'],
        [{ binding: 'multiple', maxIps: 0 }, 'maxIps'],
        [{ bindPrefixV4: 33 }, 'bindPrefixV4'],
        [{ bindPrefixV6: 129 }, 'bindPrefixV6'],
        [{ name: 'two\nlines' }, 'name'],
      ] as const) {
        const answer = await h.call('POST', '/keys', { body: { client: 'app', ...body } });
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, new RegExp(`^${field}: `), JSON.stringify(body));
      }
      assert.equal((await h.call('GET', '/keys', { query: { client: 'app' } })).body.items.length, before);
    });

    it('refuses unacceptable changes and changes nothing', async () => {
      const key = await create({ scopes: ['keep'], ipAllow: ['10.0.0.0/8'] });
      for (const [body, field] of [
        [{ scopes: ['ok', 'not ok'] }, 'scopes'],
        [{ ipAllow: ['10.0.0.0/8', '300.1.1.1'] }, 'ipAllow'],
        [{ ipDeny: ['::1/200'] }, 'ipDeny'],
        [{ expires: 'next tuesday' }, 'expires'],
        [{ usesBudget: -5 }, 'usesBudget'],
        [{ binding: 'multiple' }, 'maxIps'],
        [{ maxIps: 100000 }, 'maxIps'],
        [{ bindPrefixV6: -1 }, 'bindPrefixV6'],
        [{ name: '' }, 'name'],
        [{ scopes: ['fine'], ipAllow: ['bad'] }, 'ipAllow'],
      ] as const) {
        const answer = await h.call('PATCH', `/keys/${key.id}`, { body });
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.match(answer.body.detail, new RegExp(`^${field}: `), JSON.stringify(body));
      }
      const shown = await h.call('GET', `/keys/${key.id}`);
      assert.deepEqual(shown.body.scopes, ['keep']);
      assert.deepEqual(shown.body.ipAllow, ['10.0.0.0/8']);
      assert.equal(shown.body.binding, 'off');
    });

    it('refuses a keys cursor it did not issue', async () => {
      await assertCursorsRefused(h, '/keys', [
        '!!!',
        encoded('no position'),
        encoded('123 key_x'),
        encoded('0000000000000123 key_x'),
        encoded('000000000000123'),
        encoded('000000000000123 '),
        `${encoded('000000000000123 key_x')}=`,
      ]);
    });

    it('refuses a bad grace, usage window or reason', async () => {
      const key = await create();
      const grace = await h.call('POST', `/keys/${key.id}/rotate`, { body: { grace: 'a while' } });
      assert.equal(grace.status, 422);
      assert.match(grace.body.detail, /^grace: /);
      assert.equal((await h.call('GET', `/keys/${key.id}`)).body.secrets.length, 1);
      const since = await h.call('GET', `/keys/${key.id}/usage`, { query: { since: 'yesterday' } });
      assert.equal(since.status, 422);
      assert.match(since.body.detail, /^since: /);
      const reason = await h.call('POST', `/keys/${key.id}/revoke`, { body: { reason: '   ' } });
      assert.equal(reason.status, 422);
      assert.match(reason.body.detail, /^reason: /);
      assert.equal((await h.call('GET', `/keys/${key.id}`)).body.status, 'active');
    });
  });

  describe('secrets', () => {
    it('no key appears in any list, get or the audit log', async () => {
      assert.ok(issued.length >= 10);
      const ids = (await h.call('GET', '/keys')).body.items.map((k: { id: string }) => k.id) as string[];
      assertNoSecret('GET /keys', (await h.call('GET', '/keys')).text);
      for (const id of ids) assertNoSecret(`GET /keys/${id}`, (await h.call('GET', `/keys/${id}`)).text);
      const audit = await h.store.auditLog.list({});
      assert.ok(audit.some((e) => e.action === 'apiKeys.insert'));
      assert.ok(audit.some((e) => e.action === 'apiKeys.rotate'));
      assert.ok(audit.some((e) => e.action === 'apiKeys.update'));
      assert.ok(audit.filter((e) => e.targetType === 'apiKeys').every((e) => e.actor.startsWith('token:')));
      assertNoSecret('the audit log', JSON.stringify(audit));
    });
  });
});
