import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { generateApiKey } from '../../src/auth/api-key/format.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, cliJson, createKey, grant, settle, tampered } from '../helpers/identity.js';
import { rawRequest } from '../helpers/raw-http.js';

interface Echo {
  url: string;
  headers: Record<string, string>;
}

describe('API keys through a real gateway', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let appKey: { id: string; key: string };
  let otherKey: { id: string; key: string };
  const issued: string[] = [];

  before(async () => {
    upstream = await startExampleUpstream();
    const echo = `${upstream.url}/echo`;
    gw = await startGateway({
      document: {
        routes: [
          {
            id: 'orders',
            path: '/orders/*',
            methods: { GET: 'api_key', POST: 'api_key' },
            environment: 'live',
            upstream: { url: upstream.url },
          },
          {
            id: 'echo',
            path: '/e/*',
            methods: { '*': ['api_key', 'jwt'] },
            upstream: { url: echo, strip_prefix: '/e' },
          },
          {
            id: 'scoped',
            path: '/scoped/*',
            methods: { GET: 'api_key' },
            scopes: ['orders:write'],
            upstream: { url: echo, strip_prefix: '/scoped' },
          },
          {
            id: 'testenv',
            path: '/testenv/*',
            methods: { GET: 'api_key' },
            environment: 'test',
            upstream: { url: echo, strip_prefix: '/testenv' },
          },
          {
            id: 'open',
            path: '/open/*',
            methods: { GET: 'api_key' },
            open_to_all_clients: true,
            upstream: { url: echo, strip_prefix: '/open' },
          },
          {
            id: 'keep',
            path: '/keep/*',
            methods: { GET: 'api_key' },
            keep_credential: true,
            upstream: { url: echo, strip_prefix: '/keep' },
          },
        ],
      },
      env: { PORTCULLIS_API_KEY_QUERY_PARAM: 'api_key', PORTCULLIS_IDENTITY_HEADER_ALIASES: 'true' },
    });
    await addClient(gw, 'app', 'Mobile App v2.1');
    await addClient(gw, 'other', 'Other');
    appKey = await createKey(gw, 'app', ['--scopes', 'orders:read']);
    otherKey = await createKey(gw, 'other');
    issued.push(appKey.key, otherKey.key);
    for (const route of ['orders', 'echo', 'scoped', 'testenv', 'keep']) await grant(gw, 'app', route);
    await settle(gw);
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${gw.proxyUrl}${path}`, { headers });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('admits a valid key and tells the upstream who is calling', async () => {
    const res = await get('/e/whoami', {
      ...bearer(appKey.key),
      'x-portcullis-client-id': 'forged',
      'x-client-id': 'forged',
    });
    assert.equal(res.status, 200, res.body);
    const h = (res.json() as unknown as Echo).headers;
    assert.equal(h['x-portcullis-client-id'], 'app');
    assert.equal(h['x-client-id'], 'app');
    assert.equal(h['x-portcullis-client-name'], 'Mobile App v2.1');
    assert.equal(h['x-portcullis-key-id'], appKey.id);
    assert.equal(h['x-portcullis-route-id'], 'echo');
    assert.equal(h['x-portcullis-scopes'], 'orders:read');
    assert.equal(h['authorization'], undefined, 'the credential is not forwarded');
  });

  it('reads X-API-Key and (when enabled) the query parameter, stripping it before forwarding', async () => {
    assert.equal((await get('/e/x', { 'x-api-key': appKey.key })).status, 200);
    const viaQuery = await get(`/e/x?a=1&api_key=${appKey.key}&b=2`);
    assert.equal(viaQuery.status, 200);
    assert.equal((viaQuery.json() as unknown as Echo).url, '/echo/x?a=1&b=2');
  });

  it('keeps the credential for routes that say so', async () => {
    const res = await get('/keep/x', bearer(appKey.key));
    assert.equal((res.json() as unknown as Echo).headers['authorization'], `Bearer ${appKey.key}`);
  });

  it('gives the same answer for a malformed key, an unknown key and a wrong checksum', async () => {
    const unknown = generateApiKey('pcl', 'live').key;
    const flipped = tampered(appKey.key);
    const bodies = [];
    for (const key of [unknown, flipped, 'pcl_live_short', 'pcl_live_garbage']) {
      const res = await get('/e/x', bearer(key));
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="portcullis"');
      const { requestId: _ignored, ...body } = res.json();
      bodies.push(JSON.stringify(body));
    }
    assert.equal(new Set(bodies).size, 1, `answers differ: ${bodies.join('\n')}`);
  });

  it('refuses a client without a grant, unless the route is open to all clients', async () => {
    const res = await get('/e/x', bearer(otherKey.key));
    assert.equal(res.status, 403);
    assert.equal(res.json()['code'], 'forbidden_route');
    assert.equal((await get('/open/x', bearer(otherKey.key))).status, 200);
  });

  it('checks grant methods', async () => {
    await grant(gw, 'app', 'orders', 'GET');
    await settle(gw);
    assert.equal((await get('/orders', bearer(appKey.key))).status, 200);
    const post = await request(`${gw.proxyUrl}/orders`, {
      method: 'POST',
      headers: bearer(appKey.key),
      body: '{}',
    });
    assert.equal(post.statusCode, 403);
    await post.body.dump();
  });

  it('requires the route scopes', async () => {
    const res = await get('/scoped/x', bearer(appKey.key));
    assert.equal(res.status, 403);
    assert.equal(res.json()['code'], 'insufficient_scope');
    await cliJson(gw, ['keys', 'update', appKey.id, '--scopes', 'orders:read,orders:write']);
    await settle(gw);
    assert.equal((await get('/scoped/x', bearer(appKey.key))).status, 200);
  });

  it('refuses a key of the other environment', async () => {
    const liveOnTest = await get('/testenv/x', bearer(appKey.key));
    assert.equal(liveOnTest.status, 403);
    assert.equal(liveOnTest.json()['code'], 'environment_mismatch');
    const testKey = await createKey(gw, 'app', ['--env', 'test']);
    issued.push(testKey.key);
    await settle(gw);
    assert.match(testKey.key, /^pcl_test_/);
    assert.equal((await get('/testenv/x', bearer(testKey.key))).status, 200);
    assert.equal((await get('/orders', bearer(testKey.key))).json()['code'], 'environment_mismatch');
  });

  it('refuses expired and revoked keys', async () => {
    const key = await createKey(gw, 'app');
    issued.push(key.key);
    await settle(gw);
    assert.equal((await get('/e/x', bearer(key.key))).status, 200);
    await cliJson(gw, ['keys', 'update', key.id, '--expires', '2001-01-01T00:00:00Z']);
    await settle(gw);
    const expired = await get('/e/x', bearer(key.key));
    assert.equal(expired.status, 401);
    assert.equal(expired.json()['code'], 'key_expired');
    await cliJson(gw, ['keys', 'update', key.id, '--expires', 'never']);
    await cliJson(gw, ['keys', 'revoke', key.id, '--reason', 'leaked in a screenshot']);
    await settle(gw);
    const revoked = await get('/e/x', bearer(key.key));
    assert.equal(revoked.status, 401);
    assert.equal(revoked.json()['code'], 'key_revoked');
    assert.ok(!revoked.body.includes('screenshot'), 'the revoke reason is for admins only');
  });

  it('refuses keys of a suspended or revoked client, and admits them again once active', async () => {
    await addClient(gw, 'flaky');
    const key = await createKey(gw, 'flaky');
    issued.push(key.key);
    await grant(gw, 'flaky', 'echo');
    await cliJson(gw, ['clients', 'suspend', 'flaky', '--reason', 'unpaid']);
    await settle(gw);
    const suspended = await get('/e/x', bearer(key.key));
    assert.equal(suspended.status, 403);
    assert.equal(suspended.json()['code'], 'client_suspended');
    await cliJson(gw, ['clients', 'activate', 'flaky']);
    await settle(gw);
    assert.equal((await get('/e/x', bearer(key.key))).status, 200);
    await cliJson(gw, ['clients', 'revoke', 'flaky']);
    await settle(gw);
    assert.equal((await get('/e/x', bearer(key.key))).json()['code'], 'client_revoked');
  });

  it('counts a remaining-uses budget atomically; refused requests use nothing', async () => {
    const key = await createKey(gw, 'app', ['--uses', '3']);
    issued.push(key.key);
    await settle(gw);
    // A request refused for another reason (no grant on "open"? it is open; use a scope failure) consumes nothing.
    assert.equal((await get('/scoped/x', bearer(key.key))).status, 403);
    const statuses = await Promise.all(
      Array.from({ length: 6 }, () => get('/e/x', bearer(key.key)).then((r) => r.status)),
    );
    assert.deepEqual(statuses.sort(), [200, 200, 200, 403, 403, 403]);
    const exhausted = await get('/e/x', bearer(key.key));
    assert.equal(exhausted.json()['code'], 'usage_exhausted');
    await cliJson(gw, ['keys', 'update', key.id, '--uses', '1']);
    await settle(gw);
    assert.equal((await get('/e/x', bearer(key.key))).status, 200, 'a new budget starts a new count');
    assert.equal((await get('/e/x', bearer(key.key))).status, 403);
  });

  it('rotates with a grace period: old and new secrets are one key, the old one stops after the grace', async () => {
    const key = await createKey(gw, 'app');
    issued.push(key.key);
    const rotated = await cliJson<{ key: string }>(gw, ['keys', 'rotate', key.id, '--grace', '2s']);
    issued.push(rotated.key);
    await settle(gw);
    const oldRes = await get('/e/x', bearer(key.key));
    const newRes = await get('/e/x', bearer(rotated.key));
    assert.equal(oldRes.status, 200);
    assert.equal(newRes.status, 200);
    const keyId = (r: typeof oldRes) => (r.json() as unknown as Echo).headers['x-portcullis-key-id'];
    assert.equal(keyId(oldRes), key.id);
    assert.equal(keyId(newRes), key.id, 'one lineage: limits and usage follow the key');
    await new Promise((r) => setTimeout(r, 2200));
    const afterGrace = await get('/e/x', bearer(key.key));
    assert.equal(afterGrace.status, 401);
    assert.equal(afterGrace.json()['code'], 'key_expired');
    assert.equal((await get('/e/x', bearer(rotated.key))).status, 200);
  });

  it('honours the key IP allow-list', async () => {
    const key = await createKey(gw, 'app', ['--ip-allow', '10.0.0.0/8']);
    issued.push(key.key);
    await settle(gw);
    const refused = await get('/e/x', bearer(key.key));
    assert.equal(refused.status, 403);
    assert.equal(refused.json()['code'], 'ip_not_allowed');
    await cliJson(gw, ['keys', 'update', key.id, '--ip-allow', '10.0.0.0/8,127.0.0.0/8']);
    await settle(gw);
    assert.equal((await get('/e/x', bearer(key.key))).status, 200);
  });

  it('refuses ambiguous credentials with 400', async () => {
    const two = await rawRequest(
      gw.proxyPort,
      `GET /e/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${appKey.key}\r\nAuthorization: Bearer ${otherKey.key}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(two.status, 400);
    const mixed = await get('/e/x', { ...bearer(appKey.key), 'x-api-key': otherKey.key });
    assert.equal(mixed.status, 400);
    const headerAndQuery = await get(`/e/x?api_key=${otherKey.key}`, bearer(appKey.key));
    assert.equal(headerAndQuery.status, 400);
    const basic = await get('/e/x', { authorization: 'Basic dXNlcjpwYXNz' });
    assert.equal(basic.status, 401);
  });

  it('never shows a secret in lists, exports or logs', async () => {
    const list = await gw.cli(['keys', 'list', '--json']);
    const shown = await gw.cli(['keys', 'show', appKey.id, '--json']);
    const exported = await gw.cli(['export']);
    const table = await gw.cli(['keys', 'list']);
    await new Promise((r) => setTimeout(r, 5500)); // let the usage batch flush run at least once
    for (const secret of issued) {
      for (const [what, text] of [
        ['keys list --json', list.stdout],
        ['keys show', shown.stdout],
        ['export', exported.stdout],
        ['keys list', table.stdout],
        ['gateway logs', gw.output()],
      ] as const) {
        assert.ok(!text.includes(secret), `${what} contains a key secret`);
        assert.ok(!text.includes(secret.slice(9, 30)), `${what} contains the random part of a key`);
      }
    }
    assert.match(table.stdout, /pcl_live_\w{4}…/);
    const record = JSON.parse(shown.stdout) as { lastUsedAt: string | null };
    assert.notEqual(record.lastUsedAt, null, 'last-used time is written in batches');
  });
});
