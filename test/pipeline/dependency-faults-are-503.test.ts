import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { buildHmacAuthorization } from '../../src/auth/hmac/sign.js';
import { systemClock } from '../../src/core/clock.js';
import { deriveSecretKeys } from '../../src/core/crypto.js';
import { IdentityCatalog } from '../../src/identity/catalog.js';
import { createClient, createKey, issueHmacSecret } from '../../src/identity/operations.js';
import { createPipeline } from '../../src/pipeline/pipeline.js';
import { authenticateStage } from '../../src/pipeline/stages/authenticate.js';
import { credentialStage } from '../../src/pipeline/stages/credentials.js';
import { routeStage } from '../../src/pipeline/stages/route.js';
import type { Decision, RequestFacts } from '../../src/pipeline/types.js';
import { parseRouteSpec } from '../../src/routing/spec.js';
import { RouteTable } from '../../src/routing/table.js';
import { MemoryState } from '../../src/state/memory.js';
import { openStore } from '../../src/store/open-store.js';

// STYLE rule 4: a fault in a store is a 503, never a 401/403 — a caller must not be told its
// valid credential is bad because a database or the shared state failed. Real stores, really
// closed underneath the pipeline.
describe('dependency faults during authentication are 503, never 401/403', () => {
  const logger = pino({ level: 'silent' });
  const keys = deriveSecretKeys(Buffer.alloc(32, 7));

  async function setup() {
    const store = await openStore({ url: 'sqlite::memory:' });
    await store.migrate();
    const ctx = { store, keys, clock: systemClock, keyPrefix: 'pcl' };
    await createClient(ctx, { id: 'app', name: 'App' });
    const issued = await createKey(ctx, { clientId: 'app', environment: 'live' });
    const { secret } = await issueHmacSecret(ctx, 'app');
    const state = new MemoryState();
    const identity = new IdentityCatalog({
      store,
      keys,
      clock: systemClock,
      logger,
      cacheTtlMs: 0,
      cacheSize: 0,
    });
    await identity.refresh();
    const table = RouteTable.compile(
      [
        parseRouteSpec({
          id: 'r',
          path: '/*',
          methods: { '*': ['api_key', 'hmac'] },
          upstream: { url: 'http://127.0.0.1:9' },
        }),
      ],
      { upstreamTimeoutMs: 1000 },
    );
    const decide = createPipeline([
      routeStage(() => table),
      credentialStage({ queryParam: undefined }),
      authenticateStage({
        identity,
        state,
        clock: systemClock,
        logger,
        hmacWindowS: 300,
        hmacBodyLimitBytes: 1024,
      }),
    ]);
    return { store, state, decide, key: issued.key, secret };
  }

  const facts = (rawHeaders: string[], method = 'GET'): RequestFacts => ({
    requestId: 'test',
    door: 'gateway',
    method,
    hostname: 'a.test',
    port: undefined,
    host: 'a.test',
    path: '/x',
    query: '',
    rawHeaders,
    hasBody: false,
    connection: undefined,
    rawTarget: '/x',
    clientIp: '127.0.0.1',
    peerIp: '127.0.0.1',
    protocol: 'http',
    startedAt: 0,
  });

  it('a valid key is allowed while the store works, and gets 503 when it does not', async () => {
    const { store, decide, key } = await setup();
    const ok = (await decide(facts(['authorization', `Bearer ${key}`]))) as Decision;
    assert.equal(ok.kind, 'allow');
    await store.close();
    const faulted = (await decide(facts(['authorization', `Bearer ${key}`]))) as Decision;
    assert.equal(faulted.kind, 'deny');
    assert.equal(faulted.kind === 'deny' && faulted.status, 503);
    assert.equal(faulted.kind === 'deny' && faulted.code, 'store_unavailable');
  });

  it('an HMAC request gets 503 when the nonce store fails', async () => {
    const { state, decide, secret } = await setup();
    const signed = () =>
      buildHmacAuthorization({ clientId: 'app', secret, method: 'GET', target: '/x' }).header;
    assert.equal(((await decide(facts(['authorization', signed()]))) as Decision).kind, 'allow');
    await state.close();
    const faulted = (await decide(facts(['authorization', signed()]))) as Decision;
    assert.equal(faulted.kind === 'deny' && faulted.status, 503);
  });
});
