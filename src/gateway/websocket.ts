/**
 * WebSocket (and other HTTP/1.1 Upgrade) pass-through. The upgrade request goes through the
 * same pipeline as any request; only an allowed one is relayed. After the upstream's
 * 101 the two sockets are piped together and the gateway steps out of the way.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Allow, RequestFacts } from '../pipeline/types.js';
import { upstreamPath } from '../routing/compile.js';
import { upstreamQuery } from './forward.js';
import { type HeaderPolicy, upstreamRequestHeaders } from './headers.js';
import { writeRawProblem } from './problem-response.js';
import type { UpstreamPools } from './upstreams.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function relayUpgrade(
  pools: UpstreamPools,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  facts: RequestFacts,
  decision: Allow,
  headerPolicy: HeaderPolicy,
  done: (status: number) => void,
): void {
  const route = decision.match.route;
  const protocol = req.headers.upgrade;
  // Only WebSocket is relayed. Any other upgrade (h2c above all) would open a tunnel in which
  // later requests reach the upstream without passing the gateway's decision.
  if (typeof protocol !== 'string' || !TOKEN.test(protocol) || protocol.toLowerCase() !== 'websocket') {
    writeRawProblem(socket, 'bad_request', 'only WebSocket upgrades are supported', facts.requestId);
    done(400);
    return;
  }
  const abort = new AbortController();
  const onEarlyClose = () => abort.abort();
  socket.once('close', onEarlyClose);
  pools
    .get(route.upstream.origin)
    .upgrade({
      path: upstreamPath(route, facts.path) + upstreamQuery(facts, decision),
      method: facts.method,
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, facts, decision, headerPolicy),
      protocol,
      signal: abort.signal,
    })
    .then(
      ({ headers, socket: upstream }) => {
        socket.off('close', onEarlyClose);
        if (socket.destroyed) {
          upstream.destroy();
          return;
        }
        let response = 'HTTP/1.1 101 Switching Protocols\r\n';
        for (const name in headers) {
          const value = headers[name];
          if (value === undefined || name === 'x-request-id') continue;
          for (const v of Array.isArray(value) ? value : [value]) response += `${name}: ${v}\r\n`;
        }
        response += `x-request-id: ${facts.requestId}\r\n\r\n`;
        socket.write(response);
        if (head.length > 0) upstream.write(head);
        const closeBoth = () => {
          socket.destroy();
          upstream.destroy();
        };
        upstream.on('error', closeBoth).on('close', closeBoth);
        socket.on('error', closeBoth).on('close', closeBoth);
        upstream.pipe(socket);
        socket.pipe(upstream);
        done(101);
      },
      (error: unknown) => {
        socket.off('close', onEarlyClose);
        const code =
          (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT'
            ? 'upstream_timeout'
            : 'upstream_unavailable';
        writeRawProblem(socket, code, 'the upstream did not accept the upgrade', facts.requestId);
        done(code === 'upstream_timeout' ? 504 : 502);
      },
    );
}
