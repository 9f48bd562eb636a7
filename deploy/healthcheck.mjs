#!/usr/bin/env node
// Container health check: GET http://<admin listener><path> and exit 0 on 200, 1 otherwise.
// Used by the Dockerfile's HEALTHCHECK (/healthz, liveness) and docker-compose.yml (/readyz).
// The slim Node image has no curl or wget; this needs nothing but Node.
//
//   node deploy/healthcheck.mjs [path]        path: /healthz (default) or /readyz
//
// The admin address comes from PORTCULLIS_ADMIN_LISTEN (host:port, [ipv6]:port or a bare
// port), as the gateway reads it; a wildcard host (0.0.0.0, ::) is checked on loopback.
const path = process.argv[2] ?? '/healthz';
const listen = (process.env.PORTCULLIS_ADMIN_LISTEN ?? '127.0.0.1:8081').trim();

let host = '127.0.0.1';
let port = listen;
const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(listen);
if (bracketed) {
  host = bracketed[1];
  port = bracketed[2];
} else if (listen.includes(':')) {
  const at = listen.lastIndexOf(':');
  host = listen.slice(0, at) || '127.0.0.1';
  port = listen.slice(at + 1);
}
if (host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  await response.arrayBuffer();
  if (response.status !== 200) {
    process.stderr.write(`${url} answered ${response.status}\n`);
    process.exit(1);
  }
  process.exit(0);
} catch (error) {
  process.stderr.write(`${url}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
