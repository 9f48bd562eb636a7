/**
 * The benchmark upstream: as cheap as node:http can answer, so that on a shared 2-core machine
 * the upstream steals as little CPU as possible from the proxy being measured. Runs as its own
 * process (`node dist/bench/upstream.js [--port N]`) and prints one JSON line with its URL when
 * ready. Deliberately not the example upstream: no routing, no parsing, one fixed body.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

// Precomputed once: the response costs no allocation beyond what node:http itself does.
const BODY = Buffer.from(
  JSON.stringify({ ok: true, service: 'portcullis-bench-upstream', message: 'hello' }),
);
const HEADERS = ['content-type', 'application/json', 'content-length', String(BODY.length)];

// noDelay (Node 20's default, spelled out): a small response must not wait for Nagle.
// keepAliveTimeout: longer than any pause between a target's measurements (the other targets
// run in between), so the proxies' pooled upstream connections never churn; undici keeps them
// that long too, since it honours the `Keep-Alive: timeout=65` hint node:http sends.
const server = http.createServer({ noDelay: true, keepAliveTimeout: 65_000 }, (_req, res) => {
  // Any unread request body is discarded by node:http after the response ends.
  res.writeHead(200, HEADERS);
  res.end(BODY);
});

server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}` })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
