/**
 * IP controls through real gateway processes (PRODUCT.md §8): the loopback peer is a trusted
 * proxy here, so each request names its client address in X-Forwarded-For; a second gateway
 * trusts nobody (spoofing cases); two more share Redis (blocklist propagation). A real local
 * webhook receiver checks intercept alerts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { verifyWebhookSignature } from '../../src/alerts/webhook.js';
import { openStore } from '../../src/store/open-store.js';
import { type GatewayProcess, startGateway, tempDir } from '../helpers/gateway.js';
import { addClient, cliJson, createKey, settle } from '../helpers/identity.js';
import { rawRequest } from '../helpers/raw-http.js';
import { REDIS_URL, redisGate } from '../helpers/services.js';

const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';

interface Hook {
  body: string;
  signature: string | undefined;
}

async function startReceiver(): Promise<{ server: Server; url: string; hooks: Hook[] }> {
  const hooks: Hook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hooks.push({
        body: Buffer.concat(chunks).toString(),
        signature: req.headers['x-portcullis-signature'] as string | undefined,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hooks };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const routes = (echo: string) => [
  { id: 'pub', path: '/pub/*', methods: { '*': 'public' }, upstream: { url: echo, strip_prefix: '/pub' } },
  {
    id: 'fenced',
    path: '/fenced/*',
    methods: { '*': 'public' },
    ip: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.66.0.0/16'] },
    upstream: { url: echo, strip_prefix: '/fenced' },
  },
  {
    id: 'keyed',
    path: '/k/*',
    methods: { '*': 'api_key' },
    open_to_all_clients: true,
    upstream: { url: echo, strip_prefix: '/k' },
  },
];

describe('IP controls through a real gateway', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  const get = async (path: string, ip: string | undefined, headers: Record<string, string> = {}) => {
    const res = await request(`${gw.proxyUrl}${path}`, {
      headers: { ...(ip ? { 'x-forwarded-for': ip } : {}), ...headers },
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      code: text.startsWith('{') ? (JSON.parse(text).code as string) : undefined,
      text,
    };
  };

  before(async () => {
    upstream = await startExampleUpstream();
    receiver = await startReceiver();
    gw = await startGateway({
      document: { routes: routes(`${upstream.url}/echo`) },
      env: {
        PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32',
        PORTCULLIS_GLOBAL_IP_DENY: '6.6.6.0/24',
        PORTCULLIS_INTERCEPT_ALERT_THRESHOLD: '3',
        PORTCULLIS_INTERCEPT_ALERT_WINDOW_S: '3600',
        PORTCULLIS_ALERT_WEBHOOK_URL: receiver.url,
        PORTCULLIS_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    });
    await addClient(gw, 'app');
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
    receiver?.server.close();
  });

  it('global deny-list refuses before routing, whatever the path', async () => {
    assert.deepEqual(
      [(await get('/pub/x', '6.6.6.7')).status, (await get('/pub/x', '6.6.6.7')).code],
      [403, 'ip_not_allowed'],
    );
    assert.equal((await get('/no/such/route', '6.6.6.7')).code, 'ip_not_allowed');
    assert.equal((await get('/pub/x', '6.6.7.1')).status, 200);
  });

  it('route lists: deny before allow, both families', async () => {
    assert.equal((await get('/fenced/x', '10.1.2.3')).status, 200);
    assert.equal((await get('/fenced/x', '2001:db8::5')).status, 200);
    assert.equal((await get('/fenced/x', '10.66.1.1')).code, 'ip_not_allowed');
    assert.equal((await get('/fenced/x', '192.0.2.1')).code, 'ip_not_allowed');
    assert.equal((await get('/fenced/x', '::ffff:10.1.2.3')).status, 200, 'IPv4-mapped is the IPv4 address');
  });

  it('key lists: a deny-list entry refuses inside the allow-list', async () => {
    const key = await createKey(gw, 'app', ['--ip-allow', '10.0.0.0/8', '--ip-deny', '10.9.0.0/16']);
    await settle(gw);
    const bearer = { authorization: `Bearer ${key.key}` };
    assert.equal((await get('/k/x', '10.1.1.1', bearer)).status, 200);
    assert.equal((await get('/k/x', '10.9.1.1', bearer)).code, 'ip_not_allowed');
    assert.equal((await get('/k/x', '11.0.0.1', bearer)).code, 'ip_not_allowed');
  });

  it('forwarded-header spoofing through a trusted proxy: only the rightmost untrusted hop counts', async () => {
    // The client forged "6.6.6.6" in front; the trusted proxy appended the real address.
    assert.equal((await get('/pub/x', '6.6.6.6, 10.0.0.1')).status, 200);
    assert.equal((await get('/pub/x', '10.0.0.1, 6.6.6.6')).code, 'ip_not_allowed');
    // Several XFF lines are one list.
    const twoLines = await rawRequest(
      gw.proxyPort,
      'GET /pub/x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n',
    );
    assert.equal(twoLines.status, 403);
    // Connection: X-Forwarded-For cannot make the gateway forget the forwarded address.
    assert.equal((await get('/pub/x', '6.6.6.6', { connection: 'x-forwarded-for' })).code, 'ip_not_allowed');
    // Garbage never throws: the walk stops at the last trusted address (the peer).
    assert.equal((await get('/pub/x', 'garbage, ,, 999.1.1.1, [::1')).status, 200);
    // A huge list within the header limit is walked quickly; beyond the limit it is 431.
    const many = `${Array.from({ length: 800 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', ')}, 6.6.6.6`;
    assert.equal((await get('/pub/x', many)).code, 'ip_not_allowed');
    const huge = Array.from({ length: 3000 }, () => '10.0.0.1').join(', ');
    assert.equal((await get('/pub/x', huge)).status, 431);
  });

  it('blocklist: an IP, a network, a key and a client; changes apply within a second; expiry lifts', async () => {
    const key = await createKey(gw, 'app');
    const bearer = { authorization: `Bearer ${key.key}` };
    await cliJson(gw, ['blocks', 'add', '--ip', '203.0.113.0/24', '--reason', 'scanner']);
    const took = await waitFor(
      'IP block applied',
      async () => (await get('/pub/x', '203.0.113.9')).code === 'blocked',
    );
    assert.ok(took < 1500, `${took} ms`);
    assert.equal((await get('/pub/x', '203.0.114.9')).status, 200);
    const blocked = await get('/pub/x', '203.0.113.9');
    assert.equal(blocked.status, 403);
    assert.doesNotMatch(blocked.text, /scanner/, 'the reason is for admins only');
    await cliJson(gw, ['blocks', 'remove', '--ip', '203.0.113.77/24']);
    await waitFor('IP block lifted', async () => (await get('/pub/x', '203.0.113.9')).status === 200);

    await cliJson(gw, ['bindings', 'ban', key.id, '--reason', 'leaked', '--expires', '2s']);
    await waitFor('key ban applied', async () => (await get('/k/x', '10.0.0.1', bearer)).code === 'blocked');
    await waitFor(
      'key ban expired',
      async () => (await get('/k/x', '10.0.0.1', bearer)).status === 200,
      4000,
    );

    await cliJson(gw, ['blocks', 'add', '--client', 'app', '--reason', 'unpaid']);
    await waitFor(
      'client block applied',
      async () => (await get('/k/x', '10.0.0.1', bearer)).code === 'blocked',
    );
    const listed = await cliJson<Array<{ kind: string; value: string }>>(gw, ['blocks', 'list']);
    assert.ok(listed.some((b) => b.kind === 'client' && b.value === 'app'));
    await cliJson(gw, ['blocks', 'remove', '--client', 'app']);
    await waitFor('client block lifted', async () => (await get('/k/x', '10.0.0.1', bearer)).status === 200);
  });

  it('blocks refuse bad input with a clear error', async () => {
    const bad = await gw.cli(['blocks', 'add', '--ip', '10.0.0.0/99', '--reason', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an IP address or CIDR/);
    const two = await gw.cli(['blocks', 'add', '--ip', '10.0.0.1', '--key', 'k', '--reason', 'x']);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /exactly one of/);
  });

  it('first-use binding: binds the first address, refuses others with an intercept, one alert per window', async () => {
    const key = await createKey(gw, 'app', ['--binding', 'single']);
    await settle(gw);
    const bearer = { authorization: `Bearer ${key.key}` };
    assert.equal((await get('/k/x', '10.20.0.1', bearer)).status, 200);
    assert.equal((await get('/k/x', '10.20.0.1', bearer)).status, 200);
    const refused = await get('/k/x', '10.20.0.2', bearer);
    assert.deepEqual([refused.status, refused.code], [403, 'ip_binding_violation']);
    assert.doesNotMatch(refused.text, /10\.20\.0\.1/, 'the bound address is not disclosed');
    for (let i = 3; i < 9; i++)
      assert.equal((await get('/k/x', `10.20.0.${i}`, bearer)).code, 'ip_binding_violation');

    const shown = await cliJson<{
      bindings: Array<{ address: string }>;
      recentIntercepts: Array<{ ip: string; bound: string[]; route: string }>;
    }>(gw, ['bindings', 'show', key.id]);
    assert.deepEqual(
      shown.bindings.map((b) => b.address),
      ['10.20.0.1/32'],
    );
    await waitFor('intercepts recorded', async () => {
      const rows = await cliJson<unknown[]>(gw, ['bindings', 'intercepts', '--key', key.id]);
      return rows.length === 7;
    });
    const [latest] = await cliJson<Array<{ ip: string; bound: string[]; route: string }>>(gw, [
      'bindings',
      'intercepts',
      '--key',
      key.id,
      '--limit',
      '1',
    ]);
    assert.deepEqual([latest?.ip, latest?.bound, latest?.route], ['10.20.0.8', ['10.20.0.1/32'], 'keyed']);

    await waitFor('one alert delivered', async () => receiver.hooks.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.hooks.length, 1, 'seven violations over a threshold of three: one alert');
    const [hook] = receiver.hooks;
    assert.ok(verifyWebhookSignature(WEBHOOK_SECRET, hook?.signature, hook?.body ?? '', Date.now()));
    const payload = JSON.parse(hook?.body ?? '{}') as {
      kind: string;
      details: { key: string; count: number };
    };
    assert.deepEqual([payload.kind, payload.details.key, payload.details.count], ['intercepts', key.id, 3]);
    assert.doesNotMatch(hook?.body ?? '', new RegExp(key.key), 'no secret in the alert');

    const store = await openStore({ url: `sqlite:${join(gw.dir, 'data', 'portcullis.db')}` });
    try {
      await waitFor('delivery recorded', async () => (await store.alertDeliveries.list()).length === 1);
      const [delivery] = await store.alertDeliveries.list();
      assert.deepEqual(
        [delivery?.status, delivery?.attempts, delivery?.url],
        ['delivered', 1, new URL(receiver.url).origin],
      );
    } finally {
      await store.close();
    }

    // Unbind: the next request binds afresh; re-bind to a network.
    await cliJson(gw, ['bindings', 'unbind', key.id]);
    await waitFor('unbound', async () => (await get('/k/x', '10.30.0.1', bearer)).status === 200);
    assert.equal((await get('/k/x', '10.20.0.1', bearer)).code, 'ip_binding_violation');
    await cliJson(gw, ['bindings', 'rebind', key.id, '--ip', '10.40.0.0/16']);
    await waitFor('re-bound', async () => (await get('/k/x', '10.40.9.9', bearer)).status === 200);
    assert.equal((await get('/k/x', '10.30.0.1', bearer)).code, 'ip_binding_violation');
  });

  it('a race of first requests from two addresses binds exactly one', async () => {
    const key = await createKey(gw, 'app', ['--binding', 'single']);
    await settle(gw);
    const bearer = { authorization: `Bearer ${key.key}` };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => get('/k/x', i % 2 === 0 ? '10.50.0.1' : '10.50.0.2', bearer)),
    );
    const bound = await cliJson<Array<{ address: string }>>(gw, ['bindings', 'list', '--key', key.id]);
    assert.equal(bound.length, 1);
    const winner = bound[0]?.address === '10.50.0.1/32' ? 0 : 1;
    for (const [i, r] of results.entries())
      assert.equal(r.status, i % 2 === winner ? 200 : 403, `request ${i}`);
  });

  it('multiple and all modes', async () => {
    const multi = await createKey(gw, 'app', ['--binding', 'multiple', '--max-ips', '2']);
    const all = await createKey(gw, 'app', ['--binding', 'all']);
    await settle(gw);
    const m = { authorization: `Bearer ${multi.key}` };
    assert.equal((await get('/k/x', '10.60.0.1', m)).status, 200);
    assert.equal((await get('/k/x', '10.60.0.2', m)).status, 200);
    assert.equal((await get('/k/x', '10.60.0.3', m)).code, 'ip_binding_violation');
    const a = { authorization: `Bearer ${all.key}` };
    for (let i = 1; i <= 4; i++) assert.equal((await get('/k/x', `10.70.0.${i}`, a)).status, 200);
    const recorded = await cliJson<unknown[]>(gw, ['bindings', 'list', '--key', all.id]);
    assert.equal(recorded.length, 4, '"all" records every address');
  });

  it('key binding settings are validated', async () => {
    const noCount = await gw.cli(['keys', 'create', '--client', 'app', '--binding', 'multiple']);
    assert.equal(noCount.code, 2);
    assert.match(noCount.stderr, /maxIps: a "multiple" binding needs --max-ips/);
    const badPrefix = await gw.cli([
      'keys',
      'create',
      '--client',
      'app',
      '--binding',
      'single',
      '--bind-prefix',
      '33',
    ]);
    assert.equal(badPrefix.code, 2);
    assert.match(badPrefix.stderr, /bindPrefixV4: must be a prefix length/);
    const key = await createKey(gw, 'app', ['--binding', 'single']);
    const noCountEdit = await gw.cli(['bindings', 'edit', key.id, '--mode', 'multiple']);
    assert.equal(noCountEdit.code, 2);
    const edited = await cliJson<{ mode: string; maxIps: number; bindPrefixV4: number | null }>(gw, [
      'bindings',
      'edit',
      key.id,
      '--mode',
      'multiple',
      '--max-ips',
      '3',
      '--bind-prefix',
      '24',
    ]);
    assert.deepEqual([edited.mode, edited.maxIps, edited.bindPrefixV4], ['multiple', 3, 24]);
    const updated = await cliJson<{ binding: string; bindPrefixV4: number | null }>(gw, [
      'keys',
      'update',
      key.id,
      '--binding',
      'single',
      '--bind-prefix',
      'none',
    ]);
    assert.deepEqual([updated.binding, updated.bindPrefixV4], ['single', null]);
  });
});

describe('IP controls with an untrusted peer', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: { routes: routes(`${upstream.url}/echo`) },
      env: { PORTCULLIS_GLOBAL_IP_DENY: '6.6.6.0/24' },
    });
    await addClient(gw, 'app');
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it('forwarding headers from an untrusted peer are ignored by every rule, and cannot pre-bind a key', async () => {
    for (const header of ['x-forwarded-for', 'x-real-ip', 'cf-connecting-ip', 'x-original-client-ip']) {
      const res = await request(`${gw.proxyUrl}/pub/x`, { headers: { [header]: '6.6.6.6' } });
      await res.body.text();
      assert.equal(res.statusCode, 200, header);
    }
    const key = await createKey(gw, 'app', ['--binding', 'single']);
    await settle(gw);
    const res = await request(`${gw.proxyUrl}/k/x`, {
      headers: { authorization: `Bearer ${key.key}`, 'x-forwarded-for': '10.9.9.9' },
    });
    await res.body.text();
    assert.equal(res.statusCode, 200);
    const bound = await cliJson<Array<{ address: string }>>(gw, ['bindings', 'list', '--key', key.id]);
    assert.deepEqual(
      bound.map((b) => b.address),
      ['127.0.0.1/32'],
      'bound to the real peer, not the forged header',
    );
  });
});

const redis = await redisGate();
describe('blocklist propagation across two instances sharing Redis', { skip: redis.skip }, () => {
  let upstream: ExampleUpstream;
  const gateways: GatewayProcess[] = [];
  before(async () => {
    upstream = await startExampleUpstream();
    const dir = tempDir();
    // Slow version polls: the change must arrive through Redis pub/sub.
    const env = {
      PORTCULLIS_REDIS_URL: REDIS_URL,
      PORTCULLIS_REDIS_TIMEOUT: '5s',
      PORTCULLIS_CONFIG_POLL_MS: '30000',
      PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32',
    };
    gateways.push(await startGateway({ dir, env, document: { routes: routes(`${upstream.url}/echo`) } }));
    gateways.push(await startGateway({ dir, env }));
  });
  after(async () => {
    for (const gw of gateways) await gw.stop();
    await upstream?.close();
  });

  it('a block added through one CLI reaches both instances within a second', async () => {
    const status = async (gw: GatewayProcess) => {
      const res = await request(`${gw.proxyUrl}/pub/x`, { headers: { 'x-forwarded-for': '192.0.2.200' } });
      await res.body.text();
      return res.statusCode;
    };
    for (const gw of gateways) assert.equal(await status(gw), 200);
    await cliJson(gateways[0] as GatewayProcess, ['blocks', 'add', '--ip', '192.0.2.200', '--reason', 'x']);
    const took = await Promise.all(
      gateways.map((gw) => waitFor('blocked', async () => (await status(gw)) === 403, 2000)),
    );
    for (const ms of took) assert.ok(ms < 1000, `${ms} ms`);
  });
});
