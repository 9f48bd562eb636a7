import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { parseRawResponse, rawRequest } from '../helpers/raw-http.js';

describe('HTTP hardening: oversized, slow and smuggling-shaped requests', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      env: {
        PORTCULLIS_MAX_HEADER_BYTES: '4096',
        PORTCULLIS_HEADERS_TIMEOUT_MS: '1000',
        PORTCULLIS_REQUEST_TIMEOUT_MS: '2000',
      },
      document: {
        routes: [
          { id: 'public', path: '/*', methods: { '*': 'public' }, upstream: { url: upstream.url } },
          { id: 'private', path: '/private/*', methods: { '*': 'api_key' }, upstream: { url: upstream.url } },
        ],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const problemCode = (body: string) => (JSON.parse(body) as { code: string }).code;

  it('answers 431 to a header block over the limit', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      `GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`,
    );
    assert.equal(res.status, 431);
    assert.equal(problemCode(res.body), 'request_header_fields_too_large');
  });

  it('refuses Content-Length with Transfer-Encoding (request smuggling)', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /private/x HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    assert.equal(res.status, 400);
    assert.equal(problemCode(res.body), 'bad_request');
    assert.equal((res.raw.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'the smuggled request is never answered');
  });

  it('refuses duplicate Content-Length', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    );
    assert.equal(res.status, 400);
  });

  it('refuses an obfuscated Transfer-Encoding', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    );
    assert.equal(res.status, 400);
  });

  it('refuses invalid chunk framing', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    );
    assert.equal(res.status, 400);
  });

  it('cuts a slowloris client off with 408', async () => {
    const socket = connect({ host: '127.0.0.1', port: gw.proxyPort });
    let data = '';
    socket.on('data', (d: Buffer) => {
      data += d.toString();
    });
    socket.write('GET /echo HTTP/1.1\r\nHost: a\r\n');
    // Keep trickling header bytes, never finishing the header block.
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 200);
    const closedAt = await new Promise<number>((resolve) => {
      const started = performance.now();
      socket.on('close', () => resolve(performance.now() - started));
      socket.on('error', () => undefined);
    });
    clearInterval(trickle);
    assert.equal(parseRawResponse(data).status, 408);
    assert.ok(closedAt < 10_000, 'closed by the headers timeout, not by the test');
  });

  it('decides before inviting a body: Expect: 100-continue on a protected route gets 401 and no 100', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'POST /private/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n',
    );
    assert.equal(res.status, 401);
    assert.ok(!res.raw.includes('100 Continue'));
    assert.equal(res.headers['connection'], 'close');
  });

  it('sends 100 Continue on an allowed route and forwards the body', async () => {
    const socket = connect({ host: '127.0.0.1', port: gw.proxyPort });
    let data = '';
    socket.on('data', (d: Buffer) => {
      data += d.toString();
      if (data.includes('100 Continue') && !data.includes('200 OK')) socket.write('hello');
    });
    socket.write(
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    );
    await new Promise((resolve) => socket.on('close', resolve));
    assert.match(data, /^HTTP\/1\.1 100 Continue/);
    const final = parseRawResponse(data.slice(data.indexOf('HTTP/1.1 200')));
    assert.equal(final.status, 200);
    assert.equal((JSON.parse(final.body) as { bodyBytes: number }).bodyBytes, 5);
  });

  it('closes the connection after refusing a request whose body was not read', async () => {
    const res = await rawRequest(
      gw.proxyPort,
      'POST /private/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial',
    );
    assert.equal(res.status, 401);
    assert.equal(res.headers['connection'], 'close');
  });
});
