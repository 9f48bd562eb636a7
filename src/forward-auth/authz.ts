/**
 * The forward-auth door: an existing proxy asks for a decision about a request it holds and
 * forwards by itself. Same pipeline, same records, same identity headers as gateway mode.
 * - nginx `auth_request`: X-Original-URI, X-Original-Method, X-Original-Host;
 * - Traefik ForwardAuth: X-Forwarded-Uri, X-Forwarded-Method, X-Forwarded-Host;
 * - Envoy `ext_authz` (HTTP): the original path appended to `/_portcullis/authz`, the
 *   original method and Host as the request's own.
 * These headers describe someone else's request, so they are believed only from a trusted
 * proxy; a missing or malformed original request is a denial, never a 200 (fail closed).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { completeIdentityHeaders } from '../gateway/identity-headers.js';
import { writeDeny } from '../gateway/problem-response.js';
import type { CidrSet } from '../net/cidr.js';
import { type ClientIpResolver, cidrContains } from '../net/client-ip.js';
import { normalizeHost } from '../net/host.js';
import { normalizePath } from '../net/path.js';
import { splitTarget } from '../net/target.js';
import { deny } from '../pipeline/decision.js';
import type { Decide } from '../pipeline/pipeline.js';
import type { Decision, Deny, RequestFacts } from '../pipeline/types.js';

export const AUTHZ_PATH = '/_portcullis/authz';

export interface ForwardAuthOptions {
  decide: Decide;
  /** Trusted proxies; undefined when none is configured (then every forward-auth call is refused). */
  trusted: CidrSet | undefined;
  resolveClientIp: ClientIpResolver;
  identityAliases: boolean;
  mode: ForwardAuthMode;
  pathCaseInsensitive: boolean;
  pathAllowSemicolons: boolean;
  report: (facts: RequestFacts | undefined, decision: Decision | undefined, status: number) => void;
  onFault: (res: ServerResponse, requestId: string, error: unknown, facts: RequestFacts) => void;
}

const METHOD = /^[A-Z]{1,16}$/;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

interface Original {
  method: string;
  target: string;
  host: string | undefined;
}

export type ForwardAuthMode = 'auto' | 'nginx' | 'traefik' | 'envoy';

/**
 * Read the original request in the configured proxy's convention. Proxies pass the client's
 * own headers along, so a client can add another convention's headers (e.g. X-Original-URI
 * behind Traefik) to describe a different request than the one the proxy will forward; in
 * `auto` mode a call that carries more than one convention is therefore refused.
 */
function originalRequest(
  req: IncomingMessage,
  authzFacts: RequestFacts,
  mode: ForwardAuthMode,
): Original | string {
  const raw = req.url ?? '';
  const envoy = raw.startsWith(`${AUTHZ_PATH}/`);
  const nginx = req.headers['x-original-uri'] !== undefined || req.headers['x-original-method'] !== undefined;
  const traefik =
    req.headers['x-forwarded-uri'] !== undefined || req.headers['x-forwarded-method'] !== undefined;
  const present = (envoy ? 1 : 0) + (nginx ? 1 : 0) + (traefik ? 1 : 0);
  if (mode === 'auto' && present > 1) return 'the request carries more than one forward-auth convention';
  if (mode !== 'auto') {
    const mine = mode === 'envoy' ? envoy : mode === 'nginx' ? nginx : traefik;
    if (!mine) return `expected ${mode} forward-auth headers`;
    if (present > 1) return `only ${mode} forward-auth headers are expected`;
  }
  if (envoy) {
    // Envoy: everything after the authz path is the original target, raw.
    return { method: req.method ?? '', target: raw.slice(AUTHZ_PATH.length), host: single(req.headers.host) };
  }
  if (authzFacts.path !== AUTHZ_PATH) return 'unknown forward-auth endpoint';
  const nginxUri = single(req.headers['x-original-uri']);
  if (nginx) {
    if (nginxUri === undefined) return 'missing or repeated X-Original-URI';
    return {
      method: single(req.headers['x-original-method']) ?? '',
      target: nginxUri,
      host: single(req.headers['x-original-host']) ?? single(req.headers.host),
    };
  }
  const traefikUri = single(req.headers['x-forwarded-uri']);
  if (traefik) {
    if (traefikUri === undefined) return 'missing or repeated X-Forwarded-Uri';
    return {
      method: single(req.headers['x-forwarded-method']) ?? '',
      target: traefikUri,
      host: single(req.headers['x-forwarded-host']) ?? single(req.headers.host),
    };
  }
  return 'the original request is missing (X-Original-URI / X-Forwarded-Uri, or a path after /_portcullis/authz)';
}

export function createForwardAuth(options: ForwardAuthOptions) {
  const { decide, report } = options;

  const refuse = (res: ServerResponse, decision: Deny, requestId: string, facts?: RequestFacts) => {
    // Forward-auth calls carry no body; if one was sent anyway, close rather than drain it.
    writeDeny(res, decision, requestId, !res.req.complete);
    report(facts, decision, decision.status);
  };

  const answer = (res: ServerResponse, facts: RequestFacts, decision: Decision) => {
    if (decision.kind === 'deny') {
      refuse(res, decision, facts.requestId, facts);
      return;
    }
    const headers = completeIdentityHeaders(
      decision.principal,
      decision.match.route.id,
      options.identityAliases,
    );
    headers.push('x-request-id', facts.requestId, 'cache-control', 'no-store', 'content-length', '0');
    // Rate-limit headers go to the proxy, which passes them on to the client.
    if (decision.responseHeaders)
      for (const [name, value] of decision.responseHeaders) headers.push(name, value);
    res.writeHead(200, headers);
    res.end();
    // The proxy forwards by itself: a concurrency slot cannot be held for the real request.
    if (decision.onFinish) for (const fn of decision.onFinish) fn(200);
    report(facts, decision, 200);
  };

  /** Handle a request under /_portcullis/authz. */
  return function handle(req: IncomingMessage, res: ServerResponse, authzFacts: RequestFacts): void {
    const requestId = authzFacts.requestId;
    if (!options.trusted || !cidrContains(options.trusted, authzFacts.peerIp)) {
      refuse(
        res,
        deny('untrusted_proxy', 'forward-auth requests are accepted from trusted proxies only'),
        requestId,
      );
      return;
    }
    const original = originalRequest(req, authzFacts, options.mode);
    if (typeof original === 'string') {
      refuse(res, deny('bad_request', original), requestId);
      return;
    }
    if (!METHOD.test(original.method)) {
      refuse(res, deny('bad_request', 'missing or malformed original method'), requestId);
      return;
    }
    const target = splitTarget(original.target);
    if (!target.ok) {
      refuse(res, deny('bad_request_path', target.reason), requestId);
      return;
    }
    const host = normalizeHost(original.host, false);
    if (!host.ok) {
      refuse(res, deny('bad_request', `invalid original host: ${host.reason}`), requestId);
      return;
    }
    const path = normalizePath(target.pathname, {
      caseInsensitive: options.pathCaseInsensitive,
      allowSemicolons: options.pathAllowSemicolons,
    });
    if (!path.ok) {
      refuse(res, deny('bad_request_path', path.reason), requestId);
      return;
    }
    const facts: RequestFacts = {
      requestId,
      door: 'forward_auth',
      method: original.method,
      hostname: host.hostname,
      port: host.port,
      host: host.port === undefined ? host.hostname : `${host.hostname}:${host.port}`,
      path: path.path,
      query: target.query,
      rawHeaders: req.rawHeaders,
      rawTarget: original.target,
      hasBody: false,
      connection: undefined,
      clientIp: options.resolveClientIp(authzFacts.peerIp, req),
      peerIp: authzFacts.peerIp,
      protocol: 'http',
      startedAt: authzFacts.startedAt,
    };
    let decision: Decision | Promise<Decision>;
    try {
      decision = decide(facts);
    } catch (error) {
      options.onFault(res, requestId, error, facts);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => answer(res, facts, d),
        (error: unknown) => options.onFault(res, requestId, error, facts),
      );
    } else {
      answer(res, facts, decision);
    }
  };
}
