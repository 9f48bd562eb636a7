/**
 * Header hygiene between client and upstream. Hop-by-hop headers and the headers a
 * `Connection` header names are connection-local and never forwarded (RFC 9110 §7.6.1).
 * Headers that carry identity or client addresses are removed from the inbound request
 * and set by the gateway itself, so a client cannot forge them.
 */
import { randomBytes } from 'node:crypto';
import { extraConnectionTokens, HOP_BY_HOP } from '../net/hop-by-hop.js';
import type { Allow, RequestFacts } from '../pipeline/types.js';
import { pushIdentityHeaders } from './identity-headers.js';

const INBOUND_DROP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'host',
  // Client-address and forwarding headers: only the gateway's own values reach the upstream.
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-original-client-ip',
  'x-request-id',
  // Identity aliases of API Gatekeeper; the x-portcullis- family is dropped by prefix.
  'x-client-id',
  'x-client-name',
  'x-route-id',
  // undici refuses Expect; Node already answered 100-continue to the client.
  'expect',
  // Method and URL overrides: many frameworks honour them, which would let a client granted
  // POST perform DELETE, or reach a URL other than the one the gateway matched.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-original-method',
  'x-forwarded-uri',
  'x-forwarded-method',
]);

/** What the gateway adds to forwarded requests beyond the fixed set. */
export interface HeaderPolicy {
  /** Also send API Gatekeeper's identity header names (X-Client-ID, X-Client-Name, X-Route-ID). */
  readonly identityAliases: boolean;
  /** Start a W3C trace (`traceparent`) when the request carries no valid one. */
  readonly traceparent: boolean;
}

// W3C Trace Context §3.2: version (not ff), 32-hex trace id and 16-hex parent id, not all zeros.
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-[^\s]*)?$/;

function hasValidTraceparent(raw: readonly string[]): boolean {
  let found = false;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'traceparent') continue;
    // Two traceparent lines are invalid (§3.2.1: a vendor must not combine them).
    if (found || !TRACEPARENT.test(raw[i + 1] as string)) return false;
    found = true;
  }
  return found;
}

/**
 * The admin console's session cookie without the proxy's business: browsers send a cookie to
 * every port of its host, so an admin browsing a routed `/admin/...` path on the proxy port
 * would hand their session to that upstream. It is cut from the Cookie header; the rest of
 * the header is forwarded as it came.
 */
export const ADMIN_SESSION_COOKIE = 'portcullis_session';

export function withoutAdminSession(cookie: string): string {
  if (!cookie.includes(ADMIN_SESSION_COOKIE)) return cookie;
  return cookie
    .split(';')
    .filter((pair) => pair.trim().split('=', 1)[0] !== ADMIN_SESSION_COOKIE)
    .join(';')
    .trim();
}

/** A new trace: random trace id and parent id, sampled flag set. */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

/** Build the upstream request headers as a flat [name, value, …] list (undici's cheapest form). */
export function upstreamRequestHeaders(
  raw: readonly string[],
  connection: string | string[] | undefined,
  facts: RequestFacts,
  decision: Allow,
  policy: HeaderPolicy,
): string[] {
  const route = decision.match.route;
  const named = extraConnectionTokens(connection);
  // The credential Portcullis checked is its business, not the upstream's, unless the route keeps it.
  const dropCredential = decision.credential !== undefined && route.spec.keep_credential !== true;
  // A request without a usable trace starts one here (only when enabled); an invalid one and
  // its tracestate are replaced rather than forwarded (W3C Trace Context §4.3).
  const startTrace = policy.traceparent && !hasValidTraceparent(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (INBOUND_DROP.has(lower) || lower.startsWith('x-portcullis-')) continue;
    // Underscores: CGI/WSGI/Rack servers map "X_Client_ID" and "X-Client-ID" to the same
    // variable, so an underscore spelling would smuggle a header past this list (nginx drops
    // them by default for the same reason).
    if (lower.includes('_')) continue;
    if (named?.has(lower)) continue;
    if (dropCredential && (lower === 'authorization' || lower === 'x-api-key')) continue;
    if (startTrace && (lower === 'traceparent' || lower === 'tracestate')) continue;
    if (lower === 'cookie') {
      const kept = withoutAdminSession(raw[i + 1] as string);
      if (kept !== '') out.push(name, kept);
      continue;
    }
    out.push(name, raw[i + 1] as string);
  }
  if (startTrace) out.push('traceparent', newTraceparent());
  out.push(
    'host',
    route.upstream.preserveHost ? facts.host : route.upstream.hostHeader,
    'x-forwarded-for',
    facts.clientIp,
    'x-forwarded-proto',
    facts.protocol,
    'x-forwarded-host',
    facts.host,
    'x-request-id',
    facts.requestId,
  );
  pushIdentityHeaders(out, decision.principal, route.id, policy.identityAliases);
  return out;
}

/**
 * Response headers for the client: the upstream's raw headers (name, value… as undici hands
 * them over, without building an object first), minus hop-by-hop ones and those named in the
 * upstream's Connection header, plus our request id.
 */
export function clientResponseHeadersFromRaw(
  raw: ReadonlyArray<Buffer | string>,
  requestId: string,
): string[] {
  let named: Set<string> | undefined;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer | string).toString('latin1');
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      const tokens = extraConnectionTokens((raw[i + 1] as Buffer | string).toString('latin1'));
      if (tokens) {
        named ??= new Set();
        for (const token of tokens) named.add(token);
      }
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower === 'x-request-id') continue;
    out.push(name, (raw[i + 1] as Buffer | string).toString('latin1'));
  }
  // Rare: the upstream named extra headers in Connection; drop them (one more pass).
  const filtered = named ? dropNamed(out, named) : out;
  filtered.push('x-request-id', requestId);
  return filtered;
}

function dropNamed(headers: string[], named: ReadonlySet<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!named.has((headers[i] as string).toLowerCase()))
      kept.push(headers[i] as string, headers[i + 1] as string);
  }
  return kept;
}
