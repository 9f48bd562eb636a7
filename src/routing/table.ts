/**
 * The route table: compiled once per configuration change into lookup structures, so a
 * request costs a few Map lookups and, for parameter routes, a short trie walk.
 *
 * Priority (PRODUCT.md §6): exact host > wildcard host (longer suffix first) > any host;
 * within the chosen host: exact path > parameter path (static segments preferred at each
 * level) > longer prefix > shorter prefix. A host tier with no matching path falls through
 * to the next tier. Two routes with the same host and the same path shape are a tie, which
 * is a configuration error naming both.
 */
import { SpecError, type SpecIssue } from '../core/spec-error.js';
import { type CompileDefaults, type CompiledRoute, compileRoute } from './compile.js';
import type { RouteSpec } from './spec.js';

export interface RouteMatch {
  readonly route: CompiledRoute;
  /** Values of `:param` segments, when the route has any. */
  readonly params: Readonly<Record<string, string>> | undefined;
}

interface ParamNode {
  statics: Map<string, ParamNode>;
  param: ParamNode | undefined;
  paramName: string | undefined;
  route: CompiledRoute | undefined;
}

function newNode(): ParamNode {
  return { statics: new Map(), param: undefined, paramName: undefined, route: undefined };
}

/** The routes of one host key, by path kind. */
class PathTable {
  readonly exact = new Map<string, CompiledRoute>();
  readonly paramRoot = newNode();
  hasParams = false;
  /** Sorted longest first; '' is the catch-all "/*". */
  prefixes: Array<{ prefix: string; route: CompiledRoute }> = [];

  add(route: CompiledRoute, path: string): void {
    if (path.endsWith('/*') || path === '/*') {
      const prefix = path.slice(0, -2);
      this.prefixes.push({ prefix, route });
      this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    } else if (path.includes('/:')) {
      this.hasParams = true;
      let node = this.paramRoot;
      const segments = path.slice(1).split('/');
      for (const segment of segments) {
        if (segment.startsWith(':')) {
          node.param ??= newNode();
          // Names are per route; a sibling route may call the same position differently.
          node = node.param;
        } else {
          let next = node.statics.get(segment);
          if (!next) {
            next = newNode();
            node.statics.set(segment, next);
          }
          node = next;
        }
      }
      node.route = route;
    } else {
      this.exact.set(path, route);
    }
  }

  match(path: string): RouteMatch | undefined {
    const exact = this.exact.get(path);
    if (exact) return { route: exact, params: undefined };
    // "/admin/" is the same resource as "/admin" to most frameworks: it must not fall through
    // to a broader (less protected) route. The path is still forwarded as sent.
    const trimmed =
      path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : undefined;
    if (trimmed !== undefined) {
      const exactTrimmed = this.exact.get(trimmed);
      if (exactTrimmed) return { route: exactTrimmed, params: undefined };
    }
    if (this.hasParams) {
      const segments = (trimmed ?? path).slice(1).split('/');
      const found = walk(this.paramRoot, segments, 0);
      if (found) return { route: found, params: extractParams(found.spec.path, segments) };
    }
    for (const { prefix, route } of this.prefixes) {
      if (prefix === '') return { route, params: undefined };
      if (path.startsWith(prefix)) {
        const next = path.charCodeAt(prefix.length);
        // Segment boundary: "/v1/orders/*" covers "/v1/orders" and "/v1/orders/…", not "/v1/ordersX".
        if (Number.isNaN(next) || next === 47) return { route, params: undefined };
      }
    }
    return undefined;
  }
}

function walk(node: ParamNode, segments: string[], index: number): CompiledRoute | undefined {
  if (index === segments.length) return node.route;
  const segment = segments[index] as string;
  const next = node.statics.get(segment);
  if (next) {
    const found = walk(next, segments, index + 1);
    if (found) return found;
  }
  // A parameter never matches an empty segment ("/orders/" is not "/orders/:id").
  if (node.param && segment !== '') return walk(node.param, segments, index + 1);
  return undefined;
}

function extractParams(pattern: string, segments: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  const parts = pattern.slice(1).split('/');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part.startsWith(':')) params[part.slice(1)] = segments[i] as string;
  }
  return params;
}

const UPPER = /[A-Z]/;
const UPPER_ALL = /[A-Z]/g;

/** A path's shape for tie detection: parameter names do not distinguish routes. */
function pathShape(path: string): string {
  return path.replace(/\/:[^/]+/g, '/:');
}

function hostKey(host: string): { kind: 'any' | 'wildcard' | 'exact'; key: string } {
  if (host === '*') return { kind: 'any', key: '*' };
  if (host.startsWith('*.')) return { kind: 'wildcard', key: host.slice(1) };
  return { kind: 'exact', key: host };
}

export class RouteTable {
  readonly routes: readonly CompiledRoute[];
  readonly #exact = new Map<string, PathTable>();
  /** Suffixes like ".example.com", longest first. */
  readonly #wildcards: Array<{ suffix: string; table: PathTable }> = [];
  readonly #any: PathTable | undefined;
  readonly #byId: Map<string, CompiledRoute>;
  /** Every route path is lower case, so letter case cannot be meaningful to this table. */
  readonly #lowerCaseRoutes: boolean;

  private constructor(routes: CompiledRoute[]) {
    this.routes = Object.freeze(routes);
    this.#lowerCaseRoutes = routes.every((r) => r.spec.path === r.spec.path.toLowerCase());
    this.#byId = new Map(routes.map((r) => [r.id, r]));
    let any: PathTable | undefined;
    for (const route of routes) {
      const { kind, key } = hostKey(route.spec.host);
      let table: PathTable | undefined;
      if (kind === 'any') table = any ??= new PathTable();
      else if (kind === 'exact') {
        table = this.#exact.get(key);
        if (!table) {
          table = new PathTable();
          this.#exact.set(key, table);
        }
      } else {
        table = this.#wildcards.find((w) => w.suffix === key)?.table;
        if (!table) {
          table = new PathTable();
          this.#wildcards.push({ suffix: key, table });
        }
      }
      table.add(route, route.spec.path);
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#any = any;
  }

  /** Validate ties and compile. Throws SpecError naming both routes of every tie. */
  static compile(specs: readonly RouteSpec[], defaults: CompileDefaults): RouteTable {
    const issues: SpecIssue[] = [];
    const seenIds = new Set<string>();
    const shapes = new Map<string, string>();
    for (const spec of specs) {
      if (seenIds.has(spec.id)) issues.push({ path: `routes.${spec.id}`, message: 'route id used twice' });
      seenIds.add(spec.id);
      const shape = `${spec.host} ${pathShape(spec.path)}`;
      const other = shapes.get(shape);
      if (other !== undefined) {
        issues.push({
          path: `routes.${spec.id}`,
          message: `ambiguous: routes "${other}" and "${spec.id}" both match host "${spec.host}" and path "${pathShape(spec.path)}"`,
        });
      } else shapes.set(shape, spec.id);
    }
    if (issues.length > 0) throw new SpecError(issues);
    return new RouteTable(specs.map((s) => compileRoute(s, defaults)));
  }

  /** A route by id (the verification API may name the route instead of a host and path). */
  byId(id: string): CompiledRoute | undefined {
    return this.#byId.get(id);
  }

  static empty(): RouteTable {
    return new RouteTable([]);
  }

  /**
   * Find the route for a normalized host name (with its non-default port, if any) and path.
   * Returns 'case_conflict' when, with all routes written in lower case, the path matches one
   * route but its lower-cased form another: upstreams that ignore case would serve the other
   * route's resource ("/ADMIN" dodging the route that protects "/admin").
   */
  match(hostname: string, port: number | undefined, path: string): RouteMatch | 'case_conflict' | undefined {
    const found = this.#match(hostname, port, path);
    if (this.#lowerCaseRoutes && found && UPPER.test(path)) {
      const folded = this.#match(
        hostname,
        port,
        path.replace(UPPER_ALL, (c) => c.toLowerCase()),
      );
      if (folded && folded.route !== found.route) return 'case_conflict';
    }
    return found;
  }

  #match(hostname: string, port: number | undefined, path: string): RouteMatch | undefined {
    if (this.#exact.size > 0) {
      if (port !== undefined) {
        const withPort = this.#exact.get(`${hostname}:${port}`)?.match(path);
        if (withPort) return withPort;
      }
      const exact = this.#exact.get(hostname)?.match(path);
      if (exact) return exact;
    }
    for (const { suffix, table } of this.#wildcards) {
      // "*.example.com" covers any depth of sub-domain but not "example.com" itself.
      if (hostname.length > suffix.length && hostname.endsWith(suffix)) {
        const found = table.match(path);
        if (found) return found;
      }
    }
    return this.#any?.match(path);
  }
}
