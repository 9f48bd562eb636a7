/**
 * Admin API /audit on SQLite and PostgreSQL, grouped by expected status: filters, paging by
 * (time, id) cursor without repeats while changes keep being recorded, and no secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, createKey, issueHmacSecret, revokeKey } from '../../src/identity/operations.js';
import { auditedStore } from '../../src/telemetry/audit.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

interface Entry {
  id: string;
  at: string;
  actor: string;
  source: string;
  action: string;
  targetType: string;
  targetId: string;
  before: unknown;
  after: unknown;
}

forEachDialect('admin API /audit', (open) => {
  let h: AdminHarness;
  let keyId: string;
  let plaintextKey: string;
  let hmacSecret: string;
  let apiSecret: string;
  before(async () => {
    h = await open();
    // Changes through the API (actor: the token) and through the operations (actor: seeder).
    assert.equal(
      (await h.call('POST', '/clients', { body: { name: 'Audited', id: 'audited' } })).status,
      201,
    );
    h.clock.advance(60_000);
    apiSecret = (await h.call('POST', '/clients/audited/hmac-secrets', { body: {} })).body.secret;
    h.clock.advance(60_000);
    const identity = {
      store: auditedStore(h.store, { actor: 'seeder', source: 'cli' }, h.clock),
      keys: h.deps.keys,
      clock: h.clock,
      keyPrefix: 'pcl',
    };
    await createClient(identity, { id: 'canary', name: 'Canary' });
    h.clock.advance(60_000);
    const issued = await createKey(identity, { clientId: 'canary', environment: 'live' });
    keyId = issued.record.id;
    plaintextKey = issued.key;
    h.clock.advance(60_000);
    hmacSecret = (await issueHmacSecret(identity, 'canary')).secret;
    h.clock.advance(60_000);
    await revokeKey(identity, keyId, 'leaked');
    h.clock.advance(60_000);
  });
  after(() => h.close());

  const list = async (query: Record<string, string | number> = {}, token?: string) => {
    const answer = await h.call('GET', '/audit', { query, ...(token ? { token } : {}) });
    assert.equal(answer.status, 200, answer.text);
    return answer.body as { items: Entry[]; nextCursor: string | null };
  };

  describe('200', () => {
    it('lists changes newest first, with who, from where and redacted snapshots', async () => {
      const { items, nextCursor } = await list();
      const apiActor = items[5]?.actor as string;
      assert.match(apiActor, /^token:tok_/, 'an API change names the token');
      assert.equal(nextCursor, null);
      assert.deepEqual(
        items.map((e) => [e.actor, e.action]),
        [
          ['seeder', 'apiKeys.update'],
          ['seeder', 'hmacSecrets.add'],
          ['seeder', 'apiKeys.insert'],
          ['seeder', 'clients.insert'],
          [apiActor, 'hmacSecrets.add'],
          [apiActor, 'clients.insert'],
        ],
      );
      assert.deepEqual(
        [items[0]?.targetId, items[2]?.targetId, items[3]?.targetId, items[5]?.targetId],
        [keyId, keyId, 'canary', 'audited'],
      );
      const revoke = items[0] as Entry;
      assert.deepEqual(Object.keys(revoke).sort(), [
        'action',
        'actor',
        'after',
        'at',
        'before',
        'id',
        'source',
        'targetId',
        'targetType',
      ]);
      assert.equal(revoke.source, 'cli');
      assert.equal(revoke.targetType, 'apiKeys');
      assert.equal(revoke.at, new Date(NOW + 5 * 60_000).toISOString());
      assert.deepEqual(
        [(revoke.before as { status: string }).status, (revoke.after as { status: string }).status],
        ['active', 'revoked'],
      );
      assert.notEqual(items[5]?.source, 'cli', 'an API change names the caller’s address');
    });

    it('filters by actor, action, target, since and until', async () => {
      const actions = async (query: Record<string, string>) => (await list(query)).items.map((e) => e.action);
      const apiActor = (await list({ action: 'clients.insert', targetId: 'audited' })).items[0]
        ?.actor as string;
      assert.deepEqual(await actions({ actor: apiActor }), ['hmacSecrets.add', 'clients.insert']);
      assert.deepEqual(await actions({ action: 'apiKeys.insert' }), ['apiKeys.insert']);
      assert.deepEqual(await actions({ targetType: 'apiKeys', targetId: keyId }), [
        'apiKeys.update',
        'apiKeys.insert',
      ]);
      assert.deepEqual(await actions({ targetType: 'clients' }), ['clients.insert', 'clients.insert']);
      // The clock is now NOW + 6 min.
      assert.deepEqual(await actions({ since: '2m' }), ['apiKeys.update', 'hmacSecrets.add']);
      assert.deepEqual(await actions({ until: '2026-01-01T00:02:00Z' }), [
        'hmacSecrets.add',
        'clients.insert',
      ]);
      assert.deepEqual(await actions({ since: '2026-01-01T00:01:00Z', until: '3m' }), [
        'clients.insert',
        'hmacSecrets.add',
      ]);
      assert.deepEqual(await actions({ actor: 'nobody' }), []);
    });

    it('pages without repeats or gaps while new changes are recorded, across ties in one millisecond', async () => {
      const at = NOW - 3_600_000;
      // Ids of mixed case in one millisecond: pages resume in the same order on every database.
      const idsSeeded = [
        ...['aud_A', 'aud_b', 'aud_C', 'aud_d', 'aud_E', 'aud_f', 'aud_Z', 'aud_a'].map((id) => ({ id, at })),
        ...Array.from({ length: 14 }, (_, i) => ({
          id: `aud_p${String(i).padStart(2, '0')}`,
          at: at - 1000 * (i + 1),
        })),
      ];
      for (const { id, at: when } of idsSeeded)
        await h.store.auditLog.insert({
          id,
          at: when,
          actor: 'pager',
          source: 'cli',
          action: 'clients.update',
          targetType: 'clients',
          targetId: 'x',
          before: null,
          after: null,
        });
      const seen: Entry[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await list({ actor: 'pager', limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items);
        cursor = page.nextCursor ?? undefined;
        pages++;
        // A newer change is recorded between pages.
        await h.store.auditLog.insert({
          id: `aud_new${pages}`,
          at: NOW + 3_600_000 + pages,
          actor: 'pager',
          source: 'cli',
          action: 'clients.update',
          targetType: 'clients',
          targetId: 'x',
          before: null,
          after: null,
        });
      } while (cursor && pages < 100);
      assert.equal(pages, Math.ceil(idsSeeded.length / 3));
      assert.deepEqual(seen.map((e) => e.id).sort(), idsSeeded.map((e) => e.id).sort());
      const times = seen.map((e) => Date.parse(e.at));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => b - a),
      );
      assert.deepEqual(
        seen.slice(0, 8).map((e) => e.id),
        ['aud_f', 'aud_d', 'aud_b', 'aud_a', 'aud_Z', 'aud_E', 'aud_C', 'aud_A'],
        'one millisecond ordered by id, descending by code unit',
      );
    });

    it('lets a viewer read the audit log', async () => {
      const { items } = await list({ actor: 'seeder' }, h.tokens.viewer);
      assert.equal(items.length, 4);
    });

    it('never shows a key, an HMAC secret or a token', async () => {
      const answers = [
        await h.call('GET', '/audit'),
        await h.call('GET', '/audit', { query: { targetType: 'apiKeys', targetId: keyId } }),
        await h.call('GET', '/audit', { query: { action: 'hmacSecrets.add' } }),
      ];
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        for (const secret of [plaintextKey, hmacSecret, apiSecret, h.tokens.admin, h.tokens.viewer])
          assert.ok(!answer.text.includes(secret), 'no secret in the audit log');
      }
      assert.ok(answers[1]?.text.includes(keyId), 'the key is named by its id');
    });
  });

  describe('400', () => {
    it('refuses a malformed query', async () => {
      const queries: Array<Record<string, string | number>> = [
        { limit: 0 },
        { limit: 'many' },
        { target: 'apiKeys:x' },
      ];
      for (const query of queries) {
        const answer = await h.call('GET', '/audit', { query });
        assert.equal(answer.status, 400, JSON.stringify(query));
        assert.equal(answer.body.code, 'bad_request');
      }
    });
  });

  describe('401/403', () => {
    it('needs a credential, and not a verifier token', async () => {
      assert.equal((await h.call('GET', '/audit', { token: null })).status, 401);
      assert.equal((await h.call('GET', '/audit', { token: h.tokens.verifier })).status, 403);
    });
  });

  describe('422', () => {
    it('names the field of an unacceptable value', async () => {
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ since: 'last week' }, /since/],
        [{ until: 'tomorrow-ish' }, /until/],
        [{ cursor: '!!!' }, /cursor/],
        [{ cursor: Buffer.from('no-time-here').toString('base64url') }, /cursor/],
      ];
      for (const [query, field] of cases) {
        const answer = await h.call('GET', '/audit', { query });
        assert.equal(answer.status, 422, `${JSON.stringify(query)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, field);
      }
    });
  });
});
