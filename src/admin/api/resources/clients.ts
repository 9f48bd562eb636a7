/** Clients (API consumers) and their HMAC signing secrets. */
import { Type } from '@sinclair/typebox';
import { checkMetadata, checkName, createClient, issueHmacSecret } from '../../../identity/operations.js';
import { NotFoundError } from '../../../store/errors.js';
import type { ClientRecord } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { duration } from '../input.js';
import { decodeCursor, encodeCursor, pageOfRows } from '../pagination.js';
import {
  IdParams,
  iso,
  isoOrNull,
  NullableTimestamp,
  Page,
  PageQuery,
  problems,
  Timestamp,
} from '../schemas.js';

const Status = Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('revoked')]);
const Metadata = Type.Record(Type.String(), Type.String());

export const Client = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    status: Status,
    statusReason: Type.Union([Type.String(), Type.Null()]),
    metadata: Metadata,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Client' },
);

const ClientDetail = Type.Composite([
  Type.Omit(Client, []),
  Type.Object({
    keys: Type.Array(
      Type.Object({
        id: Type.String(),
        name: Type.Union([Type.String(), Type.Null()]),
        environment: Type.String(),
        status: Type.String(),
      }),
    ),
    grants: Type.Array(Type.Object({ route: Type.String(), methods: Type.Array(Type.String()) })),
    hmacSecrets: Type.Array(
      Type.Object({ id: Type.String(), createdAt: Timestamp, expiresAt: NullableTimestamp }),
    ),
  }),
]);

export function clientView(client: ClientRecord) {
  return {
    id: client.id,
    name: client.name,
    status: client.status,
    statusReason: client.statusReason,
    metadata: client.metadata,
    createdAt: iso(client.createdAt),
    updatedAt: iso(client.updatedAt),
  };
}

const Reason = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);

export const clientRoutes: ResourceRoutes = (app) => {
  const tags = ['clients'];
  app.addSchema(Client);

  app.get(
    '/clients',
    {
      schema: {
        tags,
        summary: 'List clients',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(Type.Ref('Client')), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { cursor, limit = 100 } = request.query;
      const rows = await request.scope.store.clients.page({
        ...(cursor === undefined ? {} : { after: decodeCursor(cursor) }),
        limit: limit + 1,
      });
      const page = pageOfRows(rows, limit, (last) => encodeCursor(last.id));
      return { items: page.items.map(clientView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/clients',
    {
      schema: {
        tags,
        summary: 'Add a client',
        body: Type.Object(
          {
            name: Type.String({ description: 'display name (sent upstream as X-Portcullis-Client-Name)' }),
            id: Type.Optional(Type.String({ description: 'default: derived from the name' })),
            metadata: Type.Optional(Metadata),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('Client'), ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const client = await createClient(request.scope.identity, request.body);
      reply.code(201);
      return clientView(client);
    },
  );

  app.get(
    '/clients/:id',
    {
      schema: {
        tags,
        summary: 'Show a client with its keys, grants and HMAC secrets (never a secret)',
        params: IdParams,
        response: { 200: ClientDetail, ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      const client = await store.clients.get(id);
      if (!client) throw new NotFoundError('client', id);
      const [keys, grants, secrets] = await Promise.all([
        store.apiKeys.list({ clientId: id }),
        store.grants.list({ clientId: id }),
        store.hmacSecrets.list({ clientId: id }),
      ]);
      return {
        ...clientView(client),
        keys: keys.map((k) => ({ id: k.id, name: k.name, environment: k.environment, status: k.status })),
        grants: grants.map((g) => ({ route: g.routeId, methods: g.methods })),
        hmacSecrets: secrets.map((s) => ({
          id: s.id,
          createdAt: iso(s.createdAt),
          expiresAt: isoOrNull(s.expiresAt),
        })),
      };
    },
  );

  app.patch(
    '/clients/:id',
    {
      schema: {
        tags,
        summary: 'Change a client (name, metadata)',
        params: IdParams,
        body: Type.Object(
          { name: Type.Optional(Type.String()), metadata: Type.Optional(Metadata) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Client'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { name, metadata } = request.body;
      const client = await request.scope.store.clients.update(request.params.id, {
        ...(name !== undefined ? { name: checkName(name) } : {}),
        ...(metadata !== undefined ? { metadata: checkMetadata(metadata) } : {}),
      });
      return clientView(client);
    },
  );

  for (const [verb, status] of [
    ['suspend', 'suspended'],
    ['revoke', 'revoked'],
    ['activate', 'active'],
  ] as const) {
    app.post(
      `/clients/:id/${verb}`,
      {
        schema: {
          tags,
          summary:
            status === 'active'
              ? 'Activate a client (lift a suspension)'
              : `${verb[0]?.toUpperCase()}${verb.slice(1)} a client: its requests are refused with 403`,
          params: IdParams,
          body: Type.Optional(Reason),
          response: { 200: Type.Ref('Client'), ...problems(400, 401, 403, 404, 422) },
        },
      },
      async (request) => {
        const reason = request.body?.reason;
        const client = await request.scope.store.clients.update(request.params.id, {
          status,
          statusReason: status === 'active' || reason === undefined ? null : checkName(reason, 'reason'),
        });
        return clientView(client);
      },
    );
  }

  app.delete(
    '/clients/:id',
    {
      schema: {
        tags,
        summary: 'Remove a client with its keys, grants and HMAC secrets',
        params: IdParams,
        response: {
          200: Type.Object({ id: Type.String(), removed: Type.Boolean() }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => {
      const id = request.params.id;
      if (!(await request.scope.store.clients.remove(id))) throw new NotFoundError('client', id);
      return { id, removed: true };
    },
  );

  app.post(
    '/clients/:id/hmac-secrets',
    {
      schema: {
        tags,
        summary: 'Issue a new HMAC signing secret (shown once); older secrets stay valid for the overlap',
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            { overlap: Type.Optional(Type.String({ description: 'duration, default 24h' })) },
            { additionalProperties: false },
          ),
        ),
        response: {
          201: Type.Object({
            client: Type.String(),
            id: Type.String(),
            secret: Type.String({ description: 'shown once, never again' }),
            previousSecretsExpireAt: Timestamp,
          }),
          ...problems(400, 401, 403, 404, 422),
        },
      },
    },
    async (request, reply) => {
      const overlap = duration('overlap', request.body?.overlap ?? '24h');
      const issued = await issueHmacSecret(request.scope.identity, request.params.id, overlap);
      reply.code(201);
      return {
        client: request.params.id,
        id: issued.id,
        secret: issued.secret,
        previousSecretsExpireAt: iso(issued.previousExpireAt),
      };
    },
  );
};
