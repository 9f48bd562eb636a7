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

/** What the request path needs from the header lines, found in one pass over rawHeaders. */
export interface HeaderScan {
  host: string | undefined;
  /**
   * Node keeps the first Host and silently drops the rest, so a second Host could be read
   * differently by the upstream (host confusion): refused. (Duplicate Content-Length and
   * CL+TE are already refused by Node's parser.)
   */
  duplicateHost: boolean;
  requestId: string | undefined;
  hasBody: boolean;
  connection: string | undefined;
}

/**
 * One pass over the raw header lines instead of `req.headers`, which Node builds lazily —
 * not building it at all is measurably cheaper on the hot path. Only names of the right
 * length are lower-cased.
 */
export function scanHeaders(raw: readonly string[]): HeaderScan {
  const scan: HeaderScan = {
    host: undefined,
    duplicateHost: false,
    requestId: undefined,
    hasBody: false,
    connection: undefined,
  };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (scan.host !== undefined) scan.duplicateHost = true;
          scan.host = raw[i + 1] as string;
        }
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const value = raw[i + 1] as string;
          scan.connection = scan.connection === undefined ? value : `${scan.connection}, ${value}`;
        }
        break;
      case 12:
        if (scan.requestId === undefined && name.toLowerCase() === 'x-request-id')
          scan.requestId = raw[i + 1] as string;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length' && raw[i + 1] !== '0') scan.hasBody = true;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') scan.hasBody = true;
        break;
    }
  }
  return scan;
}

// A keep-alive connection carries many requests from one peer: normalize its address once.
const PEER_IP = Symbol('portcullis.peerIp');

function peerIpOf(req: IncomingMessage): string {
  const socket = req.socket as IncomingMessage['socket'] & { [PEER_IP]?: string };
  let ip = socket[PEER_IP];
  if (ip === undefined) {
    ip = normalizeIp(socket.remoteAddress) ?? '';
    socket[PEER_IP] = ip;
  }
  return ip;
}

export function readFacts(
  req: IncomingMessage,
  scan: HeaderScan,
  requestId: string,
  door: Door,
  options: FactsOptions,
  startedAt: number,
): RequestFacts | Deny {
  if (scan.duplicateHost) return deny('bad_request', 'more than one Host header');
  const target = splitTarget(req.url ?? '');
  if (!target.ok) return deny('bad_request_path', target.reason);
  // No TLS on the proxy listener (yet): the request arrived over plain HTTP.
  const secure = false;
  const host = normalizeHost(scan.host, secure);
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
  const peerIp = peerIpOf(req);
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
    rawHeaders: req.rawHeaders,
    rawTarget: req.url ?? '',
    hasBody: scan.hasBody,
    connection: scan.connection,
    clientIp: resolveClientIp(peerIp, req),
    peerIp,
    protocol: secure ? 'https' : 'http',
    startedAt,
  };
}
