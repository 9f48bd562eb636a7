/**
 * Admin API /logs and /logs/export on SQLite and PostgreSQL, grouped by expected status:
 * filters, paging by (time, digest) cursor without repeats while records keep arriving,
 * streamed CSV/NDJSON exports (large ones too), and no secret in any answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_PREFIX } from '../../src/admin/api/plugin.js';
import { createClient, createKey, issueHmacSecret } from '../../src/identity/operations.js';
import type { RequestLogRecord } from '../../src/store/types.js';
import { auditedStore } from '../../src/telemetry/audit.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;

function record(i: number, extra: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    at: NOW - 60 * MIN + i * 1000,
    requestId: `req-${i}`,
    door: 'gateway',
    routeId: 'orders',
    method: 'GET',
    path: `/v1/orders/${i}`,
    status: 200,
    totalMs: 1.25,
    upstreamMs: 1,
    clientId: 'acme',
    keyId: 'key_a',
    userId: null,
    ip: '192.0.2.1',
    decision: 'allowed',
    code: null,
    bytesIn: null,
    bytesOut: 10,
    ...extra,
  };
}

const ids = (body: { items: Array<{ requestId: string }> }) => body.items.map((r) => r.requestId);

/** Every page of /logs for `query`, calling `between` after each page. */
async function allPages(
  h: AdminHarness,
  query: Record<string, string | number>,
  between: (page: number) => Promise<void> = async () => {},
): Promise<{ items: Array<{ requestId: string; at: string }>; pages: number }> {
  const items: Array<{ requestId: string; at: string }> = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await h.call('GET', '/logs', { query: { ...query, ...(cursor ? { cursor } : {}) } });
    assert.equal(page.status, 200, page.text);
    items.push(...page.body.items);
    cursor = page.body.nextCursor ?? undefined;
    pages++;
    await between(pages);
    assert.ok(pages < 1000, 'paging ends');
  } while (cursor);
  return { items, pages };
}

forEachDialect('admin API /logs', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
    await h.store.requestLogs.insertBatch([
      record(0, { clientId: 'filters', requestId: 'f0', at: NOW - 50 * MIN }),
      record(1, {
        clientId: 'filters',
        requestId: 'f1',
        at: NOW - 40 * MIN,
        keyId: 'key_b',
        status: 429,
        decision: 'denied',
        code: 'rate_limited',
      }),
      record(2, {
        clientId: 'filters',
        requestId: 'f2',
        at: NOW - 30 * MIN,
        routeId: 'users',
        status: 403,
        decision: 'denied',
        code: 'ip_not_allowed',
        ip: '2001:db8::1',
        door: 'forward_auth',
      }),
      record(3, {
        clientId: 'filters',
        requestId: 'f3',
        at: NOW - 20 * MIN,
        keyId: 'key_b',
        routeId: 'users',
        status: 502,
        decision: 'error',
        code: 'upstream_unavailable',
      }),
      record(4, { clientId: 'filters', requestId: 'f4', at: NOW - 10 * MIN, door: 'verify' }),
      record(5, { clientId: 'filters', requestId: 'f5', at: NOW - 2 * 24 * 60 * MIN }),
    ]);
  });
  after(() => h.close());

  describe('200', () => {
    it('lists newest first with the record’s fields only', async () => {
      const answer = await h.call('GET', '/logs', { query: { client: 'filters' } });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(ids(answer.body), ['f4', 'f3', 'f2', 'f1', 'f0', 'f5']);
      assert.equal(answer.body.nextCursor, null);
      assert.equal(answer.headers['cache-control'], 'no-store');
      assert.deepEqual(answer.body.items[3], {
        at: '2025-12-31T23:20:00.000Z',
        requestId: 'f1',
        door: 'gateway',
        routeId: 'orders',
        method: 'GET',
        path: '/v1/orders/1',
        status: 429,
        totalMs: 1.25,
        upstreamMs: 1,
        clientId: 'filters',
        keyId: 'key_b',
        userId: null,
        ip: '192.0.2.1',
        decision: 'denied',
        code: 'rate_limited',
        bytesIn: null,
        bytesOut: 10,
      });
    });

    it('filters by key, route, status, decision, code, door, ip and time', async () => {
      const cases: Array<[Record<string, string | number>, string[]]> = [
        [{ key: 'key_b' }, ['f3', 'f1']],
        [{ route: 'users' }, ['f3', 'f2']],
        [{ status: 429 }, ['f1']],
        [{ decision: 'denied' }, ['f2', 'f1']],
        [{ code: 'rate_limited' }, ['f1']],
        [{ door: 'forward_auth' }, ['f2']],
        [{ ip: '2001:0db8:0::1' }, ['f2']], // normalized like the recorder's addresses
        [{ since: '1h' }, ['f4', 'f3', 'f2', 'f1', 'f0']],
        [{ since: '25m' }, ['f4', 'f3']],
        [{ until: '35m' }, ['f1', 'f0', 'f5']],
        [{ since: '2025-12-31T23:15:00Z', until: '2025-12-31T23:45:00Z' }, ['f3', 'f2', 'f1']],
        [{ key: 'key_a', decision: 'allowed' }, ['f4', 'f0', 'f5']],
        [{ key: 'nobody' }, []],
      ];
      for (const [query, expected] of cases) {
        const answer = await h.call('GET', '/logs', { query: { client: 'filters', ...query } });
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(ids(answer.body), expected, JSON.stringify(query));
      }
    });

    it('pages without repeats or gaps while new records arrive, across ties in one millisecond', async () => {
      const tie = NOW - 30 * MIN;
      const seeded: RequestLogRecord[] = [
        ...Array.from({ length: 20 }, (_, i) => record(i, { clientId: 'pager', requestId: `p${i}` })),
        // Five records in one millisecond (a limit of 4 cuts through them) …
        ...Array.from({ length: 5 }, (_, i) =>
          record(100, { clientId: 'pager', requestId: `tie${i}`, at: tie }),
        ),
        // … and three identical ones (request ids repeat: they come from clients).
        ...Array.from({ length: 3 }, () =>
          record(200, { clientId: 'pager', requestId: 'same', at: tie + 1 }),
        ),
      ];
      await h.store.requestLogs.insertBatch(seeded);
      let arrived = 0;
      const { items, pages } = await allPages(h, { client: 'pager', limit: 4 }, async (page) => {
        if (page % 2 === 1) {
          // Newer records arrive between pages: they belong before the first page, not in later ones.
          await h.store.requestLogs.insertBatch([
            record(0, { clientId: 'pager', requestId: `new${arrived}`, at: NOW + arrived }),
          ]);
          arrived++;
        }
      });
      assert.equal(pages, 7);
      assert.deepEqual(
        items.map((r) => r.requestId).sort(),
        seeded.map((r) => r.requestId).sort(),
        'every record exactly once, none of the newer ones',
      );
      const times = items.map((r) => Date.parse(r.at));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => b - a),
        'newest first across pages',
      );
      // The newer records are all on a fresh first page.
      const fresh = await h.call('GET', '/logs', { query: { client: 'pager', limit: arrived } });
      assert.deepEqual(ids(fresh.body).sort(), Array.from({ length: arrived }, (_, i) => `new${i}`).sort());
    });

    it('pages a filter applied record by record (code) just as well', async () => {
      await h.store.requestLogs.insertBatch(
        Array.from({ length: 30 }, (_, i) =>
          record(i, {
            clientId: 'coded',
            requestId: `c${i}`,
            at: NOW - 5 * MIN + Math.floor(i / 4), // four records a millisecond
            ...(i % 3 === 0 ? { status: 429, decision: 'denied' as const, code: 'rate_limited' } : {}),
          }),
        ),
      );
      const { items } = await allPages(h, { client: 'coded', code: 'rate_limited', limit: 3 });
      assert.deepEqual(
        items.map((r) => r.requestId).sort(),
        Array.from({ length: 10 }, (_, k) => `c${k * 3}`).sort(),
      );
    });

    it('exports CSV and NDJSON, oldest first, as an attachment, with filters', async () => {
      await h.store.requestLogs.insertBatch([
        record(1, { clientId: 'export', requestId: 'e1', path: '=HYPERLINK("http://evil")' }),
        record(2, {
          clientId: 'export',
          requestId: 'e2',
          userId: '@cmd',
          decision: 'denied',
          code: 'forbidden',
        }),
        record(3, { clientId: 'export', requestId: 'e3', path: '/a,b' }),
      ]);
      const csv = await h.call('GET', '/logs/export', { query: { format: 'csv', client: 'export' } });
      assert.equal(csv.status, 200, csv.text);
      assert.match(String(csv.headers['content-type']), /^text\/csv/);
      assert.match(
        String(csv.headers['content-disposition']),
        /^attachment; filename="request-logs-.*\.csv"$/,
      );
      assert.equal(csv.headers['content-length'], undefined, 'streamed, not buffered');
      const rows = csv.text.split('\r\n');
      assert.equal(rows.pop(), '', 'each row ends with CRLF');
      assert.equal(
        rows[0],
        'at,requestId,door,routeId,method,path,status,totalMs,upstreamMs,clientId,keyId,userId,ip,decision,code,bytesIn,bytesOut',
      );
      assert.deepEqual(
        rows.slice(1).map((r) => r.split(',')[1]),
        ['e1', 'e2', 'e3'],
      );
      assert.match(csv.text, /"'=HYPERLINK\(""http:\/\/evil""\)"/, 'formula defused');
      assert.match(csv.text, /,'@cmd,/);
      assert.match(csv.text, /,"\/a,b",/);

      const nd = await h.call('GET', '/logs/export', { query: { client: 'export' } });
      assert.equal(nd.status, 200, nd.text);
      assert.match(String(nd.headers['content-type']), /^application\/x-ndjson/);
      assert.match(String(nd.headers['content-disposition']), /^attachment; filename=".*\.ndjson"$/);
      const lines = nd.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => l.requestId),
        ['e1', 'e2', 'e3'],
      );
      assert.equal(lines[0].path, '=HYPERLINK("http://evil")', 'NDJSON keeps values as they are');
      assert.equal(lines[0].at, new Date(record(1).at).toISOString());

      const denied = await h.call('GET', '/logs/export', {
        query: { format: 'ndjson', client: 'export', code: 'forbidden' },
      });
      assert.deepEqual(
        denied.text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l).requestId),
        ['e2'],
      );
      const none = await h.call('GET', '/logs/export', { query: { format: 'csv', client: 'nobody' } });
      assert.equal(none.text.split('\r\n').length, 2, 'a header row only');
    });

    it('exports binding intercepts with their own columns (GET /intercepts/export)', async () => {
      await h.store.intercepts.insert({
        id: 'icp_1',
        at: NOW - MIN,
        keyId: 'key_bound',
        clientId: 'acme',
        ip: '=cmd',
        bound: ['10.0.0.1/32'],
        routeId: null,
        method: 'GET',
        path: '/',
        requestId: 'r1',
      });
      const csv = await h.call('GET', '/intercepts/export', {
        query: { format: 'csv', key: 'key_bound' },
      });
      assert.equal(csv.status, 200, csv.text);
      assert.match(String(csv.headers['content-disposition']), /filename="intercepts/);
      const [header, row] = csv.text.split('\r\n');
      assert.equal(header, 'at,keyId,clientId,ip,bound,routeId,method,path,requestId');
      assert.match(String(row), /,'=cmd,"\[""10\.0\.0\.1\/32""\]",/);
      const nd = await h.call('GET', '/intercepts/export', {
        query: { key: 'key_bound', since: '1h' },
      });
      assert.deepEqual(JSON.parse(nd.text).bound, ['10.0.0.1/32']);
      const other = await h.call('GET', '/intercepts/export', { query: { key: 'key_other' } });
      assert.equal(other.text, '');
    });

    it('filters code and door in the database: a match behind 20,500 others is on the first page', async () => {
      const base = NOW - 20 * 24 * 60 * MIN;
      await h.store.requestLogs.insertBatch(
        Array.from({ length: 20_500 }, (_, i) =>
          record(i, { clientId: 'scan', requestId: `scan-${i}`, at: base + i + 1 }),
        ),
      );
      await h.store.requestLogs.insertBatch([
        record(0, {
          clientId: 'scan',
          requestId: 'scan-match',
          at: base,
          code: 'quota_exceeded',
          status: 429,
          door: 'verify',
        }),
      ]);
      for (const filter of [{ code: 'quota_exceeded' }, { door: 'verify' }] as Record<string, string>[]) {
        const page = await h.call('GET', '/logs', { query: { client: 'scan', ...filter, limit: 10 } });
        assert.equal(page.status, 200, page.text);
        assert.deepEqual(ids(page.body), ['scan-match'], JSON.stringify(filter));
        assert.equal(page.body.nextCursor, null);
      }
    });

    it('streams a large export row by row (5,000 records)', async () => {
      const count = 5000;
      await h.store.requestLogs.insertBatch(
        Array.from({ length: count }, (_, i) =>
          record(i, { clientId: 'bulk', requestId: `bulk-${i}`, at: NOW - 10 * 24 * 60 * MIN + i }),
        ),
      );
      const nd = await h.call('GET', '/logs/export', { query: { format: 'ndjson', client: 'bulk' } });
      assert.equal(nd.status, 200);
      const lines = nd.text.trimEnd().split('\n');
      assert.equal(lines.length, count);
      assert.equal(JSON.parse(lines[0] as string).requestId, 'bulk-0');
      assert.equal(JSON.parse(lines[count - 1] as string).requestId, `bulk-${count - 1}`);
      const csv = await h.call('GET', '/logs/export', { query: { format: 'csv', client: 'bulk' } });
      assert.equal(csv.text.trimEnd().split('\r\n').length, count + 1);

      // Read as a stream: the body arrives in several chunks, not as one buffered document.
      const response = await h.app.inject({
        method: 'GET',
        url: `${API_PREFIX}/logs/export?format=csv&client=bulk`,
        headers: { authorization: `Bearer ${h.tokens.admin}` },
        payloadAsStream: true,
      });
      let chunks = 0;
      let newlines = 0;
      for await (const chunk of response.stream()) {
        chunks++;
        for (const byte of chunk as Buffer) if (byte === 10) newlines++;
      }
      assert.equal(newlines, count + 1);
      assert.ok(chunks > 5, `${chunks} chunks`);
    });

    it('lets a viewer read records and exports', async () => {
      const list = await h.call('GET', '/logs', { token: h.tokens.viewer, query: { client: 'filters' } });
      assert.equal(list.status, 200);
      assert.equal(list.body.items.length, 6);
      const csv = await h.call('GET', '/logs/export', {
        token: h.tokens.viewer,
        query: { format: 'csv', client: 'filters' },
      });
      assert.equal(csv.status, 200);
      assert.equal(csv.text.trimEnd().split('\r\n').length, 7);
    });

    it('never shows a key or an HMAC secret', async () => {
      const identity = {
        store: auditedStore(h.store, { actor: 'seeder', source: 'test' }, h.clock),
        keys: h.deps.keys,
        clock: h.clock,
        keyPrefix: 'pcl',
      };
      await createClient(identity, { id: 'canary', name: 'Canary' });
      const issued = await createKey(identity, { clientId: 'canary', environment: 'live' });
      const hmac = await issueHmacSecret(identity, 'canary');
      await h.store.requestLogs.insertBatch([
        record(0, { clientId: 'canary', keyId: issued.record.id, requestId: 'canary-1' }),
        record(1, {
          clientId: 'canary',
          keyId: issued.record.id,
          requestId: 'canary-2',
          code: 'invalid_key',
        }),
      ]);
      const answers = [
        await h.call('GET', '/logs', { query: { client: 'canary' } }),
        await h.call('GET', '/logs', { query: { key: issued.record.id } }),
        await h.call('GET', '/logs/export', { query: { format: 'csv', client: 'canary' } }),
        await h.call('GET', '/logs/export', { query: { format: 'ndjson', key: issued.record.id } }),
        await h.call('GET', '/intercepts/export'),
      ];
      assert.ok(answers[0]?.text.includes(issued.record.id), 'the key is named by its id');
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.text);
        assert.ok(!answer.text.includes(issued.key), 'no API key');
        assert.ok(!answer.text.includes(hmac.secret), 'no HMAC secret');
      }
    });
  });

  describe('400', () => {
    it('refuses a malformed query: limit, status, unknown parameters', async () => {
      const queries: Array<Record<string, string | number>> = [
        { limit: 0 },
        { limit: 5000 },
        { status: 'abc' },
        { clinet: 'typo' },
      ];
      for (const query of queries) {
        const answer = await h.call('GET', '/logs', { query });
        assert.equal(answer.status, 400, JSON.stringify(query));
        assert.equal(answer.body.code, 'bad_request');
      }
      const exported = await h.call('GET', '/logs/export', { query: { formatt: 'csv' } });
      assert.equal(exported.status, 400);
    });
  });

  describe('401/403', () => {
    it('needs a credential, and not a verifier token', async () => {
      for (const path of ['/logs', '/logs/export']) {
        assert.equal((await h.call('GET', path, { token: null })).status, 401, path);
        const verifier = await h.call('GET', path, { token: h.tokens.verifier });
        assert.equal(verifier.status, 403, path);
        assert.equal(verifier.body.code, 'forbidden');
      }
    });
  });

  describe('422', () => {
    it('names the field of an unacceptable value', async () => {
      const cases: Array<[string, Record<string, string | number | boolean>, RegExp]> = [
        ['/logs', { since: 'yesterday' }, /since/],
        ['/logs', { until: '5 minutes' }, /until/],
        ['/logs', { decision: 'maybe' }, /decision/],
        ['/logs', { door: 'window' }, /door/],
        ['/logs', { status: 700 }, /status/],
        ['/logs', { cursor: '!!!' }, /cursor/],
        ['/logs', { cursor: Buffer.from('1.abc.1').toString('base64url') }, /cursor/],
        ['/logs/export', { format: 'xml' }, /format/],
        ['/logs/export', { format: 'csv', since: 'last week' }, /since/],
      ];
      for (const [path, query, field] of cases) {
        const answer = await h.call('GET', path, { query });
        assert.equal(answer.status, 422, `${path} ${JSON.stringify(query)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, field);
        assert.match(String(answer.headers['content-type']), /application\/problem\+json/);
      }
    });
  });
});
