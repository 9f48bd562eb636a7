/**
 * Authentication and authorization of admin API calls (docs/admin-auth.md).
 *
 * A caller presents one of: `Authorization: Bearer pclsvc_…` (an API token with role
 * `admin` or `viewer`), `Authorization: Bearer pclses_…` (a login session), or the session
 * cookie set by login (for the console). Cookie-authenticated writes must also carry the
 * session's CSRF token and must not come from another site. Reads need `viewer`, changes
 * `admin`; `verifier` tokens are for the verification API only.
 *
 * Fails closed: a store fault while checking a credential is a 503, never a pass.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isWellFormedServiceToken } from '../../auth/service-token.js';
import { credentialHash } from '../../core/crypto.js';
import { auditedStore } from '../../telemetry/audit.js';
import { checkCsrf as csrfMatches } from '../auth/sessions.js';
import type { AdminApiDeps, Principal } from './context.js';
import { AdminProblem } from './errors.js';
import { resolveSession, SESSION_COOKIE } from './sessions.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
  if (!match) throw new AdminProblem('invalid_credentials', 'use Authorization: Bearer <token>');
  return match[1];
}

async function principalOf(deps: AdminApiDeps, request: FastifyRequest): Promise<Principal> {
  if (deps.localPrincipal) return deps.localPrincipal;
  const bearer = bearerOf(request);
  if (bearer !== undefined) {
    if (isWellFormedServiceToken(bearer)) {
      const token = await deps.store.serviceTokens.findByHash(credentialHash(deps.keys, bearer));
      const now = deps.clock.now();
      if (!token || token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= now))
        throw new AdminProblem('invalid_credentials');
      if (token.role === 'verifier')
        throw new AdminProblem('forbidden', 'verifier tokens may only call the verification API');
      // Bookkeeping, best effort: a failed touch must not fail the call.
      deps.store.serviceTokens.touch(token.id, now).catch(() => undefined);
      return { kind: 'token', id: token.id, name: `token:${token.id}`, role: token.role, via: 'bearer' };
    }
    const session = await resolveSession(deps, bearer);
    if (!session) throw new AdminProblem('invalid_credentials');
    return { ...session, via: 'bearer' };
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (cookie !== undefined) {
    const session = await resolveSession(deps, cookie);
    if (!session) throw new AdminProblem('invalid_credentials', 'the session has expired; log in again');
    return { ...session, via: 'cookie' };
  }
  throw new AdminProblem('missing_credentials', 'log in or send Authorization: Bearer <token>', {
    'www-authenticate': 'Bearer realm="portcullis-admin"',
  });
}

/** Where a change came from, for the audit log. */
function sourceOf(deps: AdminApiDeps, request: FastifyRequest): string {
  return deps.localPrincipal ? (deps.localSource ?? 'cli') : request.ip;
}

export function authenticate(deps: AdminApiDeps) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const access =
      request.routeOptions.config.access ?? (SAFE_METHODS.has(request.method) ? 'viewer' : 'admin');
    if (access === 'public') return;
    const principal = await principalOf(deps, request);
    if (principal.via === 'cookie' && !SAFE_METHODS.has(request.method)) checkCsrf(deps, request, principal);
    if (access === 'admin' && principal.role !== 'admin')
      throw new AdminProblem('forbidden', `role ${principal.role} may not make changes`);
    const store = auditedStore(
      deps.store,
      { actor: principal.name, source: sourceOf(deps, request) },
      deps.clock,
    );
    request.scope = {
      principal,
      store,
      identity: { store, keys: deps.keys, clock: deps.clock, keyPrefix: deps.settings.keyPrefix },
    };
  };
}

/**
 * Cookie-authenticated writes: the browser sends cookies on cross-site requests too (a
 * SameSite=Strict cookie stops most, not all: same-site subdomains). So a write must show
 * it was made by our page: the `X-CSRF-Token` it was given at login, and no cross-site
 * `Origin` / `Sec-Fetch-Site`.
 */
function checkCsrf(deps: AdminApiDeps, request: FastifyRequest, principal: Principal): void {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    throw new AdminProblem('csrf_failed', 'cross-site request refused');
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== request.headers.host) throw new AdminProblem('csrf_failed', 'cross-origin request refused');
  } else if (origin === 'null') throw new AdminProblem('csrf_failed', 'opaque origin refused');
  const token = request.headers['x-csrf-token'];
  if (
    typeof token !== 'string' ||
    !principal.sessionHash ||
    !csrfMatches(deps.keys, principal.sessionHash, token)
  )
    throw new AdminProblem('csrf_failed', 'missing or wrong X-CSRF-Token header');
}
