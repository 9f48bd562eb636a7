import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, cliJson, createKey, grant, settle } from '../helpers/identity.js';

describe('rate limits through a real gateway (in-memory limiter)', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      env: { PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32' },
      document: {
        policies: [
          { id: 'three-per-2s', algorithm: 'fixed_window', limit: 3, window: '2s', key_by: ['key'] },
          { id: 'daily', algorithm: 'quota', limit: 2, period: 'day', key_by: ['key'] },
          { id: 'one-at-a-time', algorithm: 'concurrency', limit: 1, key_by: ['route'] },
          {
            id: 'shadow-one',
            algorithm: 'fixed_window',
            limit: 1,
            window: '60s',
            key_by: ['ip'],
            shadow: true,
          },
          {
            id: 'refunding',
            algorithm: 'fixed_window',
            limit: 100,
            window: '1h',
            key_by: ['key'],
            refund_on_5xx: true,
          },
          {
            id: 'per-ip-global',
            algorithm: 'token_bucket',
            rate: '1000/s',
            key_by: ['ip'],
            attach: ['global'],
          },
        ],
        routes: [
          {
            id: 'limited',
            path: '/limited/*',
            methods: { GET: 'api_key' },
            policies: ['three-per-2s'],
            upstream: { url: `${upstream.url}/echo`, strip_prefix: '/limited' },
          },
          {
            id: 'quota',
            path: '/quota/*',
            methods: { GET: 'api_key' },
            policies: ['daily'],
            upstream: { url: `${upstream.url}/echo`, strip_prefix: '/quota' },
          },
          {
            id: 'slow',
            path: '/slow',
            methods: { GET: 'public' },
            policies: ['one-at-a-time'],
            upstream: { url: upstream.url },
          },
          {
            id: 'shadowed',
            path: '/hello',
            methods: { GET: 'public' },
            policies: ['shadow-one'],
            upstream: { url: upstream.url },
          },
          {
            id: 'failing',
            path: '/failing/*',
            methods: { GET: 'api_key' },
            policies: ['refunding'],
            upstream: { url: `${upstream.url}/status`, strip_prefix: '/failing' },
          },
          {
            id: 'plain',
            path: '/plain/*',
            methods: { GET: 'api_key' },
            upstream: { url: `${upstream.url}/echo`, strip_prefix: '/plain' },
          },
        ],
      },
    });
    await addClient(gw, 'app');
    for (const route of ['limited', 'quota', 'plain', 'failing']) await grant(gw, 'app', route);
    await settle(gw);
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${gw.proxyUrl}${path}`, { headers });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  };

  it('allows up to the limit, then 429 with Retry-After and RateLimit headers; denied requests consume nothing', async () => {
    const key = await createKey(gw, 'app');
    await settle(gw);
    const auth = { authorization: `Bearer ${key.key}` };
    // Start right after a window boundary so all requests fall in one 2 s window.
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000) + 20));
    const first = await get('/limited/a', auth);
    assert.equal(first.status, 200);
    assert.equal(first.headers['ratelimit-policy'], '"three-per-2s";q=3;w=2');
    assert.match(String(first.headers['ratelimit']), /^"three-per-2s";r=2;t=[12]$/);
    assert.equal(first.headers['x-ratelimit-limit'], '3');
    assert.equal(first.headers['x-ratelimit-remaining'], '2');
    assert.equal((await get('/limited/a', auth)).status, 200);
    assert.equal((await get('/limited/a', auth)).status, 200);
    for (let i = 0; i < 10; i++) {
      const denied = await get('/limited/a', auth);
      assert.equal(denied.status, 429);
      assert.equal((JSON.parse(denied.text) as { code: string }).code, 'rate_limited');
      assert.ok(Number(denied.headers['retry-after']) >= 1);
      assert.equal(denied.headers['x-ratelimit-remaining'], '0');
    }
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000) + 20));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('/limited/a', auth)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429], 'the hammering did not lock the client out');
  });

  it('rotation never doubles a limit: old and new secrets share the key buckets', async () => {
    const key = await createKey(gw, 'app');
    const rotated = await cliJson<{ key: string }>(gw, ['keys', 'rotate', key.id, '--grace', '1h']);
    await settle(gw);
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000) + 20));
    const statuses = [];
    for (const k of [key.key, rotated.key, key.key, rotated.key])
      statuses.push((await get('/limited/x', { authorization: `Bearer ${k}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('answers quota_exceeded for quotas', async () => {
    const key = await createKey(gw, 'app');
    await settle(gw);
    const auth = { authorization: `Bearer ${key.key}` };
    assert.equal((await get('/quota/a', auth)).status, 200);
    assert.equal((await get('/quota/a', auth)).status, 200);
    const over = await get('/quota/a', auth);
    assert.equal(over.status, 429);
    assert.equal((JSON.parse(over.text) as { code: string }).code, 'quota_exceeded');
  });

  it('limits requests in flight and releases the slot when the response ends', async () => {
    const slow = get('/slow?ms=600');
    await new Promise((r) => setTimeout(r, 150));
    const second = await get('/slow?ms=10');
    assert.equal(second.status, 429);
    assert.equal((await slow).status, 200);
    assert.equal((await get('/slow?ms=10')).status, 200, 'the slot came back');
  });

  it('releases the slot when the client aborts', async () => {
    const controller = new AbortController();
    const aborted = request(`${gw.proxyUrl}/slow?ms=5000`, { signal: controller.signal }).catch(
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    await aborted;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await get('/slow?ms=10')).status, 200);
  });

  it('shadow policies deny nothing and record what they would have done', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get('/hello')).status, 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(gw.output(), /shadow rate limit would have denied/);
  });

  it('the most specific level wins: a key-attached policy replaces the global one', async () => {
    const key = await createKey(gw, 'app');
    await cliJson(gw, [
      'policies',
      'add',
      '--id',
      `only-one-${key.id.toLowerCase().slice(4, 10)}`,
      '--algorithm',
      'fixed_window',
      '--limit',
      '1',
      '--window',
      '60s',
      '--key-by',
      'key',
      '--attach',
      `key:${key.id}`,
    ]);
    await settle(gw);
    const auth = { authorization: `Bearer ${key.key}` };
    const first = await get('/plain/x', auth);
    assert.equal(first.status, 200);
    assert.match(String(first.headers['ratelimit-policy']), /^"only-one-/);
    assert.equal((await get('/plain/x', auth)).status, 429);
    const other = await createKey(gw, 'app');
    await settle(gw);
    const global = await get('/plain/x', { authorization: `Bearer ${other.key}` });
    assert.equal(global.status, 200);
    assert.equal(global.headers['ratelimit-policy'], '"per-ip-global";q=1000;w=1');
  });

  it('refund_on_5xx gives back the remaining-uses credit when the upstream fails', async () => {
    const key = await createKey(gw, 'app', ['--uses', '2']);
    await settle(gw);
    const auth = { authorization: `Bearer ${key.key}` };
    for (let i = 0; i < 3; i++) assert.equal((await get('/failing/500', auth)).status, 500);
    assert.equal((await get('/failing/200', auth)).status, 200, 'failed requests did not use the budget');
    assert.equal((await get('/failing/200', auth)).status, 200);
    const exhausted = await get('/failing/200', auth);
    assert.equal(exhausted.status, 403);
    assert.equal((JSON.parse(exhausted.text) as { code: string }).code, 'usage_exhausted');
  });

  it('forward-auth answers carry the rate-limit headers and 429', async () => {
    const key = await createKey(gw, 'app');
    await settle(gw);
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000) + 20));
    const ask = () =>
      get('/_portcullis/authz', {
        'x-original-uri': '/limited/z',
        'x-original-method': 'GET',
        authorization: `Bearer ${key.key}`,
      });
    const ok = await ask();
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-ratelimit-remaining'], '2');
    await ask();
    await ask();
    const denied = await ask();
    assert.equal(denied.status, 429);
    assert.ok(denied.headers['retry-after']);
  });
});
