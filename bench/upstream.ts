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

const server = http.createServer((_req, res) => {
  // Any unread request body is discarded by node:http after the response ends.
  res.writeHead(200, HEADERS);
  res.end(BODY);
});
// Longer than any benchmark pause between phases, so pooled keep-alive connections never churn.
server.keepAliveTimeout = 65_000;

server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}` })}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
