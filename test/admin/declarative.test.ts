import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const v1 = `routes:
  - id: orders
    host: "api.example.com"
    path: "/v1/orders/*"
    methods: { GET: [api_key, jwt], POST: hmac }
    upstream: { url: "http://orders.internal:3000", strip_prefix: "/v1", timeout_ms: 5000 }
  - id: health
    path: "/health"
    methods: { GET: public }
    upstream: { url: "http://orders.internal:3000" }
policies:
  - { id: ten, algorithm: fixed_window, limit: 10, window: 60s, key_by: [key], attach: ["route:orders"] }
`;
const v2 = v1
  .replace('timeout_ms: 5000', 'timeout_ms: 9000')
  .replace(/ {2}- id: health[\s\S]*?(?=policies:)/, '');

forEachDialect('admin API /declarative', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  const apply = (document: string, options: { dryRun?: boolean; prune?: boolean; token?: string } = {}) => {
    const { token, ...flags } = options;
    return h.call('POST', '/declarative/apply', {
      body: { document, ...flags },
      ...(token ? { token } : {}),
    });
  };
  const routeIds = async () =>
    (await h.call('GET', '/routes')).body.items.map((r: { id: string }) => r.id) as string[];

  describe('200', () => {
    it('a dry run plans and changes nothing', async () => {
      const dry = await apply(v1, { dryRun: true });
      assert.equal(dry.status, 200, dry.text);
      assert.equal(dry.body.dryRun, true);
      assert.equal(dry.body.changed, true);
      assert.deepEqual(dry.body.routes.create, ['orders', 'health']);
      assert.deepEqual(dry.body.counts, { create: 3, update: 0, remove: 0 });
      assert.ok(dry.body.changes.includes('+ route orders (api.example.com /v1/orders/*)'), dry.text);
      assert.deepEqual(await routeIds(), []);
      assert.deepEqual(await h.store.policies.list(), []);
      assert.equal((await h.store.auditLog.list({})).length, 0, 'nothing audited: nothing written');
    });

    it('applies, is idempotent, keeps what the document drops, and prunes it on request', async () => {
      const first = await apply(v1);
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.changed, true);
      assert.deepEqual(await routeIds(), ['health', 'orders']);

      const again = await apply(v1);
      assert.equal(again.body.changed, false);
      assert.deepEqual(again.body.routes.unchanged, ['orders', 'health']);
      assert.deepEqual(again.body.changes, []);

      const dry = await apply(v2, { dryRun: true });
      assert.deepEqual(dry.body.routes, {
        create: [],
        update: ['orders'],
        remove: [],
        kept: ['health'],
        unchanged: [],
      });
      assert.ok(
        dry.body.changes.some((l: string) =>
          /^~ route orders: upstream .*"timeout_ms":5000.*→.*"timeout_ms":9000/.test(l),
        ),
        dry.text,
      );
      assert.ok(dry.body.changes.includes('  route health is not in the file (kept; --prune removes it)'));
      assert.equal(
        (await h.call('GET', '/routes/orders')).body.upstream.timeout_ms,
        5000,
        'dry run wrote nothing',
      );

      const pruned = await apply(v2, { prune: true });
      assert.equal(pruned.status, 200, pruned.text);
      assert.deepEqual(pruned.body.routes, {
        create: [],
        update: ['orders'],
        remove: ['health'],
        kept: [],
        unchanged: [],
      });
      assert.deepEqual(await routeIds(), ['orders']);
      assert.equal((await h.call('GET', '/routes/orders')).body.upstream.timeout_ms, 9000);
    });

    it('accepts a JSON document', async () => {
      const json = JSON.stringify({
        routes: [
          {
            id: 'orders',
            host: 'api.example.com',
            path: '/v1/orders/*',
            methods: { GET: ['api_key', 'jwt'], POST: 'hmac' },
            upstream: { url: 'http://orders.internal:3000', strip_prefix: '/v1', timeout_ms: 9000 },
          },
        ],
      });
      const answer = await apply(json, { dryRun: true });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body.routes.unchanged, ['orders']);
      assert.deepEqual(answer.body.policies.kept, ['ten'], 'no policies section: policies are left alone');
    });

    it('exports YAML by default and JSON on request, for viewers, and round-trips', async () => {
      await h.call('POST', '/clients', { body: { name: 'Secretive', id: 'secretive' } });
      const secret = (await h.call('POST', '/clients/secretive/hmac-secrets', {})).body.secret as string;
      const key = (await h.call('POST', '/keys', { body: { client: 'secretive', environment: 'live' } }))
        .body as { key?: string } | undefined;

      const yaml = await h.call('GET', '/declarative/export', { token: h.tokens.viewer });
      assert.equal(yaml.status, 200, yaml.text);
      assert.match(String(yaml.headers['content-type']), /^application\/yaml/);
      assert.equal(yaml.headers['cache-control'], 'no-store');
      const document = parse(yaml.text) as { routes: Array<{ id: string }>; policies: Array<{ id: string }> };
      assert.deepEqual(
        document.routes.map((r) => r.id),
        ['orders'],
      );
      assert.deepEqual(
        document.policies.map((p) => p.id),
        ['ten'],
      );

      const json = await h.call('GET', '/declarative/export', {
        query: { format: 'json' },
        token: h.tokens.viewer,
      });
      assert.equal(json.status, 200);
      assert.match(String(json.headers['content-type']), /^application\/json/);
      assert.deepEqual(json.body, document);

      // No secret, no key, no token, no client: a document holds routes and policies only.
      for (const text of [yaml.text, json.text]) {
        assert.ok(!text.includes(secret));
        if (key?.key) assert.ok(!text.includes(key.key));
        for (const token of Object.values(h.tokens)) assert.ok(!text.includes(token));
        assert.ok(!text.includes('secretive'));
      }

      const reapplied = await apply(yaml.text, { prune: true });
      assert.equal(reapplied.status, 200, reapplied.text);
      assert.equal(reapplied.body.changed, false);
      const fromJson = await apply(json.text, { prune: true, dryRun: true });
      assert.equal(fromJson.body.changed, false);
    });
  });

  describe('400', () => {
    it('refuses a body of the wrong shape and an unknown export format', async () => {
      for (const body of [
        {},
        { document: { routes: [] } },
        { document: '', dryRun: 'yes' },
        { document: '', force: true },
      ]) {
        const answer = await h.call('POST', '/declarative/apply', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(answer.body.code, 'bad_request');
      }
      const format = await h.call('GET', '/declarative/export', { query: { format: 'xml' } });
      assert.equal(format.status, 400);
    });
  });

  describe('401/403', () => {
    it('a viewer may export but not apply, not even a dry run', async () => {
      for (const dryRun of [false, true]) {
        const answer = await apply(v1, { dryRun, token: h.tokens.viewer });
        assert.equal(answer.status, 403);
        assert.equal(answer.body.code, 'forbidden');
      }
      assert.equal((await h.call('GET', '/declarative/export', { token: null })).status, 401);
      assert.equal((await h.call('GET', '/declarative/export', { token: h.tokens.viewer })).status, 200);
    });
  });

  describe('422', () => {
    it('refuses a document with problems as a whole, naming each by its path', async () => {
      const before = await h.call('GET', '/declarative/export');
      const broken = `routes:
  - { id: fine, path: /fine, methods: { GET: public }, upstream: { url: "http://u:1" } }
  - { id: bad, path: nope, methods: { GET: public }, upstream: { url: "http://u:1" } }
clients: []
`;
      const answer = await apply(broken, { prune: true });
      assert.equal(answer.status, 422);
      assert.equal(answer.body.code, 'invalid_input');
      assert.match(answer.body.detail, /routes\[1\]\.path: must start with "\/"/);
      assert.match(answer.body.detail, /clients: unknown section/);

      const notYaml = await apply('routes: [\n');
      assert.equal(notYaml.status, 422);
      assert.match(notYaml.body.detail, /^document: not valid YAML/);

      const tie = `routes:
  - { id: a, path: /x, methods: { GET: public }, upstream: { url: "http://u:1" } }
  - { id: b, path: /x, methods: { POST: public }, upstream: { url: "http://u:1" } }
`;
      const tied = await apply(tie, { dryRun: true });
      assert.equal(tied.status, 422);
      assert.match(tied.body.detail, /routes "a" and "b" both match host "\*" and path "\/x"/);

      const orphan = `routes: []
policies:
  - { id: ten, algorithm: fixed_window, limit: 10, window: 60s, key_by: [key], attach: ["route:billing"] }
`;
      const orphaned = await apply(orphan);
      assert.equal(orphaned.status, 422);
      assert.match(
        orphaned.body.detail,
        /policies\[0\]\.attach\[0\]: policy "ten" is attached to route "billing"/,
      );

      const notMapping = await apply('- just a list\n');
      assert.equal(notMapping.status, 422);
      assert.match(notMapping.body.detail, /^document: must be a YAML mapping/);

      assert.equal((await h.call('GET', '/declarative/export')).text, before.text, 'nothing applied');
    });
  });
});
