/**
 * JWKS behaviour against a real HTTP server on 127.0.0.1:0: selection by kid, TTL with
 * background refresh, last good keys kept through an outage, kid flooding bounded by the
 * cooldown, bounded fetch time and size, no redirects.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { fetchJwksDocument, JwksCache, type JwksFetch } from '../../../src/auth/jwt/jwks-cache.js';
import { parseJwtProviderSpec } from '../../../src/auth/jwt/spec.js';
import { JwtVerifier } from '../../../src/auth/jwt/verifier.js';
import {
  claimsAt,
  craft,
  ecKeyPair,
  jwkFor,
  ManualClock,
  recordingLogger,
  rsaKeyPair,
  secretKeys,
  serveJwks,
  startServer,
  type TestServer,
} from './helpers.js';

const ISS = 'https://idp.test';
const k1 = rsaKeyPair();
const k2 = rsaKeyPair();
const k3 = rsaKeyPair();
const ecKey = ecKeyPair('P-256');

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function setup(
  keys: unknown[],
  jwks: Record<string, number> = {},
  fetch?: JwksFetch,
  algorithms: string[] = ['RS256'],
) {
  const source = { keys };
  const server = await startServer(serveJwks(source));
  servers.push(server);
  const clock = new ManualClock();
  const logger = recordingLogger();
  const spec = parseJwtProviderSpec({
    id: 'idp',
    jwks_url: `${server.origin}/.well-known/jwks.json`,
    algorithms,
    issuer: ISS,
    jwks: { cache_ttl_s: 600, cooldown_s: 30, timeout_ms: 1000, ...jwks },
  });
  const verifier = await JwtVerifier.create([spec], {
    keys: secretKeys,
    clock,
    logger,
    ...(fetch ? { fetch } : {}),
  });
  const token = (header: Record<string, unknown>, key = k1) =>
    craft(
      { alg: 'RS256', ...header },
      claimsAt(clock, { iss: ISS, exp: Math.floor(clock.now() / 1000) + 86_400 }),
      key.privateKey,
    );
  return { server, source, clock, logger, verifier, token };
}

describe('key selection', () => {
  test('the key is chosen by kid among several', async () => {
    const { verifier, token, server } = await setup([
      jwkFor(k1, 'one'),
      jwkFor(k2, 'two'),
      jwkFor(ecKey, 'ec'),
    ]);
    assert.equal((await verifier.verify(token({ kid: 'one' }, k1))).ok, true);
    assert.equal((await verifier.verify(token({ kid: 'two' }, k2))).ok, true);
    assert.equal((await verifier.verify(token({ kid: 'two' }, k1))).ok, false, 'kid two, signed by key one');
    assert.equal(server.requests.length, 1, 'one fetch serves all lookups');
  });

  test('a kid whose key has another type or alg is not used', async () => {
    const { verifier, token } = await setup([jwkFor(ecKey, 'shared'), { ...jwkFor(k1, 'ps'), alg: 'PS256' }]);
    assert.equal((await verifier.verify(token({ kid: 'shared' }, k1))).ok, false);
    assert.equal((await verifier.verify(token({ kid: 'ps' }, k1))).ok, false, 'JWK alg PS256, token RS256');
  });

  test('without kid: the single fitting key is used, several are ambiguous', async () => {
    const one = await setup([jwkFor(k1, undefined), jwkFor(ecKey, 'ec')]);
    assert.equal((await one.verifier.verify(one.token({}, k1))).ok, true);
    const two = await setup([jwkFor(k1, 'a'), jwkFor(k2, 'b')]);
    const outcome = await two.verifier.verify(two.token({}, k1));
    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? '' : outcome.reason, /several JWKS keys/);
  });

  test('private, symmetric and malformed entries are skipped with a warning', async () => {
    const { verifier, token, logger } = await setup([
      { ...k2.privateKey.export({ format: 'jwk' }), kid: 'leaked' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'sym' },
      { kid: 'no-kty' },
      'not a key',
      jwkFor(k1, 'good'),
    ]);
    assert.equal((await verifier.verify(token({ kid: 'leaked' }, k2))).ok, false);
    assert.equal((await verifier.verify(token({ kid: 'good' }, k1))).ok, true);
    assert.ok(logger.warnings.some((w) => w.fields.skipped === 4));
  });
});

describe('cache lifetime', () => {
  test('no refetch within the TTL; after it, stale keys answer while one background refresh runs', async () => {
    const { verifier, token, server, source, clock } = await setup([jwkFor(k1, 'one')], { cache_ttl_s: 600 });
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    clock.advance(599_000);
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    assert.equal(server.requests.length, 1);

    source.keys = [jwkFor(k2, 'two')];
    clock.advance(1000);
    // Stale: answered from the old set at once, refresh started in the background.
    const results = await Promise.all([1, 2, 3].map(() => verifier.verify(token({ kid: 'one' }))));
    assert.ok(results.every((r) => r.ok));
    await verifier.flush();
    assert.equal(server.requests.length, 2, 'one background refresh for all stale hits');
    assert.equal(
      (await verifier.verify(token({ kid: 'two' }, k2))).ok,
      true,
      'new key usable without a fetch',
    );
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, false, 'removed key no longer verifies');
    await verifier.flush();
    assert.equal(server.requests.length, 2, 'the unknown kid "one" is within the cooldown: no fetch');
  });

  test('endpoint down: the last good keys still verify, a warning is logged, retries respect the cooldown', async () => {
    const { verifier, token, server, clock, logger } = await setup([jwkFor(k1, 'one')], {
      cache_ttl_s: 60,
      cooldown_s: 30,
    });
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    server.handler = (_req, res) => {
      res.writeHead(503);
      res.end('down');
    };
    clock.advance(61_000);
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    await verifier.flush();
    assert.equal(server.requests.length, 2);
    assert.ok(logger.warnings.some((w) => /keeping the last good key set/.test(w.message)));
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    }
    await verifier.flush();
    assert.equal(server.requests.length, 2, 'no retry before the cooldown');
    clock.advance(30_000);
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    await verifier.flush();
    assert.equal(server.requests.length, 3);
  });

  test('an invalid document keeps the last good keys too', async () => {
    const { verifier, token, server, clock, logger } = await setup([jwkFor(k1, 'one')], { cache_ttl_s: 60 });
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"not_keys": []}');
    };
    clock.advance(61_000);
    await verifier.verify(token({ kid: 'one' }));
    await verifier.flush();
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    assert.ok(logger.warnings.some((w) => /"keys" array/.test(String(w.fields.err))));
  });

  test('first fetch failing: refused, and no second fetch within the cooldown', async () => {
    const { verifier, token, server, clock } = await setup([jwkFor(k1, 'one')]);
    server.handler = (_req, res) => {
      res.writeHead(500);
      res.end();
    };
    const outcome = await verifier.verify(token({ kid: 'one' }));
    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? '' : outcome.reason, /no JWKS key set/);
    clock.advance(10_000);
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, false);
    assert.equal(server.requests.length, 1);
    server.handler = serveJwks({ keys: [jwkFor(k1, 'one')] });
    clock.advance(20_000);
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    assert.equal(server.requests.length, 2);
  });
});

describe('kid flooding', () => {
  test('100 tokens with 100 random unknown kids within the cooldown cause exactly one extra fetch', async () => {
    const { verifier, token, server, clock } = await setup([jwkFor(k1, 'one')], { cooldown_s: 30 });
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    assert.equal(server.requests.length, 1);
    clock.advance(31_000);
    const attacker = k3;
    const kids = Array.from({ length: 100 }, () => randomUUID());
    const outcomes = await Promise.all(kids.map((kid) => verifier.verify(token({ kid }, attacker))));
    assert.ok(outcomes.every((o) => !o.ok));
    await verifier.flush();
    assert.equal(server.requests.length, 2, 'exactly one extra fetch for 100 unknown kids');
    for (const kid of kids.slice(0, 50))
      assert.equal((await verifier.verify(token({ kid }, attacker))).ok, false);
    await verifier.flush();
    assert.equal(server.requests.length, 2, 'sequential floods within the cooldown fetch nothing');
    assert.ok(server.requests.every((url) => url === '/.well-known/jwks.json'));
  });

  test('a rotated key is picked up by the one fetch an unknown kid may cause', async () => {
    const { verifier, token, server, source, clock } = await setup([jwkFor(k1, 'one')]);
    assert.equal((await verifier.verify(token({ kid: 'one' }))).ok, true);
    source.keys = [jwkFor(k1, 'one'), jwkFor(k2, 'two')];
    clock.advance(30_000);
    assert.equal((await verifier.verify(token({ kid: 'two' }, k2))).ok, true);
    assert.equal(server.requests.length, 2);
  });
});

describe('bounded fetch', () => {
  test('a hanging endpoint is given up after timeout_ms', async () => {
    const hanging = await startServer(() => {
      /* never answers */
    });
    servers.push(hanging);
    const clock = new ManualClock();
    const logger = recordingLogger();
    const cache = new JwksCache(
      `${hanging.origin}/jwks`,
      { cacheTtlS: 600, cooldownS: 30, timeoutMs: 200 },
      { clock, logger },
    );
    const started = performance.now();
    const result = await cache.keyFor('one', 'RS256');
    const elapsed = performance.now() - started;
    assert.equal(result.ok, false);
    assert.ok(elapsed < 1500, `took ${elapsed} ms`);
    assert.ok(logger.warnings.length === 1);
  });

  test('an injected fetch that never settles is bounded by the cache deadline', async () => {
    const clock = new ManualClock();
    const logger = recordingLogger();
    const never: JwksFetch = () => new Promise(() => {});
    const cache = new JwksCache(
      'https://idp.example/jwks',
      { cacheTtlS: 600, cooldownS: 30, timeoutMs: 150 },
      { clock, logger, fetch: never },
    );
    const started = performance.now();
    const results = await Promise.all([cache.keyFor('a', 'RS256'), cache.keyFor('b', 'RS256')]);
    assert.ok(results.every((r) => !r.ok));
    assert.ok(performance.now() - started < 1500);
    assert.match(String(logger.warnings[0]?.fields.err), /longer than 150 ms/);
  });

  test('a body over 1 MiB is refused', async () => {
    const big = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"keys":[],"pad":"${'x'.repeat(1024 * 1024)}"}`);
    });
    servers.push(big);
    await assert.rejects(
      fetchJwksDocument(`${big.origin}/jwks`, { timeoutMs: 2000, maxBytes: 1024 * 1024 }),
      /larger than/,
    );
  });

  test('a chunked body over the limit is refused while streaming', async () => {
    const big = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 20; i++) res.write('x'.repeat(64 * 1024));
      res.end();
    });
    servers.push(big);
    await assert.rejects(
      fetchJwksDocument(`${big.origin}/jwks`, { timeoutMs: 2000, maxBytes: 1024 * 1024 }),
      /larger than/,
    );
  });

  test('redirects are not followed', async () => {
    const target = await startServer(serveJwks({ keys: [jwkFor(k1, 'one')] }));
    const redirecting = await startServer((_req, res) => {
      res.writeHead(302, { location: `${target.origin}/jwks` });
      res.end();
    });
    servers.push(target, redirecting);
    await assert.rejects(
      fetchJwksDocument(`${redirecting.origin}/jwks`, { timeoutMs: 2000, maxBytes: 1024 }),
      /HTTP 302/,
    );
    assert.equal(target.requests.length, 0);
  });

  test('non-JSON is refused', async () => {
    const html = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    });
    servers.push(html);
    await assert.rejects(fetchJwksDocument(`${html.origin}/jwks`, { timeoutMs: 2000, maxBytes: 1024 }));
  });
});

describe('only the configured URL is fetched', () => {
  test('an injected fetch sees only the configured URL, whatever the tokens say', async () => {
    const seen: string[] = [];
    const recording: JwksFetch = async (url, options) => {
      seen.push(url);
      return fetchJwksDocument(url, options);
    };
    const { verifier, token, server, clock } = await setup([jwkFor(k1, 'one')], {}, recording);
    for (const header of [
      { kid: '../../admin' },
      { kid: 'x', jku: 'http://127.0.0.1:1/evil' },
      { x5u: 'http://127.0.0.1:1/cert' },
      { kid: 'one', jku: 'http://127.0.0.1:1/evil' },
    ]) {
      clock.advance(31_000);
      await verifier.verify(token(header, k3));
    }
    await verifier.flush();
    assert.ok(seen.length >= 1);
    assert.ok(
      seen.every((u) => u === `${server.origin}/.well-known/jwks.json`),
      JSON.stringify(seen),
    );
  });
});
