import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import WebSocket from 'ws';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';

let upstream: ExampleUpstream;

before(async () => {
  upstream = await startExampleUpstream();
});

after(async () => {
  await upstream.close();
});

async function getJson(path: string, init?: Parameters<typeof request>[1]) {
  const res = await request(upstream.url + path, init);
  return {
    status: res.statusCode,
    headers: res.headers,
    body: (await res.body.json()) as Record<string, unknown>,
  };
}

describe('example upstream', () => {
  test('listens on 127.0.0.1 with an OS-chosen port by default', () => {
    assert.ok(upstream.port > 0);
    assert.equal(upstream.url, `http://127.0.0.1:${upstream.port}`);
  });

  test('GET / describes the service', async () => {
    const { status, headers, body } = await getJson('/');
    assert.equal(status, 200);
    assert.match(String(headers['content-type']), /^application\/json/);
    assert.equal(body['service'], 'portcullis-example-upstream');
    assert.ok(Array.isArray(body['endpoints']) && body['endpoints'].length > 5);
  });

  test('GET /hello', async () => {
    const { status, body } = await getJson('/hello');
    assert.equal(status, 200);
    assert.deepEqual(body, { message: 'hello from the example upstream' });
  });

  test('GET /orders and /orders/:id, 404 for an unknown id', async () => {
    const list = await getJson('/orders');
    assert.equal(list.status, 200);
    const orders = list.body['orders'] as { id: string }[];
    assert.ok(orders.length >= 2);
    const first = orders[0]!;
    const one = await getJson(`/orders/${first.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body['id'], first.id);
    const missing = await getJson('/orders/ord_nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body['error'], 'not_found');
  });

  test('unknown paths answer 404 JSON, wrong methods 405', async () => {
    const missing = await getJson('/nowhere');
    assert.equal(missing.status, 404);
    assert.equal(missing.body['error'], 'not_found');
    const wrong = await getJson('/hello', { method: 'DELETE' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers['allow'], 'GET, HEAD');
  });

  test('ANY /echo reports method, raw target, headers and an empty body', async () => {
    const { status, body } = await getJson('/echo/a/b?x=1&x=2', {
      method: 'DELETE',
      headers: { 'x-test': 'yes' },
    });
    assert.equal(status, 200);
    assert.equal(body['method'], 'DELETE');
    assert.equal(body['url'], '/echo/a/b?x=1&x=2');
    assert.equal((body['headers'] as Record<string, string>)['x-test'], 'yes');
    assert.equal(body['bodyBytes'], 0);
    assert.equal(body['bodySha256'], createHash('sha256').update('').digest('hex'));
  });

  test('ANY /echo hashes a 5 MiB streamed upload', async () => {
    const chunk = Buffer.alloc(64 * 1024);
    const chunks = 80; // 80 × 64 KiB = 5 MiB
    const expected = createHash('sha256');
    for (let i = 0; i < chunks; i++) {
      chunk.fill(i);
      expected.update(chunk);
    }
    async function* upload() {
      for (let i = 0; i < chunks; i++) yield Buffer.alloc(chunk.length, i);
    }
    const { status, body } = await getJson('/echo', { method: 'POST', body: Readable.from(upload()) });
    assert.equal(status, 200);
    assert.equal(body['method'], 'POST');
    assert.equal(body['bodyBytes'], 5 * 1024 * 1024);
    assert.equal(body['bodySha256'], expected.digest('hex'));
    // No content-length was given, so the body arrived chunked: it really was streamed.
    assert.equal((body['headers'] as Record<string, string>)['transfer-encoding'], 'chunked');
  });

  test('GET /sse sends spaced events, the first well before the stream ends', async () => {
    const started = Date.now();
    const res = await request(`${upstream.url}/sse?events=3&intervalMs=150`);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    let text = '';
    let firstEventAt = 0;
    for await (const piece of res.body) {
      text += String(piece);
      if (firstEventAt === 0 && text.includes('\n\n')) firstEventAt = Date.now();
    }
    const endedAt = Date.now();
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice('data: '.length)) as { n: number });
    assert.deepEqual(events, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.ok(firstEventAt - started < 250, `first event took ${firstEventAt - started} ms`);
    // Two more intervals of 150 ms follow the first event; allow for timer slack.
    assert.ok(
      endedAt - firstEventAt >= 250,
      `stream ended ${endedAt - firstEventAt} ms after the first event`,
    );
  });

  test('GET /slow answers after the requested delay', async () => {
    const started = Date.now();
    const { status, body } = await getJson('/slow?ms=120');
    assert.equal(status, 200);
    assert.equal(body['waitedMs'], 120);
    assert.ok(Date.now() - started >= 110);
    const bad = await getJson('/slow?ms=999999');
    assert.equal(bad.status, 400);
  });

  test('GET /stream sends chunked plain text', async () => {
    const res = await request(`${upstream.url}/stream?chunks=3&intervalMs=20`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.equal(await res.body.text(), 'chunk 1 of 3\nchunk 2 of 3\nchunk 3 of 3\n');
  });

  test('GET /status/:code answers that status', async () => {
    const teapot = await getJson('/status/418');
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body['status'], 418);
    const unavailable = await getJson('/status/503');
    assert.equal(unavailable.status, 503);
    const noContent = await request(`${upstream.url}/status/204`);
    assert.equal(noContent.statusCode, 204);
    assert.equal(await noContent.body.text(), '');
    const bad = await getJson('/status/99');
    assert.equal(bad.status, 400);
  });

  test('GET /big streams exactly the requested number of bytes', async () => {
    const bytes = 3 * 1024 * 1024 + 7;
    const res = await request(`${upstream.url}/big?bytes=${bytes}`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(bytes));
    let received = 0;
    for await (const piece of res.body) received += (piece as Buffer).length;
    assert.equal(received, bytes);
  });

  test('WebSocket /ws echoes text and binary messages', async () => {
    const ws = new WebSocket(`${upstream.url.replace('http', 'ws')}/ws`);
    const received: { data: Buffer; isBinary: boolean }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data, isBinary) => {
        received.push({ data: data as Buffer, isBinary });
        if (received.length === 2) resolve();
      });
      ws.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send('hello ws');
    ws.send(Buffer.from([0, 1, 2, 255]));
    await done;
    ws.close();
    assert.equal(received[0]!.isBinary, false);
    assert.equal(received[0]!.data.toString(), 'hello ws');
    assert.equal(received[1]!.isBinary, true);
    assert.deepEqual([...received[1]!.data], [0, 1, 2, 255]);
  });

  test('WebSocket upgrades elsewhere are refused', async () => {
    const ws = new WebSocket(`${upstream.url.replace('http', 'ws')}/not-ws`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      ws.on('error', () => resolve(-1));
    });
    assert.equal(status, 404);
  });
});
