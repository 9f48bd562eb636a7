import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import WebSocket from 'ws';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';

describe('streaming and WebSocket pass-through', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: {
        routes: [
          { id: 'public', path: '/*', methods: { '*': 'public' }, upstream: { url: upstream.url } },
          {
            id: 'private-ws',
            path: '/private/*',
            methods: { GET: 'jwt' },
            upstream: { url: upstream.url, strip_prefix: '/private' },
          },
        ],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it('delivers the first SSE event before the upstream finishes the stream', async () => {
    const started = performance.now();
    const res = await request(`${gw.proxyUrl}/sse?events=4&intervalMs=400`);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of res.body) {
      text += chunk.toString();
      arrivals.push(performance.now() - started);
    }
    assert.equal((text.match(/^data: /gm) ?? []).length, 4);
    // The stream takes ≥ 1.2 s upstream; the first event must arrive long before the end.
    const total = arrivals.at(-1) as number;
    assert.ok(total >= 1100, `stream lasted ${total} ms`);
    assert.ok(
      (arrivals[0] as number) < total - 800,
      `first event at ${arrivals[0]} ms, end at ${total} ms: buffered?`,
    );
  });

  it('streams chunked responses chunk by chunk', async () => {
    const res = await request(`${gw.proxyUrl}/stream?chunks=3&intervalMs=300`);
    const times: number[] = [];
    const start = performance.now();
    for await (const _ of res.body) times.push(performance.now() - start);
    assert.ok(times.length >= 2, 'more than one chunk arrived separately');
    assert.ok((times.at(-1) as number) - (times[0] as number) >= 400);
  });

  it('streams a large upload without changing a byte', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const expected = createHash('sha256').update(payload).digest('hex');
    // A chunked upload (no Content-Length), in 64 KiB pieces.
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < payload.length; i += 65536) yield payload.subarray(i, i + 65536);
      })(),
    );
    const res = await request(`${gw.proxyUrl}/echo/upload`, { method: 'POST', body });
    const echo = (await res.body.json()) as {
      bodyBytes: number;
      bodySha256: string;
      headers: Record<string, string>;
    };
    assert.equal(res.statusCode, 200);
    assert.equal(echo.bodyBytes, payload.length);
    assert.equal(echo.bodySha256, expected);
  });

  it('streams a large download', async () => {
    const res = await request(`${gw.proxyUrl}/big?bytes=${32 * 1024 * 1024}`);
    let bytes = 0;
    for await (const chunk of res.body) bytes += (chunk as Buffer).length;
    assert.equal(bytes, 32 * 1024 * 1024);
  });

  it('relays a WebSocket echo after the upgrade is allowed', async () => {
    const ws = new WebSocket(`${gw.proxyUrl.replace('http', 'ws')}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const reply = new Promise<string>((resolve) =>
      ws.once('message', (data: Buffer) => resolve(data.toString())),
    );
    ws.send('hello through the gateway');
    assert.equal(await reply, 'hello through the gateway');
    const binary = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
    ws.send(Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await binary)], [0, 1, 2, 255]);
    ws.close();
  });

  it('refuses a WebSocket upgrade on a protected route before contacting the upstream', async () => {
    const ws = new WebSocket(`${gw.proxyUrl.replace('http', 'ws')}/private/ws`);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    assert.equal(status, 401);
    ws.terminate();
  });
});
