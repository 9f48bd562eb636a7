/**
 * Compile validated RouteSpecs into the runtime forms the request path reads: methods as a
 * Map, upstream URL split into origin and base path, strip-prefix ready. Done once per
 * configuration change, never per request.
 */
import { type CidrSet, compileCidrSet } from '../net/cidr.js';
import type { AuthMethod, RouteSpec } from './spec.js';

export interface CompiledUpstream {
  /** `http://host:port` — the key of the connection pool. */
  readonly origin: string;
  /** Path of the upstream URL without a trailing slash ('' for none), prepended when forwarding. */
  readonly basePath: string;
  /** Host header sent upstream unless the route preserves the client's. */
  readonly hostHeader: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly preserveHost: boolean;
}

export interface CompiledRoute {
  readonly id: string;
  readonly spec: RouteSpec;
  /** Auth requirement by upper-case method; '*' covers methods not named. */
  readonly methods: ReadonlyMap<string, readonly AuthMethod[]>;
  /** Value of the Allow header for 405 answers. */
  readonly allow: string;
  readonly upstream: CompiledUpstream;
  /** Static prefix removed before forwarding ('' when none). */
  readonly stripPrefix: string;
  /** The route's IP lists, compiled once (undefined when empty). */
  readonly ipAllow: CidrSet | undefined;
  readonly ipDeny: CidrSet | undefined;
}

export interface CompileDefaults {
  upstreamTimeoutMs: number;
}

export function compileRoute(spec: RouteSpec, defaults: CompileDefaults): CompiledRoute {
  const methods = new Map<string, readonly AuthMethod[]>();
  for (const [method, auth] of Object.entries(spec.methods)) methods.set(method, Object.freeze([...auth]));
  // HEAD is GET without a body (RFC 9110 §9.3.2): a route that serves GET serves HEAD alike.
  if (!methods.has('HEAD') && methods.has('GET'))
    methods.set('HEAD', methods.get('GET') as readonly AuthMethod[]);
  const url = new URL(spec.upstream.url);
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  const strip = spec.upstream.strip_prefix;
  return Object.freeze({
    id: spec.id,
    spec,
    methods,
    allow: methods.has('*') ? '' : [...methods.keys()].join(', '),
    upstream: Object.freeze({
      origin: url.origin,
      basePath,
      hostHeader: url.host,
      timeoutMs: spec.upstream.timeout_ms ?? defaults.upstreamTimeoutMs,
      retries: spec.upstream.retries ?? 0,
      preserveHost: spec.upstream.preserve_host ?? false,
    }),
    stripPrefix: strip === undefined || strip === '/' ? '' : strip,
    ipAllow: compileCidrSet(spec.ip?.allow ?? []),
    ipDeny: compileCidrSet(spec.ip?.deny ?? []),
  });
}

/** The auth requirement for a method, or undefined when the route does not serve it (405). */
export function authFor(route: CompiledRoute, method: string): readonly AuthMethod[] | undefined {
  return route.methods.get(method) ?? route.methods.get('*');
}

/**
 * The path sent upstream: the normalized request path, minus the strip prefix (only at a
 * segment boundary, so "/v1" never strips "/v1x"), behind the upstream's base path.
 */
export function upstreamPath(route: CompiledRoute, path: string): string {
  let rest = path;
  const strip = route.stripPrefix;
  if (strip !== '' && path.startsWith(strip)) {
    const next = path.charCodeAt(strip.length);
    // The whole path stripped: the upstream's base path itself ("/v1" → "/api", not "/api/").
    if (Number.isNaN(next)) rest = '';
    else if (next === 47 /* '/' */) rest = path.slice(strip.length);
  }
  const base = route.upstream.basePath;
  if (rest === '') return base === '' ? '/' : base;
  return base === '' ? rest : base + rest;
}
