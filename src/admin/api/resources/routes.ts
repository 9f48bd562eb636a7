/**
 * Routes (docs/routing.md). Bodies use the route spec's own field names (snake_case, as in
 * the declarative file and `export`), and one validator judges them (routing/spec.ts
 * `parseRouteSpec`): the body schema only checks JSON types and refuses unknown fields (400);
 * a value of the right type that is not acceptable (a path without "/", an ftp:// upstream, an
 * unknown auth method) is a 422 naming every bad field at once as `route.<field>`, with the
 * same messages `apply` gives for `routes[i].<field>`. A change that would make the route
 * table ambiguous (two routes with the same host and path shape) is a 422 naming both, and a
 * route a policy is attached to (`attach: route:<id>`) is not removed (409), as `apply
 * --prune` refuses to.
 */
import { type TOptional, type TSchema, Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import { attachedRoutes } from '../../../limits/policy.js';
import { AUTH_METHODS, parseRouteSpec, type RouteSpec, RouteSpecSchema } from '../../../routing/spec.js';
import { RouteTable } from '../../../routing/table.js';
import { ConflictError, NotFoundError } from '../../../store/errors.js';
import type { Repositories, RouteRecord } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { pageOf } from '../pagination.js';
import { IdParams, iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';

const AuthMethod = Type.Union(
  AUTH_METHODS.map((m) => Type.Literal(m)),
  { description: 'public, api_key, hmac or jwt' },
);

/**
 * A route in canonical form, as stored and exported: method names upper case, each with a
 * list of auth methods (any of them admits), host defaulted to "*". The property order is the
 * spec's, so answers read like the declarative file.
 */
export const RouteSpecOut = Type.Object(
  {
    ...RouteSpecSchema.properties,
    host: Type.String({ description: '"api.example.com", "*.example.com" or "*"' }),
    methods: Type.Record(Type.String(), Type.Array(AuthMethod), {
      description: 'method (or "*" for every method not named) → auth methods, any of which admits',
    }),
  },
  { additionalProperties: false },
);

export const Route = Type.Object(
  { ...RouteSpecOut.properties, created_at: Timestamp, updated_at: Timestamp },
  { $id: 'Route', additionalProperties: false, description: 'A route as stored (canonical form)' },
);

export function routeView(record: RouteRecord) {
  return { ...record.spec, created_at: iso(record.createdAt), updated_at: iso(record.updatedAt) };
}

// ---- bodies: JSON types only; the values are parseRouteSpec's to judge (422) ----

const optional = <T extends Record<string, TSchema>>(shape: T) =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, Type.Optional(v)])) as {
    [K in keyof T]: TOptional<T[K]>;
  };
const nullable = <T extends Record<string, TSchema>>(shape: T, keep: readonly string[] = []) =>
  Object.fromEntries(
    Object.entries(shape).map(([k, v]) => [
      k,
      Type.Optional(keep.includes(k) ? v : Type.Union([v, Type.Null()])),
    ]),
  ) as { [K in keyof T]: TOptional<TSchema> };

const Strings = (description: string) => Type.Array(Type.String(), { description });
const AuthValue = Type.Union([Type.String(), Type.Array(Type.String())], {
  description: 'public, api_key, hmac, jwt, or a list of them meaning any',
});
const upstreamFields = {
  url: Type.String({ description: 'http(s) URL of the upstream; its path is prepended to forwarded paths' }),
  strip_prefix: Type.String({ description: 'path prefix removed before forwarding ("/v1")' }),
  timeout_ms: Type.Integer({ description: 'time to the upstream response headers, 1-600000' }),
  retries: Type.Integer({
    description: 'retries of body-less idempotent requests on connection failure, 0-5',
  }),
  preserve_host: Type.Boolean({ description: "forward the client's Host instead of the upstream's" }),
};
const ipFields = {
  allow: Strings('addresses or CIDRs admitted (all others refused)'),
  deny: Strings('addresses or CIDRs refused'),
};
const fields = {
  description: Type.String({ description: 'free text, at most 500 characters' }),
  host: Type.String({ description: '"api.example.com", "*.example.com" or "*" (default)' }),
  path: Type.String({
    description: 'exact "/v1/orders", parameter "/v1/orders/:id" or prefix "/v1/orders/*" (required)',
  }),
  methods: Type.Record(Type.String(), AuthValue, {
    description: 'method (GET, POST, …, or "*" for every method not named) → auth (required)',
  }),
  upstream: Type.Object(optional(upstreamFields), {
    additionalProperties: false,
    description: 'where allowed requests go (url required)',
  }),
  environment: Type.String({ description: 'live or test: keys of the other environment are refused' }),
  scopes: Strings('scopes a credential must carry'),
  policies: Strings('rate-limit policies (docs/limits.md)'),
  ip: Type.Object(optional(ipFields), { additionalProperties: false }),
  jwt_providers: Strings('JWT providers this route accepts (default: all)'),
  open_to_all_clients: Type.Boolean({ description: 'skip per-client grants' }),
  keep_credential: Type.Boolean({ description: 'forward the credential upstream' }),
};

const idField = (description: string) => Type.String({ description });

const CreateBody = Type.Object(
  { id: idField('route id: a-z, 0-9, "_", "." or "-", at most 64'), ...optional(fields) },
  { additionalProperties: false, description: 'A route spec, as in the declarative file (docs/routing.md)' },
);
const ReplaceBody = Type.Object(
  { id: Type.Optional(idField('must equal the id in the path')), ...optional(fields) },
  { additionalProperties: false, description: 'The whole new route spec; fields left out are unset' },
);
const PatchBody = Type.Object(
  {
    id: Type.Optional(idField('must equal the id in the path')),
    ...nullable(
      {
        ...fields,
        methods: Type.Record(Type.String(), Type.Union([AuthValue, Type.Null()])),
        upstream: Type.Object(nullable(upstreamFields, ['url']), { additionalProperties: false }),
        ip: Type.Object(nullable(ipFields), { additionalProperties: false }),
      },
      ['path', 'methods', 'upstream'],
    ),
  },
  {
    additionalProperties: false,
    description:
      'A JSON merge patch (RFC 7396) of the route: fields given replace, objects (upstream, methods, ip) ' +
      'merge field by field, null removes (a method, or an optional field). Lists are replaced whole.',
  },
);

// ---- operations ----

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 7396 merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** Method names are stored upper case; a patch naming `get` changes `GET`. */
function upperMethods(body: Record<string, unknown>): Record<string, unknown> {
  const methods = body['methods'];
  if (!isObject(methods)) return body;
  return {
    ...body,
    methods: Object.fromEntries(Object.entries(methods).map(([m, a]) => [m.toUpperCase(), a])),
  };
}

function checkSameId(given: unknown, id: string): void {
  if (given !== undefined && given !== id)
    throw new SpecError([
      { path: 'route.id', message: `must be "${id}" (the id in the path); add a new route to change it` },
    ]);
}

/**
 * Refuse a change that would make the table ambiguous, naming both routes. Run inside the
 * write transaction, so the check and the change see the same table.
 */
async function checkTable(repos: Repositories, spec: RouteSpec, upstreamTimeoutMs: number): Promise<void> {
  const others = (await repos.routes.list()).map((r) => r.spec).filter((s) => s.id !== spec.id);
  RouteTable.compile([...others, spec], { upstreamTimeoutMs });
}

export const routeRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['routes'];
  app.addSchema(Route);
  const path = '/routes/:id';
  const upstreamTimeoutMs = deps.settings.upstreamTimeoutMs;

  app.get(
    '/routes',
    {
      schema: {
        tags,
        summary: 'List routes',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(Type.Ref('Route')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const page = pageOf(await request.scope.store.routes.list(), (r) => r.spec.id, request.query);
      return { items: page.items.map(routeView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/routes',
    {
      schema: {
        tags,
        summary: 'Add a route (refused if it would make the route table ambiguous)',
        body: CreateBody,
        response: { 201: Type.Ref('Route'), ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const spec = parseRouteSpec(request.body, 'route');
      const record = await request.scope.store.write(async (repos) => {
        await checkTable(repos, spec, upstreamTimeoutMs);
        return repos.routes.insert(spec);
      });
      reply.code(201);
      return routeView(record);
    },
  );

  app.get(
    path,
    {
      schema: {
        tags,
        summary: 'Show a route',
        params: IdParams,
        response: { 200: Type.Ref('Route'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const record = await request.scope.store.routes.get(request.params.id);
      if (!record) throw new NotFoundError('route', request.params.id);
      return routeView(record);
    },
  );

  app.put(
    path,
    {
      schema: {
        tags,
        summary: 'Replace a route with a whole new spec',
        params: IdParams,
        body: ReplaceBody,
        response: { 200: Type.Ref('Route'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const id = request.params.id;
      const { store } = request.scope;
      if (!(await store.routes.get(id))) throw new NotFoundError('route', id);
      checkSameId(request.body.id, id);
      const spec = parseRouteSpec({ ...request.body, id }, 'route');
      const record = await store.write(async (repos) => {
        await checkTable(repos, spec, upstreamTimeoutMs);
        return repos.routes.replace(spec);
      });
      return routeView(record);
    },
  );

  app.patch(
    path,
    {
      schema: {
        tags,
        summary: 'Change fields of a route (JSON merge patch); what is not named is kept',
        params: IdParams,
        body: PatchBody,
        response: { 200: Type.Ref('Route'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const id = request.params.id;
      const { store } = request.scope;
      const record = await store.write(async (repos) => {
        const existing = await repos.routes.get(id);
        if (!existing) throw new NotFoundError('route', id);
        checkSameId(request.body.id, id);
        const spec = parseRouteSpec(mergePatch(existing.spec, upperMethods(request.body)), 'route');
        await checkTable(repos, spec, upstreamTimeoutMs);
        return repos.routes.replace(spec);
      });
      return routeView(record);
    },
  );

  app.delete(
    path,
    {
      schema: {
        tags,
        summary:
          'Remove a route (refused while a policy is attached to it; grants naming it stay, and grant nothing until it exists again)',
        params: IdParams,
        response: {
          200: Type.Object({ id: Type.String(), removed: Type.Boolean() }),
          ...problems(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const id = request.params.id;
      await request.scope.store.write(async (repos) => {
        if (!(await repos.routes.get(id))) throw new NotFoundError('route', id);
        // Like `apply --prune`: a policy attached to the route would be left limiting nothing.
        const attached = (await repos.policies.list())
          .filter((p) => attachedRoutes(p.spec).includes(id))
          .map((p) => `"${p.id}"`);
        if (attached.length > 0)
          throw new ConflictError(
            'route',
            id,
            `route "${id}" has policies attached (${attached.join(', ')}); detach them first`,
          );
        await repos.routes.remove(id);
      });
      return { id, removed: true };
    },
  );
};
