import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpecError } from '../../src/core/spec-error.js';
import { upstreamPath } from '../../src/routing/compile.js';
import { parseRouteSpec, type RouteSpec } from '../../src/routing/spec.js';
import { RouteTable } from '../../src/routing/table.js';

const route = (id: string, host: string, path: string, extra: Record<string, unknown> = {}): RouteSpec =>
  parseRouteSpec({
    id,
    host,
    path,
    methods: { GET: 'public' },
    upstream: { url: 'http://127.0.0.1:9' },
    ...extra,
  });

const defaults = { upstreamTimeoutMs: 1000 };

const idOf = (found: ReturnType<RouteTable['match']>) => (typeof found === 'object' ? found.route.id : found);

describe('route priority', () => {
  const table = RouteTable.compile(
    [
      route('any-prefix', '*', '/*'),
      route('any-orders-prefix', '*', '/v1/orders/*'),
      route('any-orders-exact', '*', '/v1/orders'),
      route('any-orders-param', '*', '/v1/orders/:id'),
      route('any-orders-static-under-param', '*', '/v1/orders/summary'),
      route('any-items', '*', '/v1/orders/:id/items'),
      route('any-longer-prefix', '*', '/v1/orders/archive/*'),
      route('wild', '*.example.com', '/v1/orders/*'),
      route('wild-deeper', '*.eu.example.com', '/v1/orders/*'),
      route('exact-host', 'api.example.com', '/v1/orders/*'),
      route('exact-host-port', 'api.example.com:8443', '/v1/orders/*'),
      route('exact-host-only-health', 'health.example.com', '/health'),
    ],
    defaults,
  );
  const cases: Array<[string, number | undefined, string, string | undefined]> = [
    ['other.test', undefined, '/v1/orders', 'any-orders-exact'],
    ['other.test', undefined, '/v1/orders/42', 'any-orders-param'],
    ['other.test', undefined, '/v1/orders/summary', 'any-orders-static-under-param'],
    ['other.test', undefined, '/v1/orders/42/items', 'any-items'],
    ['other.test', undefined, '/v1/orders/42/other', 'any-orders-prefix'],
    ['other.test', undefined, '/v1/orders/archive/2024', 'any-longer-prefix'],
    ['other.test', undefined, '/v1/orders/archive', 'any-orders-param'],
    ['other.test', undefined, '/v1/ordersX', 'any-prefix'],
    // A trailing slash names the same resource: it never falls through to a broader route.
    ['other.test', undefined, '/v1/orders/', 'any-orders-exact'],
    ['other.test', undefined, '/v1/orders/42/', 'any-orders-param'],
    ['other.test', undefined, '/v1/orders/42/items/', 'any-items'],
    ['other.test', undefined, '/', 'any-prefix'],
    ['a.example.com', undefined, '/v1/orders/1', 'wild'],
    ['a.b.example.com', undefined, '/v1/orders/1', 'wild'],
    ['x.eu.example.com', undefined, '/v1/orders/1', 'wild-deeper'],
    ['example.com', undefined, '/v1/orders/1', 'any-orders-param'],
    ['api.example.com', undefined, '/v1/orders/1', 'exact-host'],
    ['api.example.com', 8443, '/v1/orders/1', 'exact-host-port'],
    ['api.example.com', 9000, '/v1/orders/1', 'exact-host'],
    // Exact host without a matching path falls through to the next host tier.
    ['health.example.com', undefined, '/v1/orders', 'wild'],
    ['health.example.com', undefined, '/health', 'exact-host-only-health'],
  ];
  for (const [host, port, path, expected] of cases) {
    it(`${host}${port ? `:${port}` : ''} ${path} → ${expected}`, () => {
      assert.equal(idOf(table.match(host, port, path)), expected);
    });
  }

  it('extracts parameters', () => {
    const found = table.match('x', undefined, '/v1/orders/42/items');
    assert.deepEqual(typeof found === 'object' ? found.params : found, { id: '42' });
  });

  it('does not match an empty parameter', () => {
    const t = RouteTable.compile([route('p', '*', '/a/:id')], defaults);
    assert.equal(t.match('x', undefined, '/a/'), undefined);
    assert.equal(t.match('x', undefined, '/a'), undefined);
  });

  it('answers nothing when no route matches', () => {
    const t = RouteTable.compile([route('only', 'api.example.com', '/x')], defaults);
    assert.equal(t.match('other.example.com', undefined, '/x'), undefined);
  });
});

describe('letter case cannot dodge a route (all routes in lower case)', () => {
  const table = RouteTable.compile(
    [route('site', '*', '/*'), route('admin', '*', '/admin/*'), route('me', '*', '/users/:id')],
    defaults,
  );
  it('refuses a path whose lower-case form another route serves', () => {
    assert.equal(table.match('x', undefined, '/ADMIN/x'), 'case_conflict');
    assert.equal(table.match('x', undefined, '/Admin'), 'case_conflict');
  });
  it('admits upper case that changes nothing', () => {
    assert.equal(idOf(table.match('x', undefined, '/users/AbC123')), 'me');
    assert.equal(idOf(table.match('x', undefined, '/Docs/Index')), 'site');
  });
  it('is off when routes themselves use upper case (the operator means case-sensitive paths)', () => {
    const mixed = RouteTable.compile([route('site', '*', '/*'), route('api', '*', '/Api/*')], defaults);
    assert.equal(idOf(mixed.match('x', undefined, '/Api/x')), 'api');
    assert.equal(idOf(mixed.match('x', undefined, '/api/x')), 'site');
  });
});

describe('ties are configuration errors naming both routes', () => {
  it('same host and same path', () => {
    assert.throws(
      () => RouteTable.compile([route('a', '*', '/x'), route('b', '*', '/x')], defaults),
      (e: unknown) => e instanceof SpecError && /"a" and "b"/.test(e.message),
    );
  });
  it('parameter names do not distinguish routes', () => {
    assert.throws(
      () => RouteTable.compile([route('a', '*', '/x/:id'), route('b', '*', '/x/:name')], defaults),
      /"a" and "b"/,
    );
  });
  it('same prefix', () => {
    assert.throws(
      () => RouteTable.compile([route('a', '*.e.com', '/x/*'), route('b', '*.e.com', '/x/*')], defaults),
      SpecError,
    );
  });
  it('different hosts do not tie', () => {
    RouteTable.compile(
      [route('a', 'a.com', '/x'), route('b', 'b.com', '/x'), route('c', '*', '/x')],
      defaults,
    );
  });
  it('duplicate ids', () => {
    assert.throws(
      () => RouteTable.compile([route('a', 'a.com', '/x'), route('a', 'b.com', '/y')], defaults),
      /used twice/,
    );
  });
});

describe('forwarded path', () => {
  const compile = (extra: Record<string, unknown>) =>
    RouteTable.compile([route('r', '*', '/v1/*', extra)], defaults).routes[0]!;
  it('strips the prefix at a segment boundary and prepends the upstream base path', () => {
    const r = compile({ upstream: { url: 'http://u:1/api', strip_prefix: '/v1' } });
    assert.equal(upstreamPath(r, '/v1/orders/5'), '/api/orders/5');
    assert.equal(upstreamPath(r, '/v1'), '/api');
    assert.equal(upstreamPath(r, '/v1/'), '/api/');
    assert.equal(upstreamPath(r, '/v1x/y'), '/api/v1x/y');
  });
  it('keeps the path when nothing is stripped', () => {
    const r = compile({ upstream: { url: 'http://u:1/' } });
    assert.equal(upstreamPath(r, '/v1/a'), '/v1/a');
  });
});

describe('route validation', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['path without slash', { path: 'x' }, /path: must start with "\/"/],
    ['star in the middle', { path: '/a/*/b' }, /only allowed as the last segment/],
    ['dot segment', { path: '/a/../b' }, /"\." or "\.\." segments/],
    ['double slash', { path: '/a//b' }, /"\/\/"/],
    ['bad param', { path: '/a/:1x' }, /invalid parameter name/],
    ['param and prefix', { path: '/a/:id/*' }, /cannot also have :parameters/],
    ['percent in path', { path: '/a%2Fb' }, /percent-encoded/],
    ['bad host', { host: 'exa mple.com' }, /host/],
    ['wildcard in middle', { host: 'a.*.com' }, /first label/],
    ['wildcard with port', { host: '*.a.com:80' }, /wildcard host cannot name a port/],
    ['ftp upstream', { upstream: { url: 'ftp://x' } }, /http:\/\/ or https:\/\//],
    ['credentials in upstream', { upstream: { url: 'http://u:p@x' } }, /credentials/],
    ['unknown method', { methods: { FETCH: 'public' } }, /unknown method/],
    ['public mixed', { methods: { GET: ['public', 'jwt'] } }, /cannot be combined/],
    ['unknown auth', { methods: { GET: 'password' } }, /methods/],
    ['bad id', { id: 'Has Spaces' }, /id/],
    ['unknown field', { colour: 'red' }, /colour|additional/i],
    ['bad route IP list', { ip: { allow: ['10.0.0.0/33'] } }, /not an IP address or CIDR/],
    ['hostname in route IP list', { ip: { deny: ['example.com'] } }, /ip\.deny\.0/],
    ['strip with slash', { upstream: { url: 'http://x', strip_prefix: '/v1/' } }, /strip_prefix/],
  ];
  for (const [name, patch, pattern] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () =>
          parseRouteSpec({
            id: 'r',
            path: '/a',
            methods: { GET: 'public' },
            upstream: { url: 'http://x' },
            ...patch,
          }),
        (e: unknown) => e instanceof SpecError && pattern.test(e.message),
      );
    });
  }
  it('canonicalizes methods and host', () => {
    const spec = parseRouteSpec({
      id: 'r',
      host: 'API.Example.com',
      path: '/a',
      methods: { get: 'jwt', post: ['api_key', 'hmac'] },
      upstream: { url: 'http://x' },
    });
    assert.equal(spec.host, 'api.example.com');
    assert.deepEqual(spec.methods, { GET: ['jwt'], POST: ['api_key', 'hmac'] });
  });
});
