/**
 * The one error catalog. Every code a client or an admin can see is listed here with its
 * HTTP status and public title; `docs/errors.md` documents each one and a test keeps the two
 * in step. Codes are stable API: never rename or reuse one.
 */
export const errorCatalog = {
  // 400 — the request itself is malformed
  bad_request: { status: 400, title: 'Bad request' },
  bad_request_path: { status: 400, title: 'Bad request path' },
  // 401 — no usable credential
  missing_credentials: { status: 401, title: 'Missing credentials' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  key_expired: { status: 401, title: 'Key expired' },
  key_revoked: { status: 401, title: 'Key revoked' },
  signature_expired: { status: 401, title: 'Signature expired' },
  replayed_request: { status: 401, title: 'Replayed request' },
  // 403 — credential understood, access refused
  forbidden: { status: 403, title: 'Forbidden' },
  forbidden_route: { status: 403, title: 'Forbidden route' },
  client_suspended: { status: 403, title: 'Client suspended' },
  client_revoked: { status: 403, title: 'Client revoked' },
  environment_mismatch: { status: 403, title: 'Environment mismatch' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  ip_not_allowed: { status: 403, title: 'IP not allowed' },
  ip_binding_violation: { status: 403, title: 'IP binding violation' },
  blocked: { status: 403, title: 'Blocked' },
  usage_exhausted: { status: 403, title: 'Usage exhausted' },
  untrusted_proxy: { status: 403, title: 'Untrusted proxy' },
  csrf_failed: { status: 403, title: 'CSRF check failed' },
  // 404 / 405 / 409 / 422 — the admin API's resources
  no_route: { status: 404, title: 'No route' },
  not_found: { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  invalid_input: { status: 422, title: 'Invalid input' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  // 408 / 413 / 431 — oversized or slow input
  request_timeout: { status: 408, title: 'Request timeout' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  request_header_fields_too_large: { status: 431, title: 'Request header fields too large' },
  // 429 — how often
  rate_limited: { status: 429, title: 'Rate limited' },
  quota_exceeded: { status: 429, title: 'Quota exceeded' },
  login_locked: { status: 429, title: 'Too many failed logins' },
  // 5xx — faults, never reported as 401/403
  internal_error: { status: 500, title: 'Internal error' },
  upstream_unavailable: { status: 502, title: 'Upstream unavailable' },
  failsafe_closed: { status: 503, title: 'Service unavailable (failsafe closed)' },
  store_unavailable: { status: 503, title: 'Store unavailable' },
  shutting_down: { status: 503, title: 'Shutting down' },
  upstream_timeout: { status: 504, title: 'Upstream timeout' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalog;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: ErrorCode;
  requestId?: string;
}

export function problemType(code: ErrorCode): string {
  return `urn:portcullis:problem:${code}`;
}

/**
 * Build the RFC 9457 body for a code. `detail` must be client-safe: it never carries a
 * secret, a stack trace, or a hint about whether a credential exists.
 */
export function problemFor(code: ErrorCode, detail?: string, requestId?: string): Problem {
  const entry = errorCatalog[code];
  const problem: Problem = { type: problemType(code), title: entry.title, status: entry.status, code };
  if (detail !== undefined) problem.detail = detail;
  if (requestId !== undefined) problem.requestId = requestId;
  return problem;
}

export function statusOf(code: ErrorCode): number {
  return errorCatalog[code].status;
}
