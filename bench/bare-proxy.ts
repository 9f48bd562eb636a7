/**
 * The floor: the least a correct streaming reverse proxy on Node can do per request. node:http
 * in front, one undici Pool behind, headers filtered, bodies streamed both ways, errors → 502.
 * Portcullis does strictly more work than this, so "Portcullis / bare" is the price of its
 * features, and "bare / direct" is the price of having any Node proxy hop at all.
 *
 * Honest on purpose: nothing is cached, every request is forwarded, client aborts are propagated
 * upstream. Runs as its own process:
 *   node dist/bench/bare-proxy.js --upstream http://127.0.0.1:PORT [--port N] [--connections 64]
 * and prints one JSON line with its URL when ready.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { type Dispatcher, Pool } from 'undici';
import { HOP_BY_HOP } from '../src/net/hop-by-hop.js';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    port: { type: 'string', default: '0' },
    // Above the harness's default 50 load connections: requests never queue behind the pool.
    connections: { type: 'string', default: '64' },
  },
});
if (!values.upstream) {
  console.error('bare-proxy: --upstream <url> is required');
  process.exit(2);
}

const pool = new Pool(values.upstream, {
  connections: Number(values.connections),
  // Pipelining would hide latency behind head-of-line blocking; real proxies use 1.
  pipelining: 1,
});

// RFC 9110 §7.6.1 hop-by-hop headers, plus host (undici sets it from the pool's origin) and
// expect (node:http already answered `100 Continue`; undici refuses to forward it).
const REQUEST_DROP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'host', 'expect']);
const RESPONSE_DROP: ReadonlySet<string> = HOP_BY_HOP;

/**
 * Walk rawHeaders once (cheaper than materialising req.headers) into undici's flat array form,
 * noting whether the request has a body: per RFC 9112 only content-length or
 * transfer-encoding says so, whatever the method.
 */
function requestHeaders(raw: string[]): { headers: string[]; hasBody: boolean } {
  const headers: string[] = [];
  let hasBody = false;
  let connectionTokens: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'content-length') hasBody ||= value !== '0';
    else if (lower === 'transfer-encoding') hasBody = true;
    else if (lower === 'connection') connectionTokens = value.toLowerCase().split(/\s*,\s*/);
    if (!REQUEST_DROP.has(lower)) headers.push(name, value);
  }
  if (connectionTokens === undefined) return { headers, hasBody };
  // Headers named in Connection are hop-by-hop too.
  const filtered: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!connectionTokens.includes(headers[i]!.toLowerCase())) filtered.push(headers[i]!, headers[i + 1]!);
  }
  return { headers: filtered, hasBody };
}

function responseHeaders(raw: ReadonlyArray<Buffer | string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    if (RESPONSE_DROP.has(name.toLowerCase())) continue;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  return out;
}

/**
 * undici's dispatch-handler interface: what `pool.request` is built on, minus the Promise, the
 * body Readable and the pipe. This is the cheapest way Node can relay a response (measured:
 * ~1.25× `pool.request` + `pipe` on this machine), so it is the floor Portcullis is compared
 * with — Portcullis forwards the same way.
 */
class Relay implements Dispatcher.DispatchHandler {
  #abort: ((error?: Error) => void) | undefined;
  #gone = false;
  readonly #res: http.ServerResponse;
  constructor(res: http.ServerResponse) {
    this.#res = res;
    // A client that leaves before the answer is complete cancels the upstream request.
    res.once('close', () => {
      if (!res.writableFinished) {
        this.#gone = true;
        this.#abort?.(new Error('client closed'));
      }
    });
  }
  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    if (this.#gone) abort(new Error('client closed'));
  }
  onHeaders(statusCode: number, raw: Buffer[] | string[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.#res.writeHead(statusCode, responseHeaders(raw));
    this.#res.on('drain', resume);
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }
  onComplete(): void {
    this.#res.end();
  }
  onError(): void {
    if (!this.#gone) badGateway(this.#res);
  }
}

function badGateway(res: http.ServerResponse) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain', 'content-length': 11 });
  res.end('bad gateway');
}

// The same listener settings as Portcullis's proxy server with its default preset, so the two
// differ only in what they do per request. noDelay is also Node 20's default for node:http; it is
// spelled out because a proxy that let Nagle hold back small responses would be a straw man.
// keepAliveTimeout / headersTimeout / requestTimeout / connectionsCheckingInterval cost the same
// timer work whatever their values; matching them removes the question.
const server = http.createServer(
  {
    noDelay: true,
    keepAliveTimeout: 5_000,
    headersTimeout: 15_000,
    requestTimeout: 300_000,
    connectionsCheckingInterval: 1_000,
  },
  (req, res) => {
    const { headers, hasBody } = requestHeaders(req.rawHeaders);
    pool.dispatch(
      {
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body: hasBody ? req : null,
      },
      new Relay(res),
    );
  },
);

server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}` })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
