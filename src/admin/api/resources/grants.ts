/**
 * Grants: which client may call which route with which methods (docs/identity.md). A grant is
 * named by its client and route: GET/DELETE /grants/:client/:route. Adding one that exists
 * replaces its methods (200 instead of 201).
 *
 * The client and the route a new grant names must exist: either missing is a 422 at `client`
 * or `route` (a value in the body that is not acceptable, like a policy attached to an unknown
 * route), never a 404, which is kept for the grant named in the path. Grants already stored
 * for a route that was removed since (declarative `apply --prune` replaces routes wholesale)
 * stay listed and removable; they grant nothing until the route exists again.
 */
import { Type } from '@sinclair/typebox';
import { SpecError, type SpecIssue } from '../../../core/spec-error.js';
import { checkId } from '../../../identity/operations.js';
import type { GrantPosition, GrantRecord } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { AdminProblem } from '../errors.js';
import { decodeCursor, encodeCursor, pageOfRows } from '../pagination.js';
import { iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';

export const Grant = Type.Object(
  {
    client: Type.String(),
    route: Type.String(),
    methods: Type.Array(Type.String(), { description: 'upper-case methods, or ["*"]: all the route serves' }),
    createdAt: Timestamp,
  },
  { $id: 'Grant' },
);

export function grantView(grant: GrantRecord) {
  return {
    client: grant.clientId,
    route: grant.routeId,
    methods: grant.methods,
    createdAt: iso(grant.createdAt),
  };
}

const GrantParams = Type.Object({
  client: Type.String({ minLength: 1, maxLength: 200 }),
  route: Type.String({ minLength: 1, maxLength: 200 }),
});

const METHOD = /^[A-Z]{1,16}$/;

/** Upper-cased, without repeats; `*` (all the route serves) or method names. */
export function checkMethods(methods: readonly string[]): string[] {
  const out = [...new Set(methods.map((m) => m.trim().toUpperCase()))];
  if (out.length === 0 || !out.every((m) => m === '*' || METHOD.test(m)))
    throw new SpecError([{ path: 'methods', message: 'expects a list of methods (GET, POST, …) or ["*"]' }]);
  return out;
}

const missing = (client: string, route: string) =>
  new AdminProblem('not_found', `no grant for client ${client} on route ${route}`);

/** Sorts by client, then route (a space is below every id character). */
/**
 * A grant cursor is its client id, a space and its route id (ids never hold a space): the text
 * the list was sorted by when it was paged in memory, so cursors issued then still work.
 */
function decodeGrantCursor(cursor: string): GrantPosition {
  const key = decodeCursor(cursor);
  const space = key.indexOf(' ');
  if (space < 0) throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  return { clientId: key.slice(0, space), routeId: key.slice(space + 1) };
}

export const grantRoutes: ResourceRoutes = (app) => {
  const tags = ['grants'];
  app.addSchema(Grant);
  const path = '/grants/:client/:route';

  app.get(
    '/grants',
    {
      schema: {
        tags,
        summary: 'List grants, by client then route',
        querystring: Type.Object({
          ...PageQuery,
          client: Type.Optional(Type.String({ description: 'only this client’s grants' })),
          route: Type.Optional(Type.String({ description: 'only grants on this route' })),
        }),
        response: { 200: Page(Type.Ref('Grant')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { client, route, cursor, limit = 100 } = request.query;
      const rows = await request.scope.store.grants.page({
        ...(client ? { clientId: client } : {}),
        ...(route ? { routeId: route } : {}),
        ...(cursor === undefined ? {} : { after: decodeGrantCursor(cursor) }),
        limit: limit + 1,
      });
      const page = pageOfRows(rows, limit, (last) => encodeCursor(`${last.clientId} ${last.routeId}`));
      return { items: page.items.map(grantView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/grants',
    {
      schema: {
        tags,
        summary: 'Grant a client methods on a route (replaces the methods of an existing grant)',
        body: Type.Object(
          {
            client: Type.String({ description: 'client id (must exist)' }),
            route: Type.String({ description: 'route id (must exist)' }),
            methods: Type.Optional(
              Type.Array(Type.String(), {
                description: 'methods, or ["*"] (the default) for all the route serves',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: { ...Type.Ref('Grant'), description: 'an existing grant was replaced' },
          201: { ...Type.Ref('Grant'), description: 'the grant was added' },
          ...problems(400, 401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const { store } = request.scope;
      const body = request.body;
      const issues: SpecIssue[] = [];
      const attempt = (fn: () => void) => {
        try {
          fn();
        } catch (error) {
          if (error instanceof SpecError) issues.push(...error.issues);
          else throw error;
        }
      };
      let methods: string[] = [];
      attempt(() => checkId(body.client, 'client'));
      attempt(() => checkId(body.route, 'route'));
      attempt(() => {
        methods = checkMethods(body.methods ?? ['*']);
      });
      if (issues.length > 0) throw new SpecError(issues);
      const [client, route, existing] = await Promise.all([
        store.clients.get(body.client),
        store.routes.get(body.route),
        store.grants.list({ clientId: body.client, routeId: body.route }),
      ]);
      if (!client) issues.push({ path: 'client', message: `client "${body.client}" does not exist` });
      if (!route) issues.push({ path: 'route', message: `route "${body.route}" does not exist` });
      if (issues.length > 0) throw new SpecError(issues);
      const grant = await store.grants.upsert({ clientId: body.client, routeId: body.route, methods });
      reply.code(existing.length > 0 ? 200 : 201);
      return grantView(grant);
    },
  );

  app.get(
    path,
    {
      schema: {
        tags,
        summary: 'Show the grant of a client on a route',
        params: GrantParams,
        response: { 200: Type.Ref('Grant'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const { client, route } = request.params;
      const [grant] = await request.scope.store.grants.list({ clientId: client, routeId: route });
      if (!grant) throw missing(client, route);
      return grantView(grant);
    },
  );

  app.delete(
    path,
    {
      schema: {
        tags,
        summary: 'Remove the grant of a client on a route',
        params: GrantParams,
        response: {
          200: Type.Object({ client: Type.String(), route: Type.String(), removed: Type.Boolean() }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => {
      const { client, route } = request.params;
      if (!(await request.scope.store.grants.remove(client, route))) throw missing(client, route);
      return { client, route, removed: true };
    },
  );
};
