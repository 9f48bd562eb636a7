import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { buildHmacAuthorization } from '../../src/auth/hmac/sign.js';
import { type GatewayProcess, startGateway, tempDir } from '../helpers/gateway.js';
import { addClient, cliJson, createKey, grant, settle } from '../helpers/identity.js';
import { REDIS_URL, redisGate } from '../helpers/services.js';

// With PORTCULLIS_REDIS_URL, budgets and HMAC nonces hold across instances: two gateway
// processes sharing one database and one Redis.
const redis = await redisGate();

describe('two instances sharing Redis', { skip: redis.skip }, () => {
  let upstream: ExampleUpstream;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let secret: string;

  before(async () => {
    upstream = await startExampleUpstream();
    const dir = tempDir();
    // Exact counts across instances: a loaded machine must not push a Redis command past its
    // timeout into a degraded mode (see limits-across-instances).
    const env = {
      PORTCULLIS_REDIS_URL: REDIS_URL,
      PORTCULLIS_REDIS_TIMEOUT: '5s',
      PORTCULLIS_SECRET_KEY: 'ab'.repeat(32),
    };
    const document = {
      routes: [
        {
          id: 'echo',
          path: '/echo/*',
          methods: { GET: 'api_key', POST: 'hmac' },
          upstream: { url: upstream.url },
        },
      ],
    };
    a = await startGateway({ dir, env, document });
    b = await startGateway({ dir, env });
    await addClient(a, 'app');
    await grant(a, 'app', 'echo');
    secret = (await cliJson<{ secret: string }>(a, ['clients', 'hmac-secret', '--client', 'app'])).secret;
    await settle(a, b);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await upstream?.close();
  });

  it('a remaining-uses budget is shared: 20 concurrent requests over two instances, budget 7 → exactly 7 allowed', async () => {
    const key = await createKey(a, 'app', ['--uses', '7']);
    await settle(a, b);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await request(`${(i % 2 === 0 ? a : b).proxyUrl}/echo/x`, {
          headers: { authorization: `Bearer ${key.key}` },
        });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    assert.equal(statuses.filter((s) => s === 200).length, 7, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 403).length, 13);
  });

  it('an HMAC nonce used on one instance is refused on the other', async () => {
    const body = '{"n":1}';
    const { header } = buildHmacAuthorization({
      clientId: 'app',
      secret,
      method: 'POST',
      target: '/echo/pay',
      body,
    });
    const send = async (gw: GatewayProcess) => {
      const res = await request(`${gw.proxyUrl}/echo/pay`, {
        method: 'POST',
        body,
        headers: { authorization: header },
      });
      const text = await res.body.text();
      return { status: res.statusCode, text };
    };
    assert.equal((await send(a)).status, 200);
    const replay = await send(b);
    assert.equal(replay.status, 401);
    assert.match(replay.text, /replayed_request/);
  });

  it('a revocation made through one reaches the other within a second', async () => {
    const key = await createKey(a, 'app');
    await settle(a, b);
    const before = await request(`${b.proxyUrl}/echo/x`, { headers: { authorization: `Bearer ${key.key}` } });
    await before.body.dump();
    assert.equal(before.statusCode, 200);
    await cliJson(a, ['keys', 'revoke', key.id, '--reason', 'test']);
    await new Promise((r) => setTimeout(r, 1000));
    const after = await request(`${b.proxyUrl}/echo/x`, { headers: { authorization: `Bearer ${key.key}` } });
    await after.body.dump();
    assert.equal(after.statusCode, 401);
  });
});
