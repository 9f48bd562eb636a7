/**
 * Turn a Node request into RequestFacts once: target split, host and path normalized, the
 * request-smuggling and host-confusion checks done. Everything after this reads only the
 * facts, so the path that is matched is exactly the path that is forwarded.
 */
import type { IncomingMessage } from 'node:http';
import type { ClientIpResolver } from '../net/client-ip.js';
import { normalizeHost } from '../net/host.js';
import { normalizeIp } from '../net/ip.js';
import { normalizePath } from '../net/path.js';
import { splitTarget } from '../net/target.js';
import { deny } from '../pipeline/decision.js';
import type { Deny, Door, RequestFacts } from '../pipeline/types.js';

export interface FactsOptions {
  readonly pathCaseInsensitive: boolean;
  readonly pathAllowSemicolons: boolean;
  readonly resolveClientIp: ClientIpResolver;
}

/**
 * Header names that must appear at most once. Node keeps the first Host and silently drops
 * the rest, so a second Host could be read differently by the upstream (host confusion);
 * duplicate Content-Length and CL+TE are already refused by Node's parser (smuggling).
 */
function hasDuplicateHost(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

export function readFacts(
  req: IncomingMessage,
  requestId: string,
  door: Door,
  options: FactsOptions,
  startedAt: number,
): RequestFacts | Deny {
  if (hasDuplicateHost(req.rawHeaders)) return deny('bad_request', 'more than one Host header');
  const target = splitTarget(req.url ?? '');
  if (!target.ok) return deny('bad_request_path', target.reason);
  // No TLS on the proxy listener (yet): the request arrived over plain HTTP.
  const secure = false;
  const host = normalizeHost(req.headers.host, secure);
  if (!host.ok) return deny('bad_request', `invalid Host header: ${host.reason}`);
  if (target.authority !== undefined) {
    // Absolute-form (RFC 9112 §3.2.2) must name the same authority as Host, or the upstream
    // and the route matcher could each believe a different host.
    const fromTarget = normalizeHost(target.authority, target.scheme === 'https');
    if (!fromTarget.ok || fromTarget.hostname !== host.hostname || fromTarget.port !== host.port) {
      return deny('bad_request', 'request target and Host header name different hosts');
    }
  }
  const path = normalizePath(target.pathname, {
    caseInsensitive: options.pathCaseInsensitive,
    allowSemicolons: options.pathAllowSemicolons,
  });
  if (!path.ok) return deny('bad_request_path', path.reason);
  const peerIp = normalizeIp(req.socket.remoteAddress) ?? '';
  const { resolveClientIp } = options;
  return {
    requestId,
    door,
    method: req.method ?? 'GET',
    hostname: host.hostname,
    port: host.port,
    host: host.port === undefined ? host.hostname : `${host.hostname}:${host.port}`,
    path: path.path,
    query: target.query,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    rawTarget: req.url ?? '',
    clientIp: resolveClientIp(peerIp, req.headers),
    peerIp,
    protocol: secure ? 'https' : 'http',
    startedAt,
  };
}
