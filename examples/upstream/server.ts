/**
 * The bundled example upstream: a small HTTP + WebSocket service that the demo mode forwards to
 * and that integration tests use to see exactly what reached the upstream. Plain node:http, no
 * framework, so what it answers is obvious from this one file.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface ExampleUpstreamOptions {
  /** Default 127.0.0.1: the example is never meant to be reachable from other machines. */
  host?: string;
  /** Default 0: the OS picks a free port (tests run in parallel). */
  port?: number;
}

export interface ExampleUpstream {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

const ENDPOINTS = [
  'GET /',
  'GET /hello',
  'GET /orders',
  'GET /orders/:id',
  'ANY /echo',
  'ANY /echo/*',
  'GET /sse?events=N&intervalMs=M',
  'GET /slow?ms=N',
  'GET /stream?chunks=N&intervalMs=M',
  'GET /status/:code',
  'GET /big?bytes=N',
  'WS  /ws',
];

interface Order {
  id: string;
  customer: string;
  items: { sku: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  status: 'pending' | 'shipped' | 'delivered';
}

const ORDERS: readonly Order[] = [
  {
    id: 'ord_1001',
    customer: 'acme-corp',
    items: [{ sku: 'widget-s', quantity: 3, unitPriceCents: 1250 }],
    totalCents: 3750,
    status: 'shipped',
  },
  {
    id: 'ord_1002',
    customer: 'globex',
    items: [
      { sku: 'widget-l', quantity: 1, unitPriceCents: 4900 },
      { sku: 'gizmo', quantity: 2, unitPriceCents: 799 },
    ],
    totalCents: 6498,
    status: 'pending',
  },
  {
    id: 'ord_1003',
    customer: 'initech',
    items: [{ sku: 'stapler', quantity: 1, unitPriceCents: 1599 }],
    totalCents: 1599,
    status: 'delivered',
  },
];

const MAX_BIG_BYTES = 100 * 1024 * 1024;
const MAX_SLOW_MS = 60_000;
const MAX_EVENTS = 10_000;
const MAX_INTERVAL_MS = 60_000;

// One reusable 64 KiB block for /big: any size is served without allocating it at once.
const BIG_BLOCK = Buffer.alloc(64 * 1024, 'portcullis example upstream big body\n');

class BadRequest extends Error {}

function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers?: http.OutgoingHttpHeaders,
) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** Integer query parameter within [min, max]; a malformed value is the client's error (400). */
function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new BadRequest(`${name} must be a non-negative integer`);
  const value = Number(raw);
  if (value < min || value > max) throw new BadRequest(`${name} must be between ${min} and ${max}`);
  return value;
}

/**
 * Split the request target ourselves rather than `new URL(target, base)`: a target such as
 * `//echo` would be read as a host by the URL parser, and tests rely on path and raw target
 * being exactly what the gateway sent.
 */
function splitTarget(target: string): { path: string; query: URLSearchParams } {
  let pathAndQuery = target;
  if (!target.startsWith('/')) {
    // absolute-form (`http://host/path`) is legal on the wire; anything else has no path.
    try {
      const parsed = new URL(target);
      pathAndQuery = parsed.pathname + parsed.search;
    } catch {
      pathAndQuery = '/';
    }
  }
  const q = pathAndQuery.indexOf('?');
  return q === -1
    ? { path: pathAndQuery, query: new URLSearchParams() }
    : { path: pathAndQuery.slice(0, q), query: new URLSearchParams(pathAndQuery.slice(q + 1)) };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest('malformed percent-encoding in path');
  }
}

function handleEcho(req: http.IncomingMessage, res: http.ServerResponse) {
  // Hash as the bytes stream in: uploads of any size cost constant memory.
  const hash = createHash('sha256');
  let bodyBytes = 0;
  req.on('data', (chunk: Buffer) => {
    bodyBytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    sendJson(res, 200, {
      method: req.method,
      url: req.url,
      headers: req.headers,
      // rawHeaders keeps duplicates, order and case, which `headers` folds away.
      rawHeaders: req.rawHeaders,
      bodyBytes,
      bodySha256: hash.digest('hex'),
    });
  });
  // A client that aborts mid-upload just goes away; there is no one left to answer.
  req.on('error', () => {});
}

function handleSse(res: http.ServerResponse, query: URLSearchParams) {
  const events = intParam(query, 'events', 5, 0, MAX_EVENTS);
  const intervalMs = intParam(query, 'intervalMs', 200, 0, MAX_INTERVAL_MS);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    // Tells nginx-style buffering proxies to pass events through as they come.
    'x-accel-buffering': 'no',
  });
  // Send headers now so the client sees the stream open before the first event.
  res.flushHeaders();
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (sent >= events) {
      res.end();
      return;
    }
    sent += 1;
    res.write(`data: {"n":${sent}}\n\n`);
    timer = setTimeout(tick, intervalMs);
  };
  res.on('close', () => clearTimeout(timer));
  tick();
}

function handleStream(res: http.ServerResponse, query: URLSearchParams) {
  const chunks = intParam(query, 'chunks', 5, 0, MAX_EVENTS);
  const intervalMs = intParam(query, 'intervalMs', 200, 0, MAX_INTERVAL_MS);
  // No content-length: node frames this with `transfer-encoding: chunked`.
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.flushHeaders();
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (sent >= chunks) {
      res.end();
      return;
    }
    sent += 1;
    res.write(`chunk ${sent} of ${chunks}\n`);
    timer = setTimeout(tick, intervalMs);
  };
  res.on('close', () => clearTimeout(timer));
  tick();
}

function handleSlow(res: http.ServerResponse, query: URLSearchParams) {
  const ms = intParam(query, 'ms', 2000, 0, MAX_SLOW_MS);
  const timer = setTimeout(() => sendJson(res, 200, { waitedMs: ms }), ms);
  // 'close' also fires after a normal finish; clearing a fired timer is harmless.
  res.on('close', () => clearTimeout(timer));
}

function handleStatus(res: http.ServerResponse, rawCode: string) {
  const code = /^\d{3}$/.test(rawCode) ? Number(rawCode) : Number.NaN;
  // 1xx are not final answers; node cannot send them through writeHead.
  if (!(code >= 200 && code <= 599)) throw new BadRequest('status code must be between 200 and 599');
  if (code === 204 || code === 304) {
    // These statuses must not carry a body.
    res.writeHead(code);
    res.end();
    return;
  }
  sendJson(res, code, { status: code, message: http.STATUS_CODES[code] ?? 'Unknown' });
}

function handleBig(res: http.ServerResponse, query: URLSearchParams) {
  const total = intParam(query, 'bytes', 1024 * 1024, 0, MAX_BIG_BYTES);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  let remaining = total;
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  // Write until the socket buffer is full, then wait for 'drain': memory stays at a few blocks.
  const pump = () => {
    while (remaining > 0 && !closed) {
      const size = Math.min(remaining, BIG_BLOCK.length);
      remaining -= size;
      const more = res.write(size === BIG_BLOCK.length ? BIG_BLOCK : BIG_BLOCK.subarray(0, size));
      if (!more) {
        res.once('drain', pump);
        return;
      }
    }
    if (!closed) res.end();
  };
  pump();
}

function route(req: http.IncomingMessage, res: http.ServerResponse) {
  const { path, query } = splitTarget(req.url ?? '/');
  const method = req.method ?? 'GET';

  if (path === '/echo' || path.startsWith('/echo/')) {
    handleEcho(req, res);
    return;
  }

  // Every other endpoint ignores request bodies; drain them so keep-alive connections stay usable.
  req.resume();

  const known =
    path === '/' ||
    path === '/hello' ||
    path === '/orders' ||
    path.startsWith('/orders/') ||
    path === '/sse' ||
    path === '/slow' ||
    path === '/stream' ||
    path.startsWith('/status/') ||
    path === '/big';
  if (!known) {
    sendJson(res, 404, { error: 'not_found', message: `no endpoint at ${path}` });
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    sendJson(
      res,
      405,
      { error: 'method_not_allowed', message: `${method} not allowed on ${path}` },
      { allow: 'GET, HEAD' },
    );
    return;
  }

  if (path === '/') {
    sendJson(res, 200, { service: 'portcullis-example-upstream', endpoints: ENDPOINTS });
  } else if (path === '/hello') {
    sendJson(res, 200, { message: 'hello from the example upstream' });
  } else if (path === '/orders') {
    sendJson(res, 200, { orders: ORDERS });
  } else if (path.startsWith('/orders/')) {
    const id = decodePathSegment(path.slice('/orders/'.length));
    const order = ORDERS.find((o) => o.id === id);
    if (order) sendJson(res, 200, order);
    else sendJson(res, 404, { error: 'not_found', message: `order ${id} not found` });
  } else if (path === '/sse') {
    handleSse(res, query);
  } else if (path === '/slow') {
    handleSlow(res, query);
  } else if (path === '/stream') {
    handleStream(res, query);
  } else if (path.startsWith('/status/')) {
    handleStatus(res, path.slice('/status/'.length));
  } else {
    handleBig(res, query);
  }
}

export async function startExampleUpstream(options: ExampleUpstreamOptions = {}): Promise<ExampleUpstream> {
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
      } else if (error instanceof BadRequest) {
        sendJson(res, 400, { error: 'bad_request', message: error.message });
      } else {
        sendJson(res, 500, { error: 'internal_error', message: String(error) });
      }
    }
  });

  // noServer: we own the HTTP server and decide which paths may upgrade.
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {});
    if (splitTarget(req.url ?? '/').path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Upgraded sockets are no longer tracked by the HTTP server; end them explicitly.
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive and streaming responses would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
