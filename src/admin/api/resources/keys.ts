/**
 * API keys (docs/identity.md): issue (the plaintext is in the create answer only), list and
 * show (display prefixes, never a secret or a hash), change, revoke, rotate (a new secret for
 * the same key: one lineage for limits, quota, budget and usage) and per-key usage.
 */
import { type TUnsafe, Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import {
  checkBinding,
  checkIpList,
  checkName,
  checkScopes,
  createKey,
  publicKeyView,
  revokeKey,
  rotateKey,
} from '../../../identity/operations.js';
import { ConflictError, NotFoundError } from '../../../store/errors.js';
import type { ApiKeyRecord, ApiKeyRepository, Store, UsageGranularity } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { duration, expiry, since } from '../input.js';
import { creationCursors, pageOfRows } from '../pagination.js';
import { IdParams, iso, NullableTimestamp, Page, PageQuery, problems, Timestamp } from '../schemas.js';
import { bucketsOf } from './usage.js';

/** One of fixed strings (a JSON Schema `enum`: one clear message when a value is not allowed). */
function OneOf<const T extends string>(
  values: readonly T[],
  options: Record<string, unknown> = {},
): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

const Environment = OneOf(['live', 'test']);
const Status = OneOf(['active', 'revoked']);
const Binding = OneOf(['off', 'single', 'multiple', 'all']);
const NullableInteger = Type.Union([Type.Integer(), Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const Cidrs = Type.Array(Type.String({ maxLength: 100 }), { maxItems: 1000, description: 'CIDRs' });
const Scopes = Type.Array(Type.String({ maxLength: 200 }), { maxItems: 1000 });

/** The fields of `publicKeyView`: never a secret or a hash. */
const keyFields = {
  id: Type.String(),
  client: Type.String(),
  name: NullableString,
  environment: Environment,
  scopes: Type.Array(Type.String()),
  status: Status,
  revokedReason: NullableString,
  expiresAt: NullableTimestamp,
  ipAllow: Type.Array(Type.String()),
  ipDeny: Type.Array(Type.String()),
  binding: Binding,
  maxIps: NullableInteger,
  bindPrefixV4: NullableInteger,
  bindPrefixV6: NullableInteger,
  policy: NullableString,
  usesBudget: NullableInteger,
  usesConsumed: Type.Integer(),
  createdAt: Timestamp,
  lastUsedAt: NullableTimestamp,
  secrets: Type.Array(
    Type.Object({
      prefix: Type.String({ description: 'display prefix of the secret, never the secret' }),
      createdAt: Timestamp,
      expiresAt: NullableTimestamp,
    }),
  ),
};

export const Key = Type.Object(keyFields, { $id: 'Key' });

const KeyCreated = Type.Object({
  ...keyFields,
  key: Type.String({ description: 'the plaintext key: shown in this answer once, never again' }),
});

const KeyRotated = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'the new plaintext secret: shown in this answer once, never again' }),
  prefix: Type.String({ description: 'display prefix of the new secret' }),
  oldSecretsExpireAt: Timestamp,
});

/** The view of one key with its secrets' prefixes and ends. */
async function keyView(store: Store, record: ApiKeyRecord) {
  return publicKeyView(record, await store.apiKeys.secrets(record.id));
}

async function existing(store: Store, id: string): Promise<ApiKeyRecord> {
  const record = await store.apiKeys.get(id);
  if (!record) throw new NotFoundError('key', id);
  return record;
}

async function checkPolicy(store: Store, policy: string | null | undefined): Promise<void> {
  if (policy !== undefined && policy !== null && !(await store.policies.get(policy)))
    throw new NotFoundError('policy', policy);
}

/** The field names identity operations report, as this API's body spells them. */
const FIELD_NAMES: Record<string, string> = {
  uses: 'usesBudget',
  max_ips: 'maxIps',
  bind_prefix_v4: 'bindPrefixV4',
  bind_prefix_v6: 'bindPrefixV6',
  ip_allow: 'ipAllow',
  ip_deny: 'ipDeny',
};

async function inBodyTerms<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SpecError)
      throw new SpecError(error.issues.map((i) => ({ ...i, path: FIELD_NAMES[i.path] ?? i.path })));
    throw error;
  }
}

function checkBudget(value: number | null): number | null {
  if (value !== null && (!Number.isSafeInteger(value) || value < 0))
    throw new SpecError([
      { path: 'usesBudget', message: 'must be a whole number ≥ 0, or null for unlimited' },
    ]);
  return value;
}

/** Creation-ordered paging: oldest first, ties broken by id (15 digits: the width cursors had). */
const keyCursors = creationCursors(15);

const settable = {
  name: Type.Optional(Type.String({ maxLength: 1000 })),
  scopes: Type.Optional(Scopes),
  expires: Type.Optional(
    Type.String({ maxLength: 100, description: 'a duration from now (90d), an ISO date, or "never"' }),
  ),
  ipAllow: Type.Optional(Cidrs),
  ipDeny: Type.Optional(Cidrs),
  usesBudget: Type.Optional(
    Type.Union([Type.Integer(), Type.Null()], { description: 'remaining uses; null = unlimited' }),
  ),
  binding: Type.Optional(Binding),
  maxIps: Type.Optional(Type.Integer({ description: 'IPs a "multiple" binding may hold' })),
  bindPrefixV4: Type.Optional(
    Type.Union([Type.Integer(), Type.Null()], {
      description: "bind the first IPv4 address's network of this length; null = the address",
    }),
  ),
  bindPrefixV6: Type.Optional(
    Type.Union([Type.Integer(), Type.Null()], { description: 'the same for IPv6; null = the address' }),
  ),
  policy: Type.Optional(
    Type.Union([Type.String(), Type.Null()], { description: "rate-limit policy overriding the route's" }),
  ),
};

export const keyRoutes: ResourceRoutes = (app) => {
  const tags = ['keys'];
  app.addSchema(Key);

  app.get(
    '/keys',
    {
      schema: {
        tags,
        summary: 'List API keys (display prefixes only, never a secret)',
        querystring: Type.Object({
          ...PageQuery,
          client: Type.Optional(Type.String({ maxLength: 200, description: "only this client's keys" })),
          status: Type.Optional(Status),
          environment: Type.Optional(Environment),
        }),
        response: { 200: Page(Type.Ref('Key')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const { client, status, environment, cursor } = request.query;
      const limit = request.query.limit ?? 100;
      const after = cursor === undefined ? undefined : keyCursors.decode(cursor);
      const rows = await store.apiKeys.page({
        ...(client !== undefined ? { clientId: client } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(environment !== undefined ? { environment } : {}),
        ...(after !== undefined ? { after } : {}),
        // One more than the page: whether there is a next page without another query.
        limit: limit + 1,
      });
      const page = pageOfRows(rows, limit, keyCursors.encode);
      // The page's secrets in one query, not one per key.
      const secrets = await store.apiKeys.secretsFor(page.items.map((k) => k.id));
      return {
        items: page.items.map((k) => publicKeyView(k, secrets.get(k.id) ?? [])),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.post(
    '/keys',
    {
      schema: {
        tags,
        summary: 'Issue an API key: the plaintext `key` is in this answer only',
        body: Type.Object(
          {
            client: Type.String({ maxLength: 200, description: 'client the key belongs to' }),
            environment: Type.Optional(OneOf(['live', 'test'], { default: 'live' })),
            ...settable,
          },
          { additionalProperties: false },
        ),
        response: { 201: KeyCreated, ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const { store, identity } = request.scope;
      const body = request.body;
      await checkPolicy(store, body.policy);
      const issued = await inBodyTerms(async () =>
        createKey(identity, {
          clientId: body.client,
          environment: body.environment ?? 'live',
          ...(body.name !== undefined ? { name: body.name } : {}),
          scopes: body.scopes ?? [],
          expiresAt:
            body.expires === undefined ? null : expiry('expires', body.expires, identity.clock.now()),
          ipAllow: body.ipAllow ?? [],
          ipDeny: body.ipDeny ?? [],
          usesBudget: checkBudget(body.usesBudget ?? null),
          bindingMode: body.binding ?? 'off',
          maxIps: body.maxIps ?? null,
          bindPrefixV4: body.bindPrefixV4 ?? null,
          bindPrefixV6: body.bindPrefixV6 ?? null,
          policy: body.policy ?? null,
        }),
      );
      reply.code(201);
      return { ...(await keyView(store, issued.record)), key: issued.key };
    },
  );

  app.get(
    '/keys/:id',
    {
      schema: {
        tags,
        summary: 'Show a key (never its secret or hash)',
        params: IdParams,
        response: { 200: Type.Ref('Key'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      return keyView(store, await existing(store, request.params.id));
    },
  );

  app.patch(
    '/keys/:id',
    {
      schema: {
        tags,
        summary: 'Change a key: name, scopes, expiry, IP lists, uses budget, binding, policy',
        description:
          'Only the fields sent change. Lists replace the current ones ([] clears). Setting `usesBudget` ' +
          'starts a new count. `expires` may lie in the past (the key is then refused as expired).',
        params: IdParams,
        body: Type.Object(settable, { additionalProperties: false }),
        response: { 200: Type.Ref('Key'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store, identity } = request.scope;
      const id = request.params.id;
      const body = request.body;
      const current = await existing(store, id);
      const patch: Parameters<ApiKeyRepository['update']>[1] = {};
      await inBodyTerms(() => {
        if (body.name !== undefined) patch.name = checkName(body.name);
        if (body.scopes !== undefined) patch.scopes = checkScopes(body.scopes);
        if (body.expires !== undefined)
          patch.expiresAt = expiry('expires', body.expires, identity.clock.now());
        if (body.ipAllow !== undefined) patch.ipAllow = checkIpList(body.ipAllow, 'ipAllow');
        if (body.ipDeny !== undefined) patch.ipDeny = checkIpList(body.ipDeny, 'ipDeny');
        if (body.usesBudget !== undefined) patch.usesBudget = checkBudget(body.usesBudget);
        if (body.binding !== undefined) patch.bindingMode = body.binding;
        if (body.maxIps !== undefined) patch.maxIps = body.maxIps;
        if (body.bindPrefixV4 !== undefined) patch.bindPrefixV4 = body.bindPrefixV4;
        if (body.bindPrefixV6 !== undefined) patch.bindPrefixV6 = body.bindPrefixV6;
        if (body.policy !== undefined) patch.policy = body.policy;
        checkBinding(patch, current);
      });
      await checkPolicy(store, patch.policy);
      return keyView(store, await store.apiKeys.update(id, patch));
    },
  );

  app.post(
    '/keys/:id/revoke',
    {
      schema: {
        tags,
        summary: 'Revoke a key: every secret of it is refused at once (key_revoked)',
        params: IdParams,
        body: Type.Object(
          {
            reason: Type.String({
              maxLength: 1000,
              description: 'why (kept for admins, never shown to callers)',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Key'), ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request) => {
      const { store, identity } = request.scope;
      const id = request.params.id;
      const current = await existing(store, id);
      if (current.status === 'revoked') throw new ConflictError('key', id, `key "${id}" is already revoked`);
      return keyView(store, await revokeKey(identity, id, request.body.reason));
    },
  );

  app.post(
    '/keys/:id/rotate',
    {
      schema: {
        tags,
        summary:
          'Issue a new secret for the key (in this answer only); the old one works for the grace period',
        description:
          'The new secret belongs to the same key: rate limits, quota, remaining uses and usage history carry over.',
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            {
              grace: Type.Optional(
                Type.String({
                  maxLength: 100,
                  description: 'how long the old secret stays valid (default 24h)',
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 201: KeyRotated, ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { store, identity } = request.scope;
      const id = request.params.id;
      const grace = duration('grace', request.body?.grace ?? '24h');
      const current = await existing(store, id);
      if (current.status === 'revoked')
        throw new ConflictError('key', id, `key "${id}" is revoked: a revoked key cannot be rotated`);
      const rotated = await rotateKey(identity, id, grace);
      reply.code(201);
      return {
        id,
        key: rotated.key,
        prefix: rotated.displayPrefix,
        oldSecretsExpireAt: iso(rotated.oldSecretsExpireAt),
      };
    },
  );

  app.get(
    '/keys/:id/usage',
    {
      schema: {
        tags,
        summary: "A key's request counts by minute, hour or day: status classes, refusals, routes, bytes",
        description:
          'GET /usage?key=<id> for one key, with a 404 for an unknown key. The usage of every secret of ' +
          'the key (old and new after a rotation) is counted together.',
        params: IdParams,
        querystring: Type.Object({
          since: Type.Optional(
            Type.String({
              default: '24h',
              maxLength: 100,
              description: 'duration back from now (24h) or ISO date',
            }),
          ),
          until: Type.Optional(
            Type.String({ maxLength: 100, description: 'duration back from now or ISO date' }),
          ),
          by: Type.Optional(OneOf(['minute', 'hour', 'day'], { default: 'hour' })),
        }),
        response: { 200: Type.Ref('Usage'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store, identity } = request.scope;
      const id = request.params.id;
      const key = await existing(store, id);
      const now = identity.clock.now();
      const from = since('since', request.query.since ?? '24h', now);
      const until = request.query.until === undefined ? undefined : since('until', request.query.until, now);
      const by: UsageGranularity = request.query.by ?? 'hour';
      const rows = await store.usage.rows({
        granularity: by,
        keyId: id,
        since: from,
        ...(until !== undefined ? { until } : {}),
      });
      // The same answer as GET /usage?key=<id> (one implementation: bucketsOf), with the client named.
      return {
        keyId: id,
        clientId: key.clientId,
        by,
        since: iso(from),
        until: until === undefined ? null : iso(until),
        buckets: bucketsOf(rows),
      };
    },
  );
};
