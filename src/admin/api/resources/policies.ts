/**
 * Rate-limit and quota policies (docs/limits.md). Bodies use the spec's own field names
 * (snake_case, as in the declarative file and `export`), and one validator judges them
 * (limits/policy.ts `parsePolicySpec`): a value of the right JSON type that is not acceptable
 * (an unknown algorithm, `limit: 0`, `window: "soon"`) is a 422 naming every bad field at once.
 * Attachments are part of the policy (`attach`); an attachment to a route that does not exist
 * is a 422 at `policy.attach[i]`, like `apply`. Client and key attachments are not looked up:
 * a policy may be written before the client or key it targets (it limits nothing until then).
 */
import { type TOptional, type TSchema, Type } from '@sinclair/typebox';
import { SpecError, type SpecIssue } from '../../../core/spec-error.js';
import {
  attachedRoutes,
  type PolicySpec,
  PolicySpecSchema,
  parsePolicySpec,
  policyFieldApplies,
} from '../../../limits/policy.js';
import type { LimitAlgorithm, QuotaPeriod } from '../../../limits/types.js';
import { ConflictError, NotFoundError } from '../../../store/errors.js';
import type { PolicyRecord, Store } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { pageOf } from '../pagination.js';
import { IdParams, iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';

export const Policy = Type.Composite(
  [PolicySpecSchema, Type.Object({ created_at: Timestamp, updated_at: Timestamp })],
  {
    $id: 'Policy',
    description: 'A policy as stored (canonical form: defaults of the mode fields filled in)',
  },
);

export function policyView(record: PolicyRecord) {
  return { ...record.spec, created_at: iso(record.createdAt), updated_at: iso(record.updatedAt) };
}

/**
 * Body fields. Types are the JSON types of the spec, without its value rules: those are
 * `parsePolicySpec`'s, which reports them as 422 naming the field. Whole numbers may also be
 * given as digit strings ("10"), as the CLI's flags are.
 */
const Whole = (description: string) =>
  Type.Union([Type.Integer(), Type.String()], { description: `${description}; a whole number` });
const NULLABLE = ['description', 'rate', 'burst', 'limit', 'window', 'period', 'time_zone', 'ipv6_prefix'];
const fields = {
  description: Type.String({ description: 'free text, at most 500 characters ("" clears it)' }),
  algorithm: Type.String({
    description: 'token_bucket, sliding_window, fixed_window, quota or concurrency (required)',
  }),
  rate: Type.String({
    description: 'token_bucket: "<count>/<unit>" (100/s, 5/m) or "<count>/<duration>" (5/10s)',
  }),
  burst: Whole('token_bucket: bucket size (default: the rate count)'),
  limit: Whole('windows and quotas: units per window; concurrency: requests in flight'),
  window: Type.String({ description: 'sliding_window, fixed_window: 500ms, 30s, 15m, 1h, 1d' }),
  period: Type.String({ description: 'quota: rolling_24h, day or month' }),
  time_zone: Type.String({ description: 'day and month quotas: IANA time zone (default UTC)' }),
  key_by: Type.Array(Type.String(), {
    description: 'what to count by: key, client, user, ip, route, or global alone (required)',
  }),
  ipv6_prefix: Whole('with key_by ip: count IPv6 addresses per /N, 32-128 (default 64)'),
  attach: Type.Array(Type.String(), {
    description: 'global, route:<id>, client:<id> or key:<id>; [] attaches to nothing',
  }),
  on_store_failure: Type.String({
    description: 'when Redis is unreachable: local (default), open or closed',
  }),
  shadow: Type.Boolean({ description: 'record "would deny", deny nothing' }),
  refund_on_5xx: Type.Boolean({ description: 'give the unit back when the upstream answers 5xx' }),
};
const optional = <T extends Record<string, TSchema>>(shape: T) =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, Type.Optional(v)])) as {
    [K in keyof T]: TOptional<T[K]>;
  };

const CreateBody = Type.Object(
  { id: Type.String({ description: 'policy id: a-z, 0-9, "_", "." or "-"' }), ...optional(fields) },
  { additionalProperties: false },
);
const ReplaceBody = Type.Object(
  { id: Type.Optional(Type.String({ description: 'must equal the id in the path' })), ...optional(fields) },
  { additionalProperties: false },
);
const PatchBody = Type.Object(
  Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [
      k,
      Type.Optional(NULLABLE.includes(k) ? Type.Union([v, Type.Null()]) : v),
    ]),
  ) as { [K in keyof typeof fields]: TOptional<(typeof fields)[K]> },
  {
    additionalProperties: false,
    description:
      'Fields to change; the others are kept. Fields a change makes meaningless (the window of a ' +
      'policy turned into a token bucket) are dropped. null removes an optional field.',
  },
);

const NUMERIC_FIELDS: ReadonlySet<string> = new Set(['burst', 'limit', 'ipv6_prefix']);

/**
 * Digit strings become numbers; anything else is left for the validator to report at its
 * field (`policy.limit: must be a positive integer (got "ten")`).
 */
function normalize(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined) continue;
    out[field] =
      typeof value === 'string' && NUMERIC_FIELDS.has(field) && /^\d{1,15}$/.test(value.trim())
        ? Number(value.trim())
        : value;
  }
  if (out['description'] === '') delete out['description'];
  return out;
}

/**
 * The change on top of the stored spec, as `policies update` does it: given fields replace,
 * null removes, and inherited fields the change makes meaningless are dropped (given ones are
 * kept, so a contradiction is reported rather than silently ignored).
 */
function merged(base: PolicySpec, body: Record<string, unknown>): Record<string, unknown> {
  const explicit: Record<string, unknown> = {};
  const removed = new Set<string>();
  for (const [field, value] of Object.entries(body)) {
    if (value === null) removed.add(field);
    else if (value !== undefined) explicit[field] = value;
  }
  const spec: Record<string, unknown> = { ...base, ...normalize(explicit) };
  for (const field of removed) delete spec[field];
  if (explicit['description'] === '') delete spec['description'];
  const context = {
    algorithm: spec['algorithm'] as LimitAlgorithm,
    period: spec['period'] as QuotaPeriod | undefined,
    key_by: spec['key_by'] as string[] | undefined,
  };
  for (const field of Object.keys(base)) {
    if (!(field in explicit) && !policyFieldApplies(field, context)) delete spec[field];
  }
  return spec;
}

/** A policy attached to a route that does not exist would silently limit nothing. */
async function checkAttachedRoutes(store: Store, spec: PolicySpec): Promise<void> {
  const issues: SpecIssue[] = [];
  const attach = spec.attach ?? [];
  for (const routeId of attachedRoutes(spec)) {
    if (!(await store.routes.get(routeId))) {
      issues.push({
        path: `policy.attach[${attach.indexOf(`route:${routeId}`)}]`,
        message: `route "${routeId}" does not exist`,
      });
    }
  }
  if (issues.length > 0) throw new SpecError(issues);
}

/** Routes and keys named in a refusal; beyond them the message says "and more". */
const NAMED_USERS = 10;

/** Refuse to remove a policy that routes or keys still name: they would stop being limited. */
async function checkUnused(store: Store, id: string): Promise<void> {
  // Routes are few and read whole; keys may be millions, so only the first few naming the
  // policy are fetched.
  const routes = (await store.routes.list()).filter((r) => r.spec.policies?.includes(id));
  const keys = await store.apiKeys.page({ policy: id, limit: NAMED_USERS + 1 });
  const users = [...routes.map((r) => `route "${r.spec.id}"`), ...keys.map((k) => `key "${k.id}"`)];
  if (users.length > 0) {
    const named =
      users.length > NAMED_USERS ? `${users.slice(0, NAMED_USERS).join(', ')} and more` : users.join(', ');
    throw new ConflictError('policy', id, `policy "${id}" is still named by ${named}; change them first`);
  }
}

export const policyRoutes: ResourceRoutes = (app) => {
  const tags = ['policies'];
  app.addSchema(Policy);
  const path = '/policies/:id';

  app.get(
    '/policies',
    {
      schema: {
        tags,
        summary: 'List rate-limit policies',
        querystring: Type.Object({
          ...PageQuery,
          attach: Type.Optional(
            Type.String({
              description:
                'only policies whose attach list has this target (global, route:<id>, client:<id>, key:<id>)',
            }),
          ),
        }),
        response: { 200: Page(Type.Ref('Policy')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const target = request.query.attach;
      const records = (await request.scope.store.policies.list()).filter(
        (r) => target === undefined || (r.spec.attach ?? []).includes(target),
      );
      const page = pageOf(records, (r) => r.id, request.query);
      return { items: page.items.map(policyView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/policies',
    {
      schema: {
        tags,
        summary: 'Add a rate-limit policy',
        body: CreateBody,
        response: { 201: Type.Ref('Policy'), ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const { store } = request.scope;
      const spec = parsePolicySpec(normalize(request.body));
      await checkAttachedRoutes(store, spec);
      const record = await store.policies.insert(spec);
      reply.code(201);
      return policyView(record);
    },
  );

  app.get(
    path,
    {
      schema: {
        tags,
        summary: 'Show one policy',
        params: IdParams,
        response: { 200: Type.Ref('Policy'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const record = await request.scope.store.policies.get(request.params.id);
      if (!record) throw new NotFoundError('policy', request.params.id);
      return policyView(record);
    },
  );

  app.patch(
    path,
    {
      schema: {
        tags,
        summary: 'Change fields of a policy (`attach` replaces the list)',
        params: IdParams,
        body: PatchBody,
        response: { 200: Type.Ref('Policy'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      const existing = await store.policies.get(id);
      if (!existing) throw new NotFoundError('policy', id);
      const spec = parsePolicySpec({ ...merged(existing.spec, request.body), id });
      await checkAttachedRoutes(store, spec);
      return policyView(await store.policies.replace(spec));
    },
  );

  app.put(
    path,
    {
      schema: {
        tags,
        summary: 'Replace a policy with a whole new spec (fields not given take their defaults)',
        params: IdParams,
        body: ReplaceBody,
        response: { 200: Type.Ref('Policy'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      if (request.body.id !== undefined && request.body.id !== id)
        throw new SpecError([{ path: 'policy.id', message: `must be "${id}", the id in the path` }]);
      if (!(await store.policies.get(id))) throw new NotFoundError('policy', id);
      const spec = parsePolicySpec({ ...normalize(request.body), id });
      await checkAttachedRoutes(store, spec);
      return policyView(await store.policies.replace(spec));
    },
  );

  app.delete(
    path,
    {
      schema: {
        tags,
        summary: 'Remove a policy (refused with 409 while routes or keys name it)',
        params: IdParams,
        response: {
          200: Type.Object({ id: Type.String(), removed: Type.Boolean() }),
          ...problems(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      if (!(await store.policies.get(id))) throw new NotFoundError('policy', id);
      await checkUnused(store, id);
      if (!(await store.policies.remove(id))) throw new NotFoundError('policy', id);
      return { id, removed: true };
    },
  );
};
