/**
 * Service tokens (`pclsvc_…`) for machines: role `admin` or `viewer` for this API, `verifier`
 * for the verification API only. The plaintext is in the create answer only; the store keeps a
 * keyed hash. Revoking keeps the record (listed with `revokedAt`) and takes effect on the next
 * call: every call looks the token up.
 */
import { Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import { createServiceToken } from '../../../identity/operations.js';
import { ConflictError, NotFoundError } from '../../../store/errors.js';
import type { ServiceTokenRecord } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { expiry } from '../input.js';
import { pageOf } from '../pagination.js';
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

const Role = Type.Unsafe<'admin' | 'viewer' | 'verifier'>({
  type: 'string',
  enum: ['admin', 'viewer', 'verifier'],
  description: 'admin, viewer (this API: changes / reads) or verifier (the verification API only)',
});

const tokenFields = {
  id: Type.String(),
  name: Type.String(),
  role: Role,
  prefix: Type.String({ description: 'display prefix, never the token' }),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  lastUsedAt: NullableTimestamp,
};

export const ServiceToken = Type.Object(tokenFields, { $id: 'ServiceToken' });

const ServiceTokenCreated = Type.Object({
  ...tokenFields,
  token: Type.String({ description: 'the plaintext token: shown in this answer once, never again' }),
});

export function tokenView(token: ServiceTokenRecord) {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    prefix: token.displayPrefix,
    createdAt: iso(token.createdAt),
    expiresAt: isoOrNull(token.expiresAt),
    revokedAt: isoOrNull(token.revokedAt),
    lastUsedAt: isoOrNull(token.lastUsedAt),
  };
}

/** Creation-ordered paging: oldest first, ties broken by id. */
const byCreation = (t: { createdAt: number; id: string }) =>
  `${String(t.createdAt).padStart(15, '0')} ${t.id}`;

export const tokenRoutes: ResourceRoutes = (app) => {
  const tags = ['tokens'];
  app.addSchema(ServiceToken);

  app.get(
    '/tokens',
    {
      schema: {
        tags,
        summary: 'List service tokens (display prefixes only, never a token)',
        querystring: Type.Object({
          ...PageQuery,
          role: Type.Optional(Role),
          revoked: Type.Optional(
            Type.Boolean({ description: 'only revoked (true) or unrevoked (false) tokens' }),
          ),
        }),
        response: { 200: Page(Type.Ref('ServiceToken')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { role, revoked } = request.query;
      const tokens = (await request.scope.store.serviceTokens.list()).filter(
        (t) =>
          (role === undefined || t.role === role) &&
          (revoked === undefined || (t.revokedAt !== null) === revoked),
      );
      const page = pageOf(tokens, byCreation, request.query);
      return { items: page.items.map(tokenView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/tokens',
    {
      schema: {
        tags,
        summary: 'Create a service token: the plaintext `token` is in this answer only',
        body: Type.Object(
          {
            role: Role,
            name: Type.Optional(
              Type.String({ maxLength: 1000, description: 'what it is for', default: 'service token' }),
            ),
            expires: Type.Optional(
              Type.String({
                maxLength: 100,
                description: 'a duration from now (90d), an ISO date, or "never" (default)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: ServiceTokenCreated, ...problems(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const { identity } = request.scope;
      const { role, name, expires } = request.body;
      const now = identity.clock.now();
      const expiresAt = expires === undefined ? null : expiry('expires', expires, now);
      if (expiresAt !== null && expiresAt <= now)
        throw new SpecError([{ path: 'expires', message: 'must be in the future' }]);
      const { record, token } = await createServiceToken(identity, {
        name: name ?? 'service token',
        role,
        expiresAt,
      });
      reply.code(201);
      return { ...tokenView(record), token };
    },
  );

  app.get(
    '/tokens/:id',
    {
      schema: {
        tags,
        summary: 'Show a service token (never the token)',
        params: IdParams,
        response: { 200: Type.Ref('ServiceToken'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const id = request.params.id;
      const token = (await request.scope.store.serviceTokens.list()).find((t) => t.id === id);
      if (!token) throw new NotFoundError('service token', id);
      return tokenView(token);
    },
  );

  app.post(
    '/tokens/:id/revoke',
    {
      schema: {
        tags,
        summary: 'Revoke a service token: refused from its next call on; the record is kept',
        params: IdParams,
        body: Type.Optional(Type.Object({}, { additionalProperties: false })),
        response: { 200: Type.Ref('ServiceToken'), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      const find = async () => (await store.serviceTokens.list()).find((t) => t.id === id);
      const current = await find();
      if (!current) throw new NotFoundError('service token', id);
      if (current.revokedAt !== null)
        throw new ConflictError('service token', id, `service token "${id}" is already revoked`);
      // False only when a concurrent call revoked it first.
      if (!(await store.serviceTokens.revoke(id)))
        throw new ConflictError('service token', id, `service token "${id}" is already revoked`);
      const revoked = await find();
      if (!revoked) throw new NotFoundError('service token', id);
      return tokenView(revoked);
    },
  );
};
