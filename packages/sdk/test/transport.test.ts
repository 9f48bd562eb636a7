import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { createTransport, PortcullisError, SDK_VERSION } from '../src/index.js';
import {
  closedPort,
  json,
  problem,
  recordingSleep,
  startServer,
  type TestServer,
} from './helpers/http-server.js';

const TOKEN = 'pclsvc_s3cr3t-token-value-0123456789';

async function rejection(promise: Promise<unknown>): Promise<PortcullisError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PortcullisError, `expected a PortcullisError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('transport: requests and answers', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => {
      if (req.url.startsWith('/empty')) {
        res.writeHead(204).end();
        return;
      }
      if (req.url.startsWith('/text')) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('plain');
        return;
      }
      json(res, 200, { echo: req.body.length > 0 ? JSON.parse(req.body.toString()) : null });
    });
  });
  after(() => server.close());

  test('sends the bearer token, JSON accept and content type, user agent and the query', async () => {
    const transport = createTransport({ baseUrl: `${server.url}/prefix/`, token: TOKEN });
    const answer = await transport.request<{ echo: unknown }>({
      method: 'POST',
      path: '/admin/api/clients',
      query: { limit: 10, cursor: 'a b', skip: undefined, none: null, tag: ['x', 'y'], on: true },
      body: { name: 'Mobile App' },
    });
    assert.deepEqual(answer, { echo: { name: 'Mobile App' } });
    const seen = server.received.at(-1)!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/prefix/admin/api/clients?limit=10&cursor=a+b&tag=x&tag=y&on=true');
    assert.equal(seen.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(seen.headers.accept, 'application/json');
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['user-agent'], `portcullis-sdk/${SDK_VERSION}`);
  });

  test('no token, no Authorization header; a GET carries no body or content type', async () => {
    const transport = createTransport({ baseUrl: server.url, userAgent: 'my-app/1.0' });
    await transport.request({ method: 'GET', path: '/x' });
    const seen = server.received.at(-1)!;
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['content-type'], undefined);
    assert.equal(seen.headers['user-agent'], 'my-app/1.0');
  });

  test('204 and empty answers are undefined; non-JSON answers are text', async () => {
    const transport = createTransport({ baseUrl: server.url });
    assert.equal(await transport.request({ method: 'DELETE', path: '/empty' }), undefined);
    assert.equal(await transport.request({ method: 'GET', path: '/text' }), 'plain');
  });

  test('options are validated with messages naming the field', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ baseUrl: 'ftp://x' }, /^baseUrl must be an absolute http/],
      [{ baseUrl: 'not a url' }, /^baseUrl must be an absolute http/],
      [{ baseUrl: 'http://u:p@x' }, /^baseUrl must not carry credentials/],
      [{ baseUrl: 'http://x/?a=1' }, /^baseUrl must not have a query/],
      [{ baseUrl: 'http://x', token: '' }, /^token must be/],
      [{ baseUrl: 'http://x', token: 'a\nb' }, /^token must be/],
      [{ baseUrl: 'http://x', timeoutMs: 0 }, /^timeoutMs must be an integer >= 1/],
      [{ baseUrl: 'http://x', retries: -1 }, /^retries must be an integer >= 0/],
      [{ baseUrl: 'http://x', retries: 1.5 }, /^retries must be an integer >= 0/],
      [
        { baseUrl: 'http://x', backoff: { baseMs: 10, maxMs: 5 } },
        /^backoff.maxMs must be >= backoff.baseMs/,
      ],
      [{ baseUrl: 'http://x', breaker: { failureThreshold: 0 } }, /^breaker.failureThreshold must be/],
      [{ baseUrl: 'http://x', breaker: { resetMs: -1 } }, /^breaker.resetMs must be/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => createTransport(options as never),
        (error: Error) => error instanceof TypeError && message.test(error.message),
        JSON.stringify(options),
      );
    }
  });

  test('a token that fails validation is not echoed in the message', () => {
    assert.throws(
      () => createTransport({ baseUrl: 'http://x', token: `${TOKEN}\r\n` }),
      (error: Error) => !error.message.includes(TOKEN),
    );
  });

  test('request paths must start with / and cannot leave the base origin', async () => {
    const transport = createTransport({ baseUrl: server.url, token: TOKEN });
    await assert.rejects(
      transport.request({ method: 'GET', path: 'http://evil.test/' }),
      /request.path must start/,
    );
    await assert.rejects(transport.request({ method: 'GET', path: '/x#frag' }), /request.path must start/);
    await assert.rejects(transport.request({ method: 'GET x', path: '/' }), /request.method must be/);
  });
});

describe('transport: errors', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => {
      if (req.url.startsWith('/problem')) {
        problem(res, 404, {
          title: 'Not found',
          detail: 'no client "x"',
          code: 'not_found',
          requestId: 'req-1',
        });
      } else if (req.url === '/echo-token') {
        // A misbehaving server (or proxy) that reflects the credential back.
        const auth = String(req.headers.authorization);
        problem(res, 400, {
          title: `bad ${auth}`,
          detail: `you sent ${auth}`,
          code: 'bad_request',
          nested: [auth],
        });
      } else if (req.url === '/html') {
        res
          .writeHead(502, { 'content-type': 'text/html', 'x-request-id': 'edge-7' })
          .end('<h1>Bad gateway</h1>');
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end();
      } else if (req.url === '/bad-json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{nope');
      } else {
        json(res, 200, {});
      }
    });
  });
  after(() => server.close());

  test('problem+json becomes a PortcullisError carrying status, code, detail, requestId, problem', async () => {
    const transport = createTransport({ baseUrl: server.url, token: TOKEN });
    const error = await rejection(
      transport.request({ method: 'GET', path: '/problem', query: { q: 'secret' } }),
    );
    assert.equal(error.name, 'PortcullisError');
    assert.ok(error instanceof Error);
    assert.equal(error.status, 404);
    assert.equal(error.code, 'not_found');
    assert.equal(error.detail, 'no client "x"');
    assert.equal(error.requestId, 'req-1');
    assert.equal(error.problem?.title, 'Not found');
    assert.equal(error.method, 'GET');
    assert.equal(error.path, '/problem');
    assert.equal(error.message, 'GET /problem → 404 not_found: no client "x"');
    assert.equal(server.received.filter((r) => r.url.startsWith('/problem')).length, 1, '4xx is not retried');
  });

  test('an answer without a problem document gets code http_<status> and the request id header', async () => {
    const transport = createTransport({ baseUrl: server.url, retries: 0 });
    const error = await rejection(transport.request({ method: 'GET', path: '/html' }));
    assert.equal(error.status, 502);
    assert.equal(error.code, 'http_502');
    assert.equal(error.requestId, 'edge-7');
    assert.equal(error.problem, undefined);
  });

  test('redirects are not followed (the token must not travel elsewhere)', async () => {
    const transport = createTransport({ baseUrl: server.url, token: TOKEN });
    const error = await rejection(transport.request({ method: 'GET', path: '/redirect' }));
    assert.equal(error.status, 302);
  });

  test('a 2xx JSON answer that does not parse is invalid_response', async () => {
    const transport = createTransport({ baseUrl: server.url });
    const error = await rejection(transport.request({ method: 'GET', path: '/bad-json' }));
    assert.equal(error.code, 'invalid_response');
    assert.equal(error.status, 200);
  });

  test('the token never appears in an error, even when the server reflects it', async () => {
    const transport = createTransport({ baseUrl: server.url, token: TOKEN, timeoutMs: 200, retries: 0 });
    const port = await closedPort();
    const offline = createTransport({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN, retries: 0 });
    const errors = [
      await rejection(transport.request({ method: 'GET', path: '/echo-token' })),
      await rejection(offline.request({ method: 'GET', path: '/x' })),
    ];
    assert.equal(errors[0]?.detail, 'you sent Bearer [redacted]');
    for (const error of errors) {
      for (const text of [error.message, String(error), error.stack ?? '', inspect(error, { depth: 10 })]) {
        assert.ok(!text.includes(TOKEN), `token leaked into: ${text}`);
      }
      assert.ok(!JSON.stringify(error.problem ?? {}).includes(TOKEN));
    }
    assert.ok(!inspect(transport, { depth: 10, showHidden: true }).includes(TOKEN));
  });
});

describe('transport: timeouts and network errors', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      if (req.url === '/slow-body') {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write('{"n":1}\n');
        setTimeout(() => res.end('{"n":2}\n'), 300);
        return;
      }
      json(res, 200, { ok: true });
    });
  });
  after(() => server.close());

  test('a call with no answer within timeoutMs fails with code timeout; GET is retried', async () => {
    const { delays, sleep } = recordingSleep();
    const transport = createTransport({ baseUrl: server.url, timeoutMs: 100, retries: 2, sleep });
    const before = server.received.length;
    const started = performance.now();
    const error = await rejection(transport.request({ method: 'GET', path: '/hang' }));
    assert.equal(error.code, 'timeout');
    assert.equal(error.status, undefined);
    assert.match(error.message, /no answer within 100 ms/);
    assert.equal(server.received.length - before, 3);
    assert.equal(delays.length, 2);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 10_000, `three 100 ms attempts took ${elapsed} ms`);
  });

  test('a per-call timeoutMs overrides the transport default', async () => {
    const transport = createTransport({ baseUrl: server.url, timeoutMs: 60_000, retries: 0 });
    const error = await rejection(transport.request({ method: 'GET', path: '/hang', timeoutMs: 50 }));
    assert.equal(error.code, 'timeout');
  });

  test('a refused connection is network_error and is retried for GET', async () => {
    const { delays, sleep } = recordingSleep();
    const port = await closedPort();
    const transport = createTransport({ baseUrl: `http://127.0.0.1:${port}`, retries: 3, sleep });
    const error = await rejection(transport.request({ method: 'GET', path: '/x' }));
    assert.equal(error.code, 'network_error');
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(delays.length, 3);
  });

  test('the caller aborting stops the call (code aborted) and it is not retried', async () => {
    const transport = createTransport({ baseUrl: server.url, timeoutMs: 5000, sleep: async () => {} });
    const before = server.received.length;
    const controller = new AbortController();
    const call = rejection(transport.request({ method: 'GET', path: '/hang', signal: controller.signal }));
    while (server.received.length === before) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const error = await call;
    assert.equal(error.code, 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.received.length - before, 1);
  });

  test('requestRaw returns the streaming Response; its timeout covers the headers only', async () => {
    const transport = createTransport({ baseUrl: server.url, token: TOKEN, timeoutMs: 100 });
    const response = await transport.requestRaw({
      method: 'GET',
      path: '/slow-body',
      headers: { accept: 'application/x-ndjson' },
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '{"n":1}\n{"n":2}\n');
    assert.equal(server.received.at(-1)?.headers.accept, 'application/x-ndjson');
    assert.equal(server.received.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
    const error = await rejection(transport.requestRaw({ method: 'GET', path: '/hang' }));
    assert.equal(error.code, 'timeout');
  });
});

describe('transport: retries', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((_req, res) => json(res, 200, {}));
  });
  after(() => server.close());

  /** Fails `failures` times with `status` (and headers), then answers 200 {n}. */
  function failThenSucceed(failures: number, status: number, headers: Record<string, string> = {}) {
    const start = server.received.length;
    server.handle((_req, res, index) => {
      const n = index - start;
      if (n < failures) problem(res, status, { title: 'nope', code: `s${status}` }, headers);
      else json(res, 200, { n });
    });
    return () => server.received.length - start;
  }

  test('idempotent calls are retried on 502/503/504/429 with full-jitter exponential backoff', async () => {
    for (const status of [502, 503, 504, 429]) {
      const { delays, sleep } = recordingSleep();
      const count = failThenSucceed(2, status);
      const transport = createTransport({
        baseUrl: server.url,
        retries: 2,
        backoff: { baseMs: 100, maxMs: 150 },
        random: () => 0.999,
        sleep,
      });
      assert.deepEqual(await transport.request({ method: 'GET', path: '/x' }), { n: 2 });
      assert.equal(count(), 3);
      // attempt 1 → random·min(150, 100·2⁰) = 99; attempt 2 → random·min(150, 100·2¹) = 149
      assert.deepEqual(delays, [99, 149], `status ${status}`);
    }
  });

  test('PUT, DELETE, HEAD are retried by default', async () => {
    for (const method of ['PUT', 'DELETE', 'HEAD']) {
      const { sleep } = recordingSleep();
      const count = failThenSucceed(1, 503);
      const transport = createTransport({ baseUrl: server.url, sleep });
      await transport.request({ method, path: '/x', ...(method === 'PUT' ? { body: {} } : {}) });
      assert.equal(count(), 2, method);
    }
  });

  test('POST and PATCH are never retried unless marked idempotent', async () => {
    for (const method of ['POST', 'PATCH']) {
      const { delays, sleep } = recordingSleep();
      const count = failThenSucceed(1, 503);
      const transport = createTransport({ baseUrl: server.url, sleep });
      const error = await rejection(transport.request({ method, path: '/x', body: {} }));
      assert.equal(error.status, 503);
      assert.equal(count(), 1, method);
      assert.deepEqual(delays, []);
    }
    const { sleep } = recordingSleep();
    const count = failThenSucceed(1, 503);
    const transport = createTransport({ baseUrl: server.url, sleep });
    await transport.request({ method: 'POST', path: '/x', body: {}, idempotent: true });
    assert.equal(count(), 2);
  });

  test('a POST whose connection is refused is not retried either', async () => {
    const { delays, sleep } = recordingSleep();
    const port = await closedPort();
    const transport = createTransport({ baseUrl: `http://127.0.0.1:${port}`, sleep });
    const error = await rejection(transport.request({ method: 'POST', path: '/x', body: {} }));
    assert.equal(error.code, 'network_error');
    assert.deepEqual(delays, []);
  });

  test('500 and 4xx answers are not retried', async () => {
    for (const status of [500, 400, 401, 404, 409]) {
      const count = failThenSucceed(1, status);
      const transport = createTransport({ baseUrl: server.url, sleep: async () => {} });
      const error = await rejection(transport.request({ method: 'GET', path: '/x' }));
      assert.equal(error.status, status);
      assert.equal(count(), 1, String(status));
    }
  });

  test('the last failure is thrown once the retries are spent', async () => {
    const count = failThenSucceed(10, 503);
    const transport = createTransport({ baseUrl: server.url, retries: 2, sleep: async () => {} });
    const error = await rejection(transport.request({ method: 'GET', path: '/x' }));
    assert.equal(error.status, 503);
    assert.equal(count(), 3);
  });

  test('Retry-After (seconds or HTTP-date) replaces the backoff, capped at 4 × maxMs', async () => {
    const cases: Array<[string, number, (ms: number) => boolean]> = [
      ['2', 1000, (ms) => ms === 2000],
      ['30', 1000, (ms) => ms === 4000],
      // An HTTP-date has whole seconds: 3 s ahead is between 2 and 3 s from now.
      [new Date(Date.now() + 3000).toUTCString(), 1000, (ms) => ms > 1000 && ms <= 3000],
      [new Date(Date.now() + 60_000).toUTCString(), 1000, (ms) => ms === 4000],
    ];
    for (const [value, maxMs, expected] of cases) {
      const { delays, sleep } = recordingSleep();
      failThenSucceed(1, 429, { 'retry-after': value });
      const transport = createTransport({ baseUrl: server.url, backoff: { baseMs: 10, maxMs }, sleep });
      await transport.request({ method: 'GET', path: '/x' });
      assert.equal(delays.length, 1);
      assert.ok(expected(delays[0] ?? -1), `Retry-After ${value}: waited ${delays[0]}`);
    }
  });

  test('Retry-After is really waited for (real timer)', async () => {
    const count = failThenSucceed(1, 503, { 'retry-after': '1' });
    const transport = createTransport({ baseUrl: server.url, backoff: { baseMs: 1, maxMs: 1000 } });
    const started = performance.now();
    await transport.request({ method: 'GET', path: '/x' });
    const elapsed = performance.now() - started;
    assert.equal(count(), 2);
    assert.ok(elapsed >= 990, `waited only ${elapsed} ms`);
  });

  test('a 429 on a POST is thrown with its retryAfterMs for the caller to act on', async () => {
    failThenSucceed(1, 429, { 'retry-after': '7' });
    const transport = createTransport({ baseUrl: server.url });
    const error = await rejection(transport.request({ method: 'POST', path: '/x', body: {} }));
    assert.equal(error.status, 429);
    assert.equal(error.retryAfterMs, 7000);
  });

  test('aborting during the backoff wait ends the call', async () => {
    failThenSucceed(10, 503);
    const transport = createTransport({
      baseUrl: server.url,
      backoff: { baseMs: 5000, maxMs: 5000 },
      random: () => 1,
    });
    const error = await rejection(
      transport.request({ method: 'GET', path: '/x', signal: AbortSignal.timeout(100) }),
    );
    assert.equal(error.code, 'aborted');
  });
});
