import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTransport, PortcullisError, TypedApi } from '../src/index.js';
import { creatable, itemAction, listable, readable, removable, updatable } from '../src/resource.js';
import { fillPath } from '../src/typed-api.js';
import { json, problem, startServer, type TestServer } from './helpers/http-server.js';

/** The shape openapi-typescript generates, for a small API of "things" (independent of the real one). */
interface Thing {
  id: string;
  name: string;
}
type Json<T> = { headers: Record<string, unknown>; content: { 'application/json': T } };
type NoParams = { query?: never; header?: never; path?: never; cookie?: never };
type IdParam = { query?: never; header?: never; path: { id: string }; cookie?: never };
interface TestPaths {
  '/things': {
    parameters: NoParams;
    get: {
      parameters: {
        query?: { limit?: number; cursor?: string; q?: string };
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: { 200: Json<{ items: Thing[]; nextCursor: string | null }> };
    };
    put?: never;
    post: {
      parameters: NoParams;
      requestBody: { content: { 'application/json': { name: string } } };
      responses: { 201: Json<Thing> };
    };
    delete?: never;
    patch?: never;
  };
  '/things/{id}': {
    parameters: IdParam;
    get: { parameters: IdParam; requestBody?: never; responses: { 200: Json<Thing> } };
    put?: never;
    post?: never;
    delete: {
      parameters: IdParam;
      requestBody?: never;
      responses: { 204: { headers: Record<string, unknown> } };
    };
    patch: {
      parameters: IdParam;
      requestBody?: { content: { 'application/json': { name?: string } } };
      responses: { 200: Json<Thing> };
    };
  };
  '/things/{id}/archive': {
    parameters: IdParam;
    get?: never;
    put?: never;
    post: {
      parameters: IdParam;
      requestBody?: { content: { 'application/json': { reason?: string } } };
      responses: { 200: Json<Thing> };
    };
    delete?: never;
    patch?: never;
  };
}

const THINGS: Thing[] = Array.from({ length: 7 }, (_, i) => ({ id: `t${i}`, name: `thing ${i}` }));

describe('typed API over a real server', () => {
  let server: TestServer;
  let api: TypedApi<TestPaths>;
  before(async () => {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (req.method === 'GET' && url.pathname === '/things') {
        if (url.searchParams.get('q') === 'loop') {
          json(res, 200, { items: [], nextCursor: 'same' });
          return;
        }
        const limit = Number(url.searchParams.get('limit') ?? 3);
        const start = Number(url.searchParams.get('cursor') ?? 0);
        const items = THINGS.slice(start, start + limit);
        const next = start + limit < THINGS.length ? String(start + limit) : null;
        json(res, 200, { items, nextCursor: next });
        return;
      }
      const item = /^\/things\/([^/]+)(\/archive)?$/.exec(url.pathname);
      const thing = THINGS.find((t) => t.id === decodeURIComponent(item?.[1] ?? ''));
      if (item && !thing) {
        problem(res, 404, { title: 'Not found', code: 'not_found', detail: 'no such thing' });
        return;
      }
      if (req.method === 'POST' && url.pathname === '/things') {
        json(res, 201, { id: 'new', ...JSON.parse(req.body.toString()) });
      } else if (req.method === 'GET') json(res, 200, thing);
      else if (req.method === 'PATCH') json(res, 200, { ...thing, ...JSON.parse(req.body.toString()) });
      else if (req.method === 'DELETE') res.writeHead(204).end();
      else if (req.method === 'POST') json(res, 200, { ...thing, name: `archived: ${req.body.toString()}` });
      else res.writeHead(405).end();
    });
    api = new TypedApi<TestPaths>(createTransport({ baseUrl: server.url }));
  });
  after(() => server.close());

  test('paginate follows nextCursor until null, keeping the other query parameters', async () => {
    const before = server.received.length;
    const names: string[] = [];
    for await (const thing of api.paginate('/things', { query: { limit: 3 } })) names.push(thing.name);
    assert.deepEqual(
      names,
      THINGS.map((t) => t.name),
    );
    assert.deepEqual(
      server.received.slice(before).map((r) => r.url),
      ['/things?limit=3', '/things?limit=3&cursor=3', '/things?limit=3&cursor=6'],
    );
  });

  test('paginate stops early when the consumer breaks', async () => {
    const before = server.received.length;
    for await (const thing of api.paginate('/things', { query: { limit: 2 } })) if (thing.id === 't1') break;
    assert.equal(server.received.length - before, 1);
  });

  test('paginate refuses a cursor the server already gave (no endless loop)', async () => {
    const run = async () => {
      for await (const _ of api.paginate('/things', { query: { q: 'loop' } })) {
        // nothing
      }
    };
    await assert.rejects(
      run,
      (error: unknown) => error instanceof PortcullisError && error.code === 'invalid_response',
    );
  });

  test('typed calls fill and encode path parameters', async () => {
    const thing = await api.get('/things/{id}', { params: { id: 't2' } });
    assert.equal(thing.name, 'thing 2');
    await assert.rejects(api.get('/things/{id}', { params: { id: 'a/b' } }), (error: unknown) => {
      return error instanceof PortcullisError && error.status === 404;
    });
    assert.equal(server.received.at(-1)?.url, '/things/a%2Fb');
    assert.throws(() => fillPath('/things/{id}', { id: '..' }), /params.id must not be/);
    assert.throws(() => fillPath('/things/{id}', {}), /params.id must be a string/);
  });

  test('resource groups: list, paginate, get, create, update, remove, item actions', async () => {
    const things = {
      ...listable(api, '/things'),
      ...readable(api, '/things/{id}'),
      ...creatable(api, '/things'),
      ...updatable(api, 'patch', '/things/{id}'),
      ...removable(api, '/things/{id}'),
      archive: itemAction(api, '/things/{id}/archive'),
    };
    const page = await things.list({ limit: 5 });
    assert.equal(page.items.length, 5);
    assert.equal(page.nextCursor, '5');
    let count = 0;
    for await (const _ of things.paginate({ limit: 4 })) count += 1;
    assert.equal(count, THINGS.length);
    assert.equal((await things.get('t1')).id, 't1');
    const created = await things.create({ name: 'made' });
    assert.deepEqual(created, { id: 'new', name: 'made' });
    assert.equal((await things.update('t1', { name: 'renamed' })).name, 'renamed');
    assert.equal(await things.remove('t1'), undefined);
    assert.equal(server.received.at(-1)?.method, 'DELETE');
    assert.equal((await things.archive('t3', { reason: 'old' })).name, 'archived: {"reason":"old"}');
    assert.equal((await things.archive('t3')).name, 'archived: ');
  });

  test('the types follow the document (checked by the compiler)', () => {
    // Each line below must fail to compile; the test body only has to exist.
    const check = () => {
      // @ts-expect-error: the path is not in the document
      void api.get('/nothing');
      // @ts-expect-error: the path parameter is required
      void api.get('/things/{id}');
      // @ts-expect-error: the body needs a name
      void api.post('/things', { body: {} });
      // @ts-expect-error: /things/{id} has no PUT
      void api.put('/things/{id}', { params: { id: 'x' } });
      // @ts-expect-error: an item is not a page
      void api.paginate('/things/{id}', { params: { id: 'x' } });
      // @ts-expect-error: unknown query parameter
      void api.get('/things', { query: { nope: 1 } });
    };
    assert.equal(typeof check, 'function');
  });
});
