/**
 * The route as users write it (declarative YAML, CLI, admin API) and as the store keeps it.
 * External shapes use snake_case, like the declarative file; compiled runtime forms
 * (routing/compile.ts) use camelCase. One validator serves every entry point so the same
 * mistake gets the same message wherever it is made.
 */

import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SpecError, type SpecIssue } from '../core/spec-error.js';
import { cidrText, parseCidr } from '../net/cidr.js';

export const AUTH_METHODS = ['public', 'api_key', 'hmac', 'jwt'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** Methods a route may name; `*` means every method the route does not list by name. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export const ROUTE_ID_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,63}$';

const AuthMethodSchema = Type.Union(AUTH_METHODS.map((m) => Type.Literal(m)));

export const UpstreamSpecSchema = Type.Object(
  {
    url: Type.String({
      description: 'http(s) URL of the upstream; its path is prepended to forwarded paths',
    }),
    strip_prefix: Type.Optional(Type.String({ description: 'path prefix removed before forwarding' })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
    preserve_host: Type.Optional(
      Type.Boolean({ description: "forward the client's Host instead of the upstream's" }),
    ),
  },
  { additionalProperties: false },
);

export const RouteSpecSchema = Type.Object(
  {
    id: Type.String({ pattern: ROUTE_ID_PATTERN }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    host: Type.Optional(Type.String({ description: '"api.example.com", "*.example.com" or "*" (default)' })),
    path: Type.String({
      description: 'exact "/v1/orders", parameter "/v1/orders/:id" or prefix "/v1/orders/*"',
    }),
    methods: Type.Record(
      Type.String(),
      Type.Union([AuthMethodSchema, Type.Array(AuthMethodSchema, { minItems: 1 })]),
    ),
    upstream: UpstreamSpecSchema,
    environment: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('test')])),
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    policies: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    ip: Type.Optional(
      Type.Object(
        { allow: Type.Optional(Type.Array(Type.String())), deny: Type.Optional(Type.Array(Type.String())) },
        { additionalProperties: false },
      ),
    ),
    jwt_providers: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'JWT providers this route accepts (default: all)',
      }),
    ),
    open_to_all_clients: Type.Optional(Type.Boolean()),
    keep_credential: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** A route as written by a user: loose method values (`"public"` or `["api_key","jwt"]`). */
export type RouteInput = Static<typeof RouteSpecSchema>;

/** A validated route in canonical form: methods upper-case with arrays, host defaulted. */
export interface RouteSpec extends Omit<RouteInput, 'methods' | 'host'> {
  host: string;
  methods: Record<string, AuthMethod[]>;
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Characters allowed in a static route path segment: RFC 3986 pchar without "%" and ";"
// (routes are written already decoded; ";" is refused on the request side by default).
const STATIC_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,=:@]+$/;

/** Validate and canonicalize one route. Throws SpecError listing every problem found. */
export function parseRouteSpec(input: unknown, at = 'route'): RouteSpec {
  const issues: SpecIssue[] = [];
  if (!Value.Check(RouteSpecSchema, input)) {
    for (const e of Value.Errors(RouteSpecSchema, input)) {
      issues.push({ path: at + e.path.replaceAll('/', '.'), message: e.message });
    }
    throw new SpecError(issues);
  }
  const route = input as RouteInput;
  const host = (route.host ?? '*').trim().toLowerCase();
  const hostIssue = checkHostPattern(host);
  if (hostIssue) issues.push({ path: `${at}.host`, message: hostIssue });
  const pathIssue = checkPathPattern(route.path);
  if (pathIssue) issues.push({ path: `${at}.path`, message: pathIssue });

  const methods: Record<string, AuthMethod[]> = {};
  const entries = Object.entries(route.methods);
  if (entries.length === 0) issues.push({ path: `${at}.methods`, message: 'must name at least one method' });
  for (const [name, value] of entries) {
    const method = name.toUpperCase();
    if (method !== '*' && !(HTTP_METHODS as readonly string[]).includes(method)) {
      issues.push({
        path: `${at}.methods.${name}`,
        message: `unknown method; use one of ${HTTP_METHODS.join(', ')} or *`,
      });
      continue;
    }
    if (methods[method]) {
      issues.push({ path: `${at}.methods.${name}`, message: 'method listed twice' });
      continue;
    }
    const list = [...new Set(Array.isArray(value) ? value : [value])];
    if (list.includes('public') && list.length > 1) {
      issues.push({
        path: `${at}.methods.${name}`,
        message: '"public" cannot be combined with other auth methods',
      });
    }
    methods[method] = list;
  }

  // IP lists are stored normalized (one spelling per network) and compiled with the route.
  let ip: RouteSpec['ip'];
  if (route.ip !== undefined) {
    const lists: { allow?: string[]; deny?: string[] } = {};
    for (const which of ['allow', 'deny'] as const) {
      const entries = route.ip[which];
      if (entries === undefined || entries.length === 0) continue;
      const normalized: string[] = [];
      for (const [i, entry] of entries.entries()) {
        const cidr = parseCidr(entry.trim());
        if (cidr) normalized.push(cidrText(cidr));
        else
          issues.push({ path: `${at}.ip.${which}.${i}`, message: `"${entry}" is not an IP address or CIDR` });
      }
      lists[which] = [...new Set(normalized)];
    }
    if (lists.allow || lists.deny) ip = lists;
  }
  const upstreamIssue = checkUpstreamUrl(route.upstream.url);
  if (upstreamIssue) issues.push({ path: `${at}.upstream.url`, message: upstreamIssue });
  const strip = route.upstream.strip_prefix;
  if (strip !== undefined) {
    if (!/^\/[^*:]*$/.test(strip) || (strip.length > 1 && strip.endsWith('/')) || strip.includes('//')) {
      issues.push({
        path: `${at}.upstream.strip_prefix`,
        message: 'must be a static path like "/v1" (leading slash, no trailing slash, no * or :param)',
      });
    }
  }
  if (issues.length > 0) throw new SpecError(issues);

  const { ip: _given, ...rest } = route;
  const spec: RouteSpec = { ...rest, host, methods, ...(ip ? { ip } : {}) };
  return spec;
}

export function checkHostPattern(host: string): string | undefined {
  if (host === '*') return undefined;
  let name = host;
  const portMatch = /:(\d{1,5})$/.exec(host);
  if (portMatch && !host.startsWith('[')) {
    const port = Number(portMatch[1]);
    if (port < 1 || port > 65535) return 'port must be between 1 and 65535';
    name = host.slice(0, -portMatch[0].length);
    if (name.startsWith('*')) return 'a wildcard host cannot name a port';
  }
  if (name.startsWith('[')) {
    return /^\[[0-9a-f:.]+\](:\d{1,5})?$/.test(host) ? undefined : 'invalid IPv6 literal';
  }
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  if (name.includes('*') && !name.startsWith('*.'))
    return 'a wildcard is only allowed as the first label ("*.example.com")';
  if (labels.length === 0 || !labels.every((l) => HOST_LABEL.test(l))) {
    return 'must be "*", "*.example.com" or a host name like "api.example.com" (optionally with :port)';
  }
  if (name.startsWith('*.') && labels.length < 2)
    return 'a wildcard needs at least two labels after it ("*.example.com")';
  return undefined;
}

export function checkPathPattern(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with "/"';
  if (path === '/' || path === '/*') return undefined;
  const segments = path.slice(1).split('/');
  const params = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '')
      return last ? 'must not end with "/" (use "/*" for a prefix)' : 'must not contain "//"';
    if (segment === '*') {
      if (!last) return '"*" is only allowed as the last segment (prefix route)';
      if (params.size > 0) return 'a prefix route ("/*") cannot also have :parameters';
      continue;
    }
    if (segment.startsWith(':')) {
      const name = segment.slice(1);
      if (!PARAM_NAME.test(name)) return `invalid parameter name "${segment}"`;
      if (params.has(name)) return `parameter "${segment}" appears twice`;
      if (last || segments[segments.length - 1] !== '*') params.add(name);
      else return 'a prefix route ("/*") cannot also have :parameters';
      continue;
    }
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments';
    if (!STATIC_SEGMENT.test(segment)) {
      return `segment "${segment}" has characters that requests can only send percent-encoded`;
    }
  }
  return undefined;
}

export function checkUpstreamUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http:// or https://';
  if (url.username || url.password)
    return 'must not carry credentials (they would appear in exports and logs)';
  if (url.search || url.hash) return 'must not have a query or fragment';
  return undefined;
}
