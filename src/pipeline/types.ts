/**
 * The shapes every door and stage share. A request becomes `RequestFacts` once; stages read
 * the facts and add what they learn to the `Exchange`; the pipeline ends in a `Decision`.
 * A refusal is data (a `Deny` with a catalog code), never an exception: exceptions are
 * faults, and a fault in a store becomes a 503/failsafe decision, never a 401.
 */
import type { ErrorCode } from '../errors/catalog.js';
import type { AuthMethod } from '../routing/spec.js';
import type { RouteMatch } from '../routing/table.js';

/** Which door a request came through; recorded with every decision. */
export type Door = 'gateway' | 'forward_auth' | 'verify';

export interface RequestFacts {
  readonly requestId: string;
  readonly door: Door;
  readonly method: string;
  /** Normalized host name (lower-case, no trailing dot, IPv6 in brackets). */
  readonly hostname: string;
  /** Non-default port from Host, if any. */
  readonly port: number | undefined;
  /** The Host value forwarded as X-Forwarded-Host (normalized, with port). */
  readonly host: string;
  /** Normalized path: the same string is matched and forwarded. */
  readonly path: string;
  /** Raw query string including the leading '?', or ''. */
  readonly query: string;
  /** Header lines as received (name, value, name, value…): duplicates are visible here. */
  readonly rawHeaders: readonly string[];
  /** The request target exactly as sent (path and query), which HMAC signatures cover. */
  readonly rawTarget: string;
  /** The request declares a body (Content-Length other than 0, or Transfer-Encoding). */
  readonly hasBody: boolean;
  /** The Connection header (all lines), whose named headers are hop-by-hop. */
  readonly connection: string | undefined;
  /** The caller's IP as resolved from the socket (and trusted proxies). */
  readonly clientIp: string;
  /** The TCP peer's IP. */
  readonly peerIp: string;
  readonly protocol: 'http' | 'https';
  /** Monotonic start time in ms (performance.now()). */
  readonly startedAt: number;
  /** Set by the verification API when the caller names the route instead of a host and path. */
  readonly routeId?: string;
}

/** Who is calling, once authenticated. Anonymous on public routes. */
export interface Principal {
  readonly kind: 'anonymous' | 'api_key' | 'hmac' | 'jwt';
  readonly clientId?: string;
  readonly clientName?: string;
  /** The API key's id (its lineage: the same across rotations). */
  readonly keyId?: string;
  readonly userId?: string;
  readonly environment?: 'live' | 'test';
  readonly scopes: readonly string[];
  /** JWT provider that vouched for the caller. */
  readonly providerId?: string;
}

/** A credential as presented, before verification. */
export type Credential =
  | { readonly kind: 'api_key'; readonly value: string; readonly from: 'authorization' | 'x-api-key' }
  | { readonly kind: 'api_key'; readonly value: string; readonly from: 'query'; readonly param: string }
  | { readonly kind: 'jwt'; readonly value: string }
  | { readonly kind: 'hmac'; readonly value: string };

/** Reads the request body once, up to a limit (for HMAC verification). */
export type BodyReader = (limit: number) => Promise<Buffer | 'too_large'>;

/** Mutable per-request state that stages fill in, in pipeline order. */
export interface Exchange {
  readonly facts: RequestFacts;
  match: RouteMatch | undefined;
  /** Accepted auth methods for this route and method. */
  requirement: readonly AuthMethod[] | undefined;
  credential: Credential | undefined;
  principal: Principal | undefined;
  /** The verified API key (for authorization, IP allow-list and budget stages). */
  key: import('../identity/catalog.js').KeyEntry | undefined;
  /** Remaining uses after this request, when the key has a budget. */
  remaining: number | null;
  /** The body, when a stage had to read it; forwarded instead of the stream. */
  body: Buffer | undefined;
  readonly readBody: BodyReader | undefined;
  /** Headers for the client's answer (rate-limit state, degraded mode); allocated on first use. */
  responseHeaders: Array<[string, string]> | undefined;
  /** Run when the answer is complete, with its status (concurrency release, refunds). */
  onFinish: Array<(status: number) => void> | undefined;
  /** The tightest rate limit that applied, for the verification API. */
  rateLimit: RateLimitSummary | undefined;
  /** Shadow policies that would have denied (recorded, never enforced). */
  shadowDenied: string[] | undefined;
}

export interface RateLimitSummary {
  readonly policy: string;
  readonly limit: number;
  readonly remaining: number;
  readonly resetS: number;
}

export interface Deny {
  readonly kind: 'deny';
  readonly status: number;
  readonly code: ErrorCode;
  /** Client-safe explanation. */
  readonly detail: string | undefined;
  /** Extra response headers (WWW-Authenticate, Allow, Retry-After…). */
  readonly headers: ReadonlyArray<readonly [string, string]> | undefined;
  /** Who was calling, when known by the time of the refusal (for records). */
  principal?: Principal;
  /** The route matched before the refusal, if any (for records and metrics). */
  routeId?: string;
}

export interface Allow {
  readonly kind: 'allow';
  readonly match: RouteMatch;
  readonly principal: Principal;
  readonly credential: Credential | undefined;
  readonly remaining: number | null;
  /** The request body if a stage read it (it must then be forwarded from here). */
  readonly body: Buffer | undefined;
  readonly responseHeaders: ReadonlyArray<[string, string]> | undefined;
  /** Call once the answer is complete (gateway: when the response closes). */
  readonly onFinish: ReadonlyArray<(status: number) => void> | undefined;
  readonly rateLimit: RateLimitSummary | undefined;
}

export type Decision = Allow | Deny;

/**
 * One step of the decision. Returns a Deny to stop, or undefined to continue. May be
 * synchronous: the runner only pays for a Promise when a stage really awaits something.
 */
export type Stage = (exchange: Exchange) => Deny | undefined | Promise<Deny | undefined>;
