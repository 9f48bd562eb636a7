/**
 * Request records from a real gateway process: every decision type lands with its fields, and
 * SIGTERM under load flushes every answered request (count answered == count recorded).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { openStore } from '../../src/store/open-store.js';
import type { RequestLogRecord } from '../../src/store/types.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, createKey, grant, settle } from '../helpers/identity.js';
import { eventually } from '../helpers/wait.js';

const routes = (upstream: string) => [
  {
    id: 'pub',
    path: '/pub/*',
    methods: { '*': 'public' },
    upstream: { url: `${upstream}/echo`, strip_prefix: '/pub' },
  },
  {
    id: 'keyed',
    path: '/k/*',
    methods: { '*': 'api_key' },
    upstream: { url: `${upstream}/echo`, strip_prefix: '/k' },
  },
  { id: 'dead', path: '/dead/*', methods: { '*': 'public' }, upstream: { url: 'http://127.0.0.1:9' } },
];

async function records(gw: GatewayProcess): Promise<RequestLogRecord[]> {
  const store = await openStore({ url: `sqlite:${join(gw.dir, 'data', 'portcullis.db')}` });
  try {
    return await store.requestLogs.list({ since: 0, limit: 1_000_000 });
  } finally {
    await store.close();
  }
}

describe('request records from a real gateway', () => {
  let upstream: ExampleUpstream;
  before(async () => {
    upstream = await startExampleUpstream();
  });
  after(() => upstream?.close());

  it('records allowed, denied and errored requests with their fields, without query strings', async () => {
    const gw = await startGateway({
      document: { routes: routes(upstream.url) },
      env: {
        PORTCULLIS_RECORDER_FLUSH_MS: '100',
        PORTCULLIS_API_KEY_QUERY_PARAM: 'api_key',
        PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32',
      },
    });
    try {
      await addClient(gw, 'app');
      await grant(gw, 'app', 'keyed');
      const key = await createKey(gw, 'app');
      await settle(gw);
      const send = async (path: string, headers: Record<string, string> = {}) => {
        const res = await request(`${gw.proxyUrl}${path}`, { headers });
        await res.body.text();
        return res.headers['x-request-id'] as string;
      };
      const ids = {
        allowed: await send('/pub/hello'),
        keyed: await send(`/k/x?api_key=${key.key}`),
        denied: await send('/k/x', { authorization: 'Bearer pcl_live_nonsense' }),
        noRoute: await send('/nowhere'),
        upstreamDown: await send('/dead/x'),
        forwardAuth: await send('/_portcullis/authz', {
          'x-original-uri': '/k/secret-path?api_key=nope',
          'x-original-method': 'GET',
          'x-forwarded-for': '198.51.100.4',
        }),
      };
      // Written by the recorder's own thread, paced: read until all six are there.
      const rows = await eventually(async () => {
        const rows = await records(gw);
        const missing = Object.entries(ids).filter(([, id]) => !rows.some((r) => r.requestId === id));
        assert.deepEqual(missing, [], 'every request recorded');
        return rows;
      });
      const byId = (id: string) => rows.find((r) => r.requestId === id);
      const allowed = byId(ids.allowed);
      assert.deepEqual(
        [allowed?.decision, allowed?.status, allowed?.routeId, allowed?.method, allowed?.path, allowed?.ip],
        ['allowed', 200, 'pub', 'GET', '/pub/hello', '127.0.0.1'],
      );
      assert.ok(
        (allowed?.bytesOut ?? 0) > 0 && allowed?.upstreamMs !== null && (allowed?.totalMs ?? -1) >= 0,
      );
      const keyed = byId(ids.keyed);
      assert.deepEqual([keyed?.decision, keyed?.clientId, keyed?.keyId], ['allowed', 'app', key.id]);
      assert.equal(keyed?.path, '/k/x', 'the query (with the key) is not recorded');
      const denied = byId(ids.denied);
      assert.deepEqual(
        [denied?.decision, denied?.status, denied?.code, denied?.routeId],
        ['denied', 401, 'invalid_credentials', 'keyed'],
      );
      const noRoute = byId(ids.noRoute);
      assert.deepEqual([noRoute?.decision, noRoute?.code, noRoute?.routeId], ['denied', 'no_route', null]);
      const down = byId(ids.upstreamDown);
      assert.deepEqual([down?.decision, down?.status, down?.code], ['error', 502, 'upstream_unavailable']);
      const authz = byId(ids.forwardAuth);
      assert.deepEqual(
        [authz?.door, authz?.decision, authz?.status, authz?.code, authz?.routeId, authz?.path, authz?.ip],
        ['forward_auth', 'denied', 401, 'invalid_credentials', 'keyed', '/k/secret-path', '198.51.100.4'],
        'forward-auth decisions are recorded for the original request',
      );
      assert.doesNotMatch(JSON.stringify(rows), new RegExp(key.key), 'no secret in any record');
    } finally {
      await gw.stop();
    }
  });

  it('SIGTERM under load: every answered request is recorded', async () => {
    const gw = await startGateway({
      document: { routes: routes(upstream.url) },
      env: { PORTCULLIS_RECORDER_FLUSH_MS: '5000', PORTCULLIS_RECORDER_BATCH_SIZE: '10000' },
    });
    const agent = new Agent({ connections: 20 });
    let answered = 0;
    let stopping: Promise<number | null> | undefined;
    const one = async (i: number) => {
      try {
        const res = await request(`${gw.proxyUrl}/pub/slow?ms=20&i=${i}`, { dispatcher: agent });
        await res.body.text();
        answered++;
      } catch {
        // refused or reset once the gateway stopped accepting
      }
      if (answered === 150 && !stopping) stopping = gw.stop('SIGTERM');
    };
    await Promise.all(Array.from({ length: 600 }, (_, i) => one(i)));
    const code = await (stopping ?? gw.stop('SIGTERM'));
    await agent.close();
    assert.equal(code, 0);
    assert.ok(answered >= 150, `${answered} answered`);
    const rows = await records(gw);
    assert.equal(rows.length, answered, 'count sent (answered) == count recorded');
  });
});
