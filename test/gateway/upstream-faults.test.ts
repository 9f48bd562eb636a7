import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';

function listen(server: Server | TcpServer): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

describe('upstream faults', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let resetting: TcpServer;
  let flaky: Server;
  let flakyConnections = 0;
  let hanging: Server;
  const hangingClosed: Array<() => void> = [];
  let hangingSawClose = 0;
  let midBody: Server;

  before(async () => {
    upstream = await startExampleUpstream();
    // Resets every connection as soon as the request arrives.
    resetting = createTcpServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    // Resets the first two connections, then answers.
    flaky = createHttpServer((_req, res) => res.end('third time lucky'));
    flaky.on('connection', (socket) => {
      flakyConnections++;
      if (flakyConnections <= 2) socket.resetAndDestroy();
    });
    // Never answers; tells us when the gateway gives up on it.
    hanging = createHttpServer((req) => {
      req.socket.once('close', () => {
        hangingSawClose++;
        for (const fn of hangingClosed.splice(0)) fn();
      });
    });
    // Sends headers and part of a body, then dies.
    midBody = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.resetAndDestroy(), 50);
    });
    const [resetUrl, flakyUrl, hangingUrl, midBodyUrl] = await Promise.all([
      listen(resetting),
      listen(flaky),
      listen(hanging),
      listen(midBody),
    ]);
    const closed = createTcpServer();
    const downUrl = await listen(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    gw = await startGateway({
      document: {
        routes: [
          { id: 'down', path: '/down', methods: { GET: 'public' }, upstream: { url: downUrl } },
          {
            id: 'slow',
            path: '/slow',
            methods: { GET: 'public' },
            upstream: { url: upstream.url, timeout_ms: 300 },
          },
          { id: 'reset', path: '/reset', methods: { GET: 'public' }, upstream: { url: resetUrl } },
          {
            id: 'flaky',
            path: '/flaky',
            methods: { GET: 'public', POST: 'public' },
            upstream: { url: flakyUrl, retries: 2 },
          },
          {
            id: 'hanging',
            path: '/hang',
            methods: { GET: 'public' },
            upstream: { url: hangingUrl, timeout_ms: 60000 },
          },
          { id: 'midbody', path: '/midbody', methods: { GET: 'public' }, upstream: { url: midBodyUrl } },
        ],
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
    resetting?.close();
    flaky?.close();
    hanging?.closeAllConnections();
    hanging?.close();
    midBody?.closeAllConnections();
    midBody?.close();
  });

  const codeOf = async (path: string, init: Parameters<typeof request>[1] = {}) => {
    const res = await request(`${gw.proxyUrl}${path}`, init);
    const body = (await res.body.json()) as { code?: string };
    return [res.statusCode, body.code] as const;
  };

  it('answers 502 upstream_unavailable when the upstream is down', async () => {
    assert.deepEqual(await codeOf('/down'), [502, 'upstream_unavailable']);
  });

  it('answers 504 upstream_timeout when the upstream is slower than the route allows', async () => {
    assert.deepEqual(await codeOf('/slow?ms=3000'), [504, 'upstream_timeout']);
  });

  it('answers 502 when the upstream resets the connection', async () => {
    assert.deepEqual(await codeOf('/reset'), [502, 'upstream_unavailable']);
  });

  it('retries a body-less idempotent request on connection failure, not a POST with a body', async () => {
    flakyConnections = 0;
    const res = await request(`${gw.proxyUrl}/flaky`);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'third time lucky');
    assert.equal(flakyConnections, 3);
    // A streamed body cannot be replayed: one attempt only.
    await new Promise((r) => setTimeout(r, 100));
    flakyConnections = 0;
    flaky.closeAllConnections();
    const post = await request(`${gw.proxyUrl}/flaky`, { method: 'POST', body: 'payload' });
    assert.equal(post.statusCode, 502);
    await post.body.dump();
    assert.equal(flakyConnections, 1);
  });

  it('truncates the client response when the upstream dies mid-body', async () => {
    const res = await request(`${gw.proxyUrl}/midbody`);
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
  });

  it('cancels the upstream request when the client aborts', async () => {
    const before = hangingSawClose;
    const upstreamClosed = new Promise<void>((resolve) => hangingClosed.push(resolve));
    const controller = new AbortController();
    const pending = request(`${gw.proxyUrl}/hang`, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await assert.rejects(pending);
    await upstreamClosed;
    assert.equal(hangingSawClose, before + 1);
  });
});
