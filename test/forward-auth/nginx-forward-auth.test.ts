/**
 * nginx `auth_request` in front of the example upstream, with Portcullis deciding, using the
 * SHIPPED example config (examples/nginx/portcullis-auth.conf) — so these tests prove the file
 * users copy works.
 *
 * 1. The example against a scripted authorization service: status mapping (auth_request itself
 *    only understands 2xx/401/403), what reaches the authz subrequest and the upstream.
 * 2. The example against a real gateway process: the decisions users rely on.
 * 3. The authz endpoint directly (no nginx): forwarding headers from an untrusted peer are never
 *    believed.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { normalizePath } from '../../src/net/path.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { tampered } from '../helpers/identity.js';
import { checkExampleSyntax, type NginxProcess, nginxGate, startNginx } from '../helpers/nginx.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';

const nginx = await nginxGate();

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
}

const IDENTITY_HEADERS = [
  'x-portcullis-client-id',
  'x-portcullis-client-name',
  'x-portcullis-key-id',
  'x-portcullis-user-id',
  'x-portcullis-route-id',
  'x-portcullis-scopes',
];

/** Every value a header arrived with at the upstream, whatever its case. */
function rawValues(echo: Echo, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < echo.rawHeaders.length; i += 2)
    if (echo.rawHeaders[i]?.toLowerCase() === name) out.push(echo.rawHeaders[i + 1] ?? '');
  return out;
}

/** Decode %XX for RFC 3986 sub-delims and ':' '@' '[' ']' (which nginx forwards decoded). */
function subDelimsDecoded(path: string): string {
  return path.replace(/%(2[146-9A-C]|3[AD]|40|5[BD])/gi, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function close(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

describe('nginx example config against a scripted authorization service', { skip: nginx.skip }, () => {
  interface Seen {
    url: string;
    method: string;
    headers: IncomingHttpHeaders;
    bodyBytes: number;
  }
  const seen: Seen[] = [];
  let authz: Server;
  let upstream: ExampleUpstream;
  let ngx: NginxProcess;
  let ngxDown: NginxProcess;
  let reflect: Server;
  let ngxReflect: NginxProcess;

  before(async () => {
    // Answers by the original URI: /status/<code> denies with that code, anything else allows.
    authz = createServer((req, res) => {
      let bodyBytes = 0;
      req.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
      });
      req.on('end', () => {
        seen.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers, bodyBytes });
        const uri = String(req.headers['x-original-uri'] ?? '');
        const status = Number(/\/status\/(\d{3})/.exec(uri)?.[1] ?? 200);
        const headers: Record<string, string> = {
          'content-type': 'application/problem+json',
          'x-request-id': 'req_scripted_1',
        };
        if (status === 200) {
          Object.assign(headers, {
            'content-type': 'text/plain',
            'x-portcullis-client-id': 'app',
            'x-portcullis-client-name': 'The App',
            'x-portcullis-key-id': 'key_123',
            'x-portcullis-route-id': 'echo',
            'x-portcullis-scopes': 'orders:read orders:write',
            ratelimit: 'limit=10, remaining=9, reset=30',
          });
        }
        if (status === 401) headers['www-authenticate'] = 'Bearer realm="portcullis"';
        if (status === 429) {
          Object.assign(headers, {
            'retry-after': '17',
            'ratelimit-policy': '10;w=60',
            ratelimit: 'limit=10, remaining=0, reset=17',
            'x-ratelimit-limit': '10',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': '17',
          });
        }
        res.writeHead(status, headers);
        res.end(status === 200 ? '' : JSON.stringify({ status, code: 'scripted' }));
      });
    });
    const authzUrl = await listen(authz);
    upstream = await startExampleUpstream();
    ngx = await startNginx({ portcullisUrl: authzUrl, upstreamUrl: upstream.url });
    // Portcullis unreachable: a port nothing listens on.
    const dead = createServer();
    const deadUrl = await listen(dead);
    await close(dead);
    ngxDown = await startNginx({ portcullisUrl: deadUrl, upstreamUrl: upstream.url });
    // An upstream that answers with the request target it received, as the body.
    reflect = createServer((req, res) => {
      const body = req.url ?? '';
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    ngxReflect = await startNginx({ portcullisUrl: authzUrl, upstreamUrl: await listen(reflect) });
  });

  after(async () => {
    await ngx?.stop();
    await ngxDown?.stop();
    await ngxReflect?.stop();
    await close(reflect);
    await close(authz);
    await upstream?.close();
  });

  it('passes nginx -t as shipped (addresses substituted only)', () => {
    const result = checkExampleSyntax({
      portcullisUrl: 'http://127.0.0.1:8080',
      upstreamUrl: 'http://127.0.0.1:3000',
    });
    assert.ok(result.ok, result.output);
  });

  it('asks /_portcullis/authz with the original request, the credential and no body', async () => {
    seen.length = 0;
    const body = JSON.stringify({ big: 'x'.repeat(50_000) });
    const res = await request(`${ngx.url}/echo/upload?x=1&y=2`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer pcl_live_secret',
        'x-original-uri': '/hello',
        'x-original-method': 'GET',
        'x-forwarded-uri': '/hello',
        'x-forwarded-method': 'GET',
        'x-forwarded-host': 'evil.test',
        forwarded: 'for=1.2.3.4',
        'content-type': 'application/json',
      },
      body,
    });
    assert.equal(res.statusCode, 200, ngx.logs());
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.bodyBytes, Buffer.byteLength(body), 'the upstream receives the whole body');
    assert.equal(echo.url, '/echo/upload?x=1&y=2');
    assert.equal(seen.length, 1);
    const sub = seen[0]!;
    assert.equal(sub.url, '/_portcullis/authz');
    assert.equal(sub.method, 'GET', 'auth_request subrequests are GETs; the method is in X-Original-Method');
    assert.equal(sub.bodyBytes, 0, 'no body goes to the authorization service');
    assert.equal(sub.headers['content-length'], undefined);
    assert.equal(sub.headers['transfer-encoding'], undefined);
    assert.equal(sub.headers['x-original-uri'], '/echo/upload?x=1&y=2');
    assert.equal(sub.headers['x-original-method'], 'POST');
    assert.equal(sub.headers['x-original-host'], '127.0.0.1');
    assert.equal(sub.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(sub.headers['x-real-ip'], '127.0.0.1');
    assert.equal(sub.headers['authorization'], 'Bearer pcl_live_secret');
    for (const name of ['x-forwarded-uri', 'x-forwarded-method', 'x-forwarded-host', 'forwarded'])
      assert.equal(sub.headers[name], undefined, `${name} from the client must not reach the authz call`);
  });

  it('sends the raw URI to Portcullis and forwards the normalized one', async () => {
    seen.length = 0;
    // Raw bytes: an HTTP client library would resolve the dot segments itself.
    const res = await rawGet(ngx.port, '/echo/./a//b/../c%7e?x=1&y=..%2f', ['Host: 127.0.0.1']);
    assert.equal(res.status, 200, ngx.logs());
    assert.equal(seen[0]?.headers['x-original-uri'], '/echo/./a//b/../c%7e?x=1&y=..%2f');
    assert.equal((JSON.parse(res.body) as Echo).url, '/echo/a/c~?x=1&y=..%2f');
  });

  it('forwards exactly the path Portcullis normalizes, for every path Portcullis accepts', async () => {
    const segment = fc.constantFrom(
      ...['a', 'B', 'admin', '', '.', '..', '%2e', '%2E%2e', '.%2e', '%2f', '%5C', '%00', '%41', '%7e'],
      ...['%25', '%20', '%3F', '%23', '%3b', '..%3B', 'a;b', ';', '~', '*', ':', '@', "'", '\u00e9'],
      ...['%C3%A9', 'x%2Fy', '%40', '%2B', '%21', '%28%29', '%3d', '%5B', '%22', '%3C', '%7C', '%5e'],
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 7 }), async (segments) => {
        const raw = `/${segments.join('/')}`;
        const decided = normalizePath(raw);
        const res = await rawGet(ngxReflect.port, raw, ['Host: 127.0.0.1']);
        if (/%3b/i.test(raw)) {
          assert.equal(res.status, 400, `nginx refuses an encoded ';': ${raw}`);
          return;
        }
        if (!decided.ok) return; // Portcullis answers 400: nothing is forwarded
        if (res.status === 400) return; // nginx itself refused it
        assert.equal(res.status, 200, `${raw}\n${res.raw}`);
        assert.ok(!res.body.includes(';'), `no ';' reaches the API unless Portcullis saw one: ${raw}`);
        // nginx forwards sub-delimiters and ':' '@' '[' ']' decoded where Portcullis keeps them
        // encoded: the same characters to any API, so compare with those decoded.
        assert.equal(subDelimsDecoded(res.body), subDelimsDecoded(decided.path), `forwarded path for ${raw}`);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses a percent-encoded semicolon in the path before asking Portcullis', async () => {
    seen.length = 0;
    const res = await rawGet(ngx.port, '/echo/public/..%3B/admin?x=%3b', ['Host: 127.0.0.1']);
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal((JSON.parse(res.body) as { status: number }).status, 400);
    assert.equal(seen.length, 0);
    const inQuery = await rawGet(ngx.port, '/echo/q?x=%3b', ['Host: 127.0.0.1']);
    assert.equal(inQuery.status, 200, 'an encoded semicolon in the query is fine');
  });

  it('passes X-API-Key and chunked uploads the same way', async () => {
    seen.length = 0;
    async function* chunks() {
      yield Buffer.alloc(1000, 'a');
      yield Buffer.alloc(2000, 'b');
    }
    const res = await request(`${ngx.url}/echo/upload`, {
      method: 'PUT',
      headers: { 'x-api-key': 'pcl_live_other' },
      body: Readable.from(chunks()),
    });
    assert.equal(res.statusCode, 200, ngx.logs());
    assert.equal(((await res.body.json()) as Echo).bodyBytes, 3000);
    assert.equal(seen[0]?.headers['x-api-key'], 'pcl_live_other');
    assert.equal(seen[0]?.bodyBytes, 0);
    assert.equal(seen[0]?.headers['transfer-encoding'], undefined);
  });

  it('copies identity from the answer and never lets client copies through', async () => {
    // Raw bytes: duplicates and odd letter case, which an HTTP client library would fold.
    const forged = [
      'X-Portcullis-Client-Id: admin',
      'x-portcullis-client-id: admin2',
      'X-PORTCULLIS-KEY-ID: key_forged',
      'X-Portcullis-User-Id: root',
      'X-Portcullis-Client-Name: Admin',
      'X-Portcullis-Route-Id: admin',
      'X-Portcullis-Scopes: admin:*',
      'X-Client-ID: admin',
      'X-Route-ID: admin',
      'X-Request-Id: forged-id',
      'X_Portcullis_Client_Id: underscore',
      'X-Forwarded-For: 6.6.6.6',
      'X-Real-IP: 6.6.6.6',
      'Forwarded: for=6.6.6.6',
    ].join('\r\n');
    const res = await rawRequest(
      ngx.port,
      `GET /echo/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n${forged}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 200, ngx.logs());
    const echo = JSON.parse(res.body) as Echo;
    assert.deepEqual(rawValues(echo, 'x-portcullis-client-id'), ['app']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-client-name'), ['The App']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-key-id'), ['key_123']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-user-id'), [], 'not in the answer, so not sent');
    assert.deepEqual(rawValues(echo, 'x-portcullis-route-id'), ['echo']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-scopes'), ['orders:read orders:write']);
    assert.deepEqual(rawValues(echo, 'x-client-id'), ['app']);
    assert.deepEqual(rawValues(echo, 'x-route-id'), ['echo']);
    assert.deepEqual(rawValues(echo, 'x-request-id'), ['req_scripted_1']);
    assert.deepEqual(rawValues(echo, 'x_portcullis_client_id'), []);
    assert.deepEqual(rawValues(echo, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(rawValues(echo, 'x-real-ip'), ['127.0.0.1']);
    assert.deepEqual(rawValues(echo, 'forwarded'), []);
    assert.deepEqual(rawValues(echo, 'authorization'), [], 'the credential is not forwarded');
    assert.equal(res.headers['x-request-id'], 'req_scripted_1');
    assert.equal(res.headers['ratelimit'], 'limit=10, remaining=9, reset=30');
  });

  it('maps 401 with one WWW-Authenticate and a problem body', async () => {
    const res = await request(`${ngx.url}/status/401`);
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="portcullis"', 'exactly one challenge');
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.headers['x-request-id'], 'req_scripted_1');
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(body['status'], 401);
    assert.equal(body['requestId'], 'req_scripted_1');
  });

  it('maps 403', async () => {
    const res = await request(`${ngx.url}/status/403`);
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.equal(((await res.body.json()) as { status: number }).status, 403);
  });

  it('maps 429 (a 500 inside nginx) back to 429 with Retry-After and rate-limit headers', async () => {
    const res = await request(`${ngx.url}/status/429`);
    assert.equal(res.statusCode, 429, ngx.logs());
    assert.equal(res.headers['retry-after'], '17');
    assert.equal(res.headers['ratelimit'], 'limit=10, remaining=0, reset=17');
    assert.equal(res.headers['ratelimit-policy'], '10;w=60');
    assert.equal(res.headers['x-ratelimit-limit'], '10');
    assert.equal(res.headers['x-ratelimit-remaining'], '0');
    assert.equal(res.headers['x-ratelimit-reset'], '17');
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(body['status'], 429);
    assert.equal(body['requestId'], 'req_scripted_1');
  });

  it('maps 503, other 5xx and unexpected answers to 503, and 400/404/405 to themselves', async () => {
    for (const [answer, expected] of [
      [503, 503],
      [500, 503],
      [502, 503],
      [302, 503],
      [400, 400],
      [404, 404],
      [405, 405],
    ] as const) {
      const res = await request(`${ngx.url}/status/${answer}`);
      assert.equal(res.statusCode, expected, `authz answered ${answer}`);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(((await res.body.json()) as { status: number }).status, expected);
    }
  });

  it('fails closed with 503 when Portcullis is unreachable', async () => {
    const res = await request(`${ngxDown.url}/hello`, { headers: { authorization: 'Bearer k' } });
    assert.equal(res.statusCode, 503, ngxDown.logs());
    assert.equal(res.headers['content-type'], 'application/problem+json');
    await res.body.dump();
  });

  it('does not expose the internal auth location', async () => {
    seen.length = 0;
    const res = await request(`${ngx.url}/_portcullis_auth`, { headers: { authorization: 'Bearer k' } });
    assert.equal(res.statusCode, 404);
    await res.body.dump();
    assert.equal(seen.length, 0, 'a client cannot call the authz location itself');
  });
});

// ---------------------------------------------------------------------------------------------

const ROUTES = (upstreamUrl: string) => ({
  routes: [
    {
      id: 'orders',
      path: '/orders/*',
      methods: { GET: 'api_key', POST: 'api_key' },
      upstream: { url: upstreamUrl },
    },
    // The example upstream shows what it received at /echo/*; same auth as orders.
    {
      id: 'echo',
      path: '/echo/*',
      methods: { GET: 'api_key', POST: 'api_key' },
      upstream: { url: upstreamUrl },
    },
    { id: 'public', path: '/hello', methods: { GET: 'public' }, upstream: { url: upstreamUrl } },
    // A public path the example upstream echoes (exact path wins over the /echo/* prefix).
    { id: 'public-echo', path: '/echo/public', methods: { GET: 'public' }, upstream: { url: upstreamUrl } },
  ],
});

async function cliJson<T>(gw: GatewayProcess, args: string[]): Promise<T> {
  const result = await gw.cli(args);
  assert.equal(result.code, 0, `portcullis ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout) as T;
}

async function cliOk(gw: GatewayProcess, args: string[]): Promise<void> {
  const result = await gw.cli(args);
  assert.equal(result.code, 0, `portcullis ${args.join(' ')}: ${result.stderr}${result.stdout}`);
}

/** A client with a live key; with `grant`, allowed GET/POST on orders and echo. */
async function provisionClient(
  gw: GatewayProcess,
  id: string,
  grant: boolean,
): Promise<{ keyId: string; key: string }> {
  const client = await cliJson<{ id: string }>(gw, [
    'clients',
    'add',
    '--id',
    id,
    '--name',
    `Client ${id}`,
    '--json',
  ]);
  assert.equal(client.id, id);
  const key = await cliJson<{ id: string; key: string }>(gw, [
    'keys',
    'create',
    '--client',
    id,
    '--env',
    'live',
    '--json',
  ]);
  assert.match(key.key, /^pcl_live_/);
  if (grant) {
    await cliOk(gw, ['grants', 'add', '--client', id, '--route', 'orders', '--methods', 'GET,POST']);
    await cliOk(gw, ['grants', 'add', '--client', id, '--route', 'echo', '--methods', 'GET,POST']);
  }
  return { keyId: key.id, key: key.key };
}

/** Retry until `check` passes: CLI changes reach a running gateway through its poll and caches. */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function statusOf(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(url, { headers });
  await res.body.dump();
  return res.statusCode;
}

describe('nginx example config in front of a real Portcullis', { skip: nginx.skip }, () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let ngx: NginxProcess;
  let app: { keyId: string; key: string };
  let stranger: { keyId: string; key: string };

  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      env: { PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32', PORTCULLIS_IDENTITY_HEADER_ALIASES: 'true' },
      document: ROUTES(upstream.url),
    });
    ngx = await startNginx({ portcullisUrl: gw.proxyUrl, upstreamUrl: upstream.url });
    app = await provisionClient(gw, 'app', true);
    stranger = await provisionClient(gw, 'stranger', false);
  });

  after(async () => {
    await ngx?.stop();
    await gw?.stop();
    await upstream?.close();
  });

  const diag = () => `\n${ngx?.logs() ?? ''}\n--- gateway ---\n${gw?.output() ?? ''}`;

  it('serves the public route without a key', async () => {
    const res = await request(`${ngx.url}/hello`);
    assert.equal(res.statusCode, 200, diag());
    assert.deepEqual(await res.body.json(), { message: 'hello from the example upstream' });
  });

  it('refuses a request without a key with 401 and the challenge', async () => {
    const res = await request(`${ngx.url}/orders/ord_1001`);
    assert.equal(res.statusCode, 401, diag());
    assert.match(String(res.headers['www-authenticate']), /^Bearer /);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.ok(res.headers['x-request-id'], 'the request id of the decision reaches the client');
    await res.body.dump();
  });

  it('refuses a wrong key with 401', async () => {
    for (const headers of [
      { authorization: 'Bearer pcl_live_thisIsNotAKeyThatExists000000' },
      { 'x-api-key': tampered(app.key) },
    ]) {
      const res = await request(`${ngx.url}/orders/ord_1001`, { headers });
      assert.equal(res.statusCode, 401, diag());
      assert.ok(res.headers['www-authenticate']);
      await res.body.dump();
    }
  });

  it('forwards a granted key, with identity set by Portcullis', async () => {
    await eventually(async () => {
      assert.equal(await statusOf(`${ngx.url}/orders/ord_1001`, { authorization: `Bearer ${app.key}` }), 200);
    });
    const order = await request(`${ngx.url}/orders/ord_1001`, { headers: { 'x-api-key': app.key } });
    assert.equal(order.statusCode, 200, diag());
    assert.equal(((await order.body.json()) as { id: string }).id, 'ord_1001');

    const res = await request(`${ngx.url}/echo/whoami?q=1`, {
      headers: { authorization: `Bearer ${app.key}` },
    });
    assert.equal(res.statusCode, 200, diag());
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.url, '/echo/whoami?q=1');
    assert.deepEqual(rawValues(echo, 'x-portcullis-client-id'), ['app']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-key-id'), [app.keyId]);
    assert.deepEqual(rawValues(echo, 'x-portcullis-route-id'), ['echo']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-client-name'), ['Client app']);
    assert.deepEqual(rawValues(echo, 'authorization'), [], 'the key is not forwarded');
    assert.equal(rawValues(echo, 'x-request-id')[0], res.headers['x-request-id']);

    const posted = await request(`${ngx.url}/echo/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.key}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(100_000, 7),
    });
    assert.equal(posted.statusCode, 200, diag());
    assert.equal(((await posted.body.json()) as Echo).bodyBytes, 100_000);
  });

  it('never lets a client-forged identity header reach the upstream', async () => {
    const forged = [
      'X-Portcullis-Client-Id: admin',
      'x-portcullis-client-id: root',
      'X-PORTCULLIS-KEY-ID: key_x',
      'X-Portcullis-User-Id: root',
      'X-Portcullis-Client-Name: Admin',
      'X-Portcullis-Route-Id: orders',
      'X-Portcullis-Scopes: admin',
      'X-Client-ID: admin',
      '',
    ].join('\r\n');
    const withKey = await rawRequest(
      ngx.port,
      `GET /echo/forged HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${app.key}\r\n${forged}Connection: close\r\n\r\n`,
    );
    assert.equal(withKey.status, 200, diag());
    const echo = JSON.parse(withKey.body) as Echo;
    assert.deepEqual(rawValues(echo, 'x-portcullis-client-id'), ['app']);
    assert.deepEqual(rawValues(echo, 'x-portcullis-key-id'), [app.keyId]);

    // On a public route Portcullis sends no caller identity (only the route id); the forged
    // copies must still not arrive.
    const publicRoute = await rawRequest(
      ngx.port,
      `GET /echo/public HTTP/1.1\r\nHost: 127.0.0.1\r\n${forged}Connection: close\r\n\r\n`,
    );
    assert.equal(publicRoute.status, 200, diag());
    const publicEcho = JSON.parse(publicRoute.body) as Echo;
    for (const name of IDENTITY_HEADERS.filter((h) => h !== 'x-portcullis-route-id'))
      assert.deepEqual(rawValues(publicEcho, name), [], name);
    assert.deepEqual(rawValues(publicEcho, 'x-portcullis-route-id'), ['public-echo']);
  });

  it('decides on the real request, not on forwarding headers the client sends', async () => {
    const res = await request(`${ngx.url}/orders/ord_1001`, {
      headers: {
        'x-original-uri': '/hello',
        'x-original-method': 'GET',
        'x-forwarded-uri': '/hello',
        'x-forwarded-method': 'GET',
      },
    });
    assert.equal(res.statusCode, 401, diag());
    await res.body.dump();
  });

  it('decides on the same path nginx forwards (dot segments, repeated slashes, encodings)', async () => {
    // Raw bytes throughout: an HTTP client library would resolve dot segments itself.
    const host = 'Host: 127.0.0.1';
    const auth = `Authorization: Bearer ${app.key}`;
    for (const path of [
      '/hello/../orders/ord_1001',
      '/hello/%2e%2e/orders/ord_1001',
      '/hello//..//orders/x',
    ]) {
      const res = await rawGet(ngx.port, path, [host]);
      assert.equal(res.status, 401, `${path} is the protected orders route${diag()}`);
    }
    // Portcullis resolves this to the public /echo/public route; the API must get that path,
    // not the raw one (which it would serve as /echo/x/...).
    const toPublic = await rawGet(ngx.port, '/echo/x//../public', [host]);
    assert.equal(toPublic.status, 200, diag());
    const publicEcho = JSON.parse(toPublic.body) as Echo;
    assert.equal(publicEcho.url, '/echo/public');
    assert.deepEqual(rawValues(publicEcho, 'x-portcullis-client-id'), []);

    const dotted = await rawGet(ngx.port, '/echo/public/..//x/./y?z=1', [host, auth]);
    assert.equal(dotted.status, 200, diag());
    const echo = JSON.parse(dotted.body) as Echo;
    assert.equal(echo.url, '/echo/x/y?z=1');
    assert.deepEqual(rawValues(echo, 'x-portcullis-route-id'), ['echo']);
    // An encoded slash is refused by Portcullis (400 bad_request_path) before nginx could decode
    // it differently.
    const encodedSlash = await rawGet(ngx.port, '/echo%2Fpublic', [host, auth]);
    assert.equal(encodedSlash.status, 400, diag());
  });

  it('refuses a key whose client has no grant with 403', async () => {
    const res = await request(`${ngx.url}/orders/ord_1001`, {
      headers: { authorization: `Bearer ${stranger.key}` },
    });
    assert.equal(res.statusCode, 403, diag());
    assert.equal(res.headers['content-type'], 'application/problem+json');
    await res.body.dump();
  });

  // Last: suspends `app`.
  it('refuses a suspended client with 403', async () => {
    await cliOk(gw, ['clients', 'suspend', 'app']);
    await eventually(async () => {
      assert.equal(await statusOf(`${ngx.url}/orders/ord_1001`, { authorization: `Bearer ${app.key}` }), 403);
    });
    const res = await request(`${ngx.url}/echo/after-suspend`, {
      headers: { authorization: `Bearer ${app.key}` },
    });
    assert.equal(res.statusCode, 403, diag());
    await res.body.dump();
  });
});

// ---------------------------------------------------------------------------------------------

describe('forward-auth endpoint from an untrusted peer (no nginx)', () => {
  let upstream: ExampleUpstream;
  let trusted: GatewayProcess;
  let untrusted: GatewayProcess;
  let trustedKey: string;
  let untrustedKey: string;

  before(async () => {
    upstream = await startExampleUpstream();
    trusted = await startGateway({
      env: { PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32' },
      document: ROUTES(upstream.url),
    });
    untrusted = await startGateway({ document: ROUTES(upstream.url) });
    trustedKey = (await provisionClient(trusted, 'app', true)).key;
    untrustedKey = (await provisionClient(untrusted, 'app', true)).key;
  });

  after(async () => {
    await trusted?.stop();
    await untrusted?.stop();
    await upstream?.close();
  });

  const authz = (gw: GatewayProcess, headers: Record<string, string>) =>
    request(`${gw.proxyUrl}/_portcullis/authz`, { headers });

  it('allows the same request from a trusted peer (control)', async () => {
    await eventually(async () => {
      const res = await authz(trusted, {
        'x-original-uri': '/orders/ord_1001',
        'x-original-method': 'GET',
        'x-original-host': 'api.example.com',
        authorization: `Bearer ${trustedKey}`,
      });
      await res.body.dump();
      assert.equal(res.statusCode, 200, trusted.output());
    });
  });

  it('never answers 200 to forged X-Original-* headers from an untrusted peer', async () => {
    const cases: Record<string, string>[] = [
      {
        'x-original-uri': '/orders/ord_1001',
        'x-original-method': 'GET',
        'x-original-host': 'api.example.com',
        authorization: `Bearer ${untrustedKey}`,
      },
      { 'x-original-uri': '/hello', 'x-original-method': 'GET', 'x-original-host': 'api.example.com' },
      { 'x-forwarded-uri': '/hello', 'x-forwarded-method': 'GET', 'x-forwarded-host': 'api.example.com' },
      { 'x-original-uri': '/hello', 'x-original-method': 'GET', 'x-api-key': untrustedKey },
    ];
    for (const headers of cases) {
      const res = await authz(untrusted, headers);
      await res.body.dump();
      assert.notEqual(res.statusCode, 200, `untrusted peer with ${JSON.stringify(Object.keys(headers))}`);
      assert.ok(
        res.statusCode >= 400 && res.statusCode < 500,
        `a deny, not a fault: got ${res.statusCode}\n${untrusted.output()}`,
      );
    }
  });

  it('denies a trusted peer whose URI or method is missing or malformed', async () => {
    const cases: Record<string, string>[] = [
      { 'x-original-method': 'GET', authorization: `Bearer ${trustedKey}` },
      { 'x-original-uri': '/orders/ord_1001', authorization: `Bearer ${trustedKey}` },
      {
        'x-original-uri': 'orders/ord_1001',
        'x-original-method': 'GET',
        authorization: `Bearer ${trustedKey}`,
      },
      {
        'x-original-uri': '/orders/ord_1001',
        'x-original-method': 'G E T',
        authorization: `Bearer ${trustedKey}`,
      },
    ];
    for (const headers of cases) {
      const res = await authz(trusted, headers);
      await res.body.dump();
      assert.notEqual(res.statusCode, 200, JSON.stringify(headers));
      assert.ok(
        res.statusCode >= 400 && res.statusCode < 500,
        `got ${res.statusCode} for ${JSON.stringify(headers)}`,
      );
    }
  });
});
