/**
 * First-use key bindings (PRODUCT.md §8) and their intercepts: list and show bindings, unbind,
 * rebind, change a key's binding settings, ban and unban a key (a blocklist entry of kind
 * `key`), and query or export intercepts.
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import { checkBinding } from '../../../identity/operations.js';
import { addBlock, rebindKey, unbindKey } from '../../../ip-controls/operations.js';
import { NotFoundError } from '../../../store/errors.js';
import type {
  BindingPosition,
  BindingRecord,
  InterceptPosition,
  InterceptRecord,
  InterceptRecordFilter,
  Store,
} from '../../../store/types.js';
import { formatRows } from '../../../telemetry/export.js';
import type { ResourceRoutes } from '../context.js';
import { AdminProblem } from '../errors.js';
import { expiry, since } from '../input.js';
import { decodeCursor, encodeCursor, pageOfRows } from '../pagination.js';
import { iso, isoOrNull, NullableTimestamp, Page, PageQuery, problems, Timestamp } from '../schemas.js';
import { blockView, existingBlock, OneOf } from './blocks.js';

const Mode = OneOf(['off', 'single', 'multiple', 'all']);

export const Binding = Type.Object(
  {
    id: Type.String(),
    key: Type.String(),
    slot: Type.Union([Type.Integer(), Type.Null()], { description: 'null for an `all` (record-only) entry' }),
    address: Type.String({ description: 'the bound address or network as a CIDR' }),
    source: OneOf(['first_use', 'admin']),
    createdAt: Timestamp,
    lastSeenAt: Timestamp,
  },
  { $id: 'Binding' },
);

export const BindingSettings = Type.Object(
  {
    key: Type.String(),
    mode: Mode,
    maxIps: Type.Union([Type.Integer(), Type.Null()]),
    bindPrefixV4: Type.Union([Type.Integer(), Type.Null()]),
    bindPrefixV6: Type.Union([Type.Integer(), Type.Null()]),
  },
  { $id: 'BindingSettings' },
);

export const Intercept = Type.Object(
  {
    at: Timestamp,
    key: Type.String(),
    client: Type.Union([Type.String(), Type.Null()]),
    ip: Type.String({ description: 'the offending address' }),
    bound: Type.Array(Type.String(), { description: 'what the key was bound to at the time' }),
    route: Type.Union([Type.String(), Type.Null()]),
    method: Type.String(),
    path: Type.String(),
    requestId: Type.String(),
  },
  { $id: 'Intercept' },
);

const BindingDetail = Type.Object({
  key: Type.String(),
  mode: Mode,
  maxIps: Type.Union([Type.Integer(), Type.Null()]),
  bindPrefixV4: Type.Union([Type.Integer(), Type.Null()]),
  bindPrefixV6: Type.Union([Type.Integer(), Type.Null()]),
  banned: Type.Union([Type.Object({ reason: Type.String(), expiresAt: NullableTimestamp }), Type.Null()]),
  bindings: Type.Array(Type.Ref('Binding')),
  archived: Type.Array(Type.Object({ address: Type.String(), lastSeenAt: Timestamp, archivedAt: Timestamp })),
  recentIntercepts: Type.Array(Type.Ref('Intercept'), { description: 'the 20 newest' }),
});

export function bindingView(b: BindingRecord) {
  return {
    id: b.id,
    key: b.keyId,
    slot: b.slot,
    address: b.cidr,
    source: b.source,
    createdAt: iso(b.createdAt),
    lastSeenAt: iso(b.lastSeenAt),
  };
}

export function interceptView(i: InterceptRecord) {
  return {
    at: iso(i.at),
    key: i.keyId,
    client: i.clientId,
    ip: i.ip,
    bound: i.bound,
    route: i.routeId,
    method: i.method,
    path: i.path,
    requestId: i.requestId,
  };
}

/** Columns of an intercept export (as `portcullis logs export --intercepts` always wrote them). */
const EXPORT_COLUMNS = [
  'at',
  'keyId',
  'clientId',
  'ip',
  'bound',
  'routeId',
  'method',
  'path',
  'requestId',
] as const;

/** Run `fn`, reporting validation issues under the API's field names. */
async function fieldNames<T>(names: Record<string, string>, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SpecError)
      throw new SpecError(error.issues.map((i) => ({ path: names[i.path] ?? i.path, message: i.message })));
    throw error;
  }
}

const KeyParams = Type.Object({ keyId: Type.String({ minLength: 1, maxLength: 200 }) });
const NoBody = Type.Optional(Type.Object({}, { additionalProperties: false }));

const InterceptFilter = {
  key: Type.Optional(Type.String({ maxLength: 200, description: "only this key's intercepts" })),
  since: Type.Optional(Type.String({ description: 'a duration back from now (24h) or an ISO date' })),
  until: Type.Optional(Type.String({ description: 'a duration back from now or an ISO date (exclusive)' })),
  route: Type.Optional(Type.String({ maxLength: 200, description: 'only intercepts on this route' })),
};

interface InterceptQuery {
  key?: string;
  since?: string;
  until?: string;
  route?: string;
}

function interceptFilter(query: InterceptQuery, now: number): InterceptRecordFilter {
  return {
    ...(query.key !== undefined ? { keyId: query.key } : {}),
    ...(query.route !== undefined ? { routeId: query.route } : {}),
    ...(query.since !== undefined ? { since: since('since', query.since, now) } : {}),
    ...(query.until !== undefined ? { until: since('until', query.until, now) } : {}),
  };
}

/**
 * A bindings cursor: the key, creation time (16 digits) and id of the last binding of a page,
 * space-separated (the form cursors had when pages were cut in memory, so those still work).
 */
function bindingCursor(b: BindingRecord): string {
  return encodeCursor(`${b.keyId} ${String(b.createdAt).padStart(16, '0')} ${b.id}`);
}

function decodeBindingCursor(cursor: string): BindingPosition {
  const match = /^(.+) (\d{16}) (\S+)$/s.exec(decodeCursor(cursor));
  if (!match) throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  return { keyId: match[1] as string, createdAt: Number(match[2]), id: match[3] as string };
}

/** An intercept cursor: the time and id of the last intercept of a page. */
function decodeInterceptCursor(cursor: string): InterceptPosition {
  const match = /^(\d{1,16}):(\S+)$/.exec(decodeCursor(cursor));
  if (!match) throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  return { at: Number(match[1]), id: match[2] as string };
}

/** One page of intercepts, newest first, after the cursor: one keyset query of `limit + 1` rows. */
async function interceptPage(
  store: Store,
  filter: InterceptRecordFilter,
  query: { limit?: number; cursor?: string },
) {
  const limit = query.limit ?? 100;
  const before = query.cursor === undefined ? undefined : decodeInterceptCursor(query.cursor);
  const rows = await store.intercepts.list({ ...filter, ...(before ? { before } : {}), limit: limit + 1 });
  return pageOfRows(rows, limit, (last) => encodeCursor(`${last.at}:${last.id}`));
}

export const bindingRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['bindings'];
  app.addSchema(Binding);
  app.addSchema(BindingSettings);
  app.addSchema(Intercept);

  const keyOf = async (store: Store, keyId: string) => {
    const key = await store.apiKeys.get(keyId);
    if (!key) throw new NotFoundError('key', keyId);
    return key;
  };

  app.get(
    '/bindings',
    {
      schema: {
        tags,
        summary: 'List current bindings (by key, then by age)',
        querystring: Type.Object({
          ...PageQuery,
          key: Type.Optional(Type.String({ maxLength: 200, description: "only this key's bindings" })),
        }),
        response: { 200: Page(Type.Ref('Binding')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { key, cursor } = request.query;
      const limit = request.query.limit ?? 100;
      const after = cursor === undefined ? undefined : decodeBindingCursor(cursor);
      const rows = await request.scope.store.bindings.page({
        ...(key !== undefined ? { keyId: key } : {}),
        ...(after !== undefined ? { after } : {}),
        // One more than the page: whether there is a next page without another query.
        limit: limit + 1,
      });
      const page = pageOfRows(rows, limit, bindingCursor);
      return { items: page.items.map(bindingView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/bindings/:keyId',
    {
      schema: {
        tags,
        summary: "A key's binding settings, bound addresses, archived bindings, ban and recent intercepts",
        params: KeyParams,
        response: { 200: BindingDetail, ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const keyId = request.params.keyId;
      const key = await keyOf(store, keyId);
      const [current, archived, intercepts, ban] = await Promise.all([
        store.bindings.list({ keyId }),
        store.bindings.archived({ keyId }),
        store.intercepts.list({ keyId, limit: 20 }),
        existingBlock(store, 'key', keyId, deps.clock.now()),
      ]);
      return {
        key: keyId,
        mode: key.bindingMode,
        maxIps: key.maxIps,
        bindPrefixV4: key.bindPrefixV4,
        bindPrefixV6: key.bindPrefixV6,
        banned: ban ? { reason: ban.reason, expiresAt: isoOrNull(ban.expiresAt) } : null,
        bindings: current.map(bindingView),
        archived: archived.map((a) => ({
          address: a.cidr,
          lastSeenAt: iso(a.lastSeenAt),
          archivedAt: iso(a.archivedAt),
        })),
        recentIntercepts: intercepts.map(interceptView),
      };
    },
  );

  app.post(
    '/bindings/:keyId/unbind',
    {
      schema: {
        tags,
        summary: "Forget a key's bindings; its next request binds again",
        params: KeyParams,
        body: NoBody,
        response: {
          200: Type.Object({
            key: Type.String(),
            removed: Type.Integer({ description: 'bindings removed' }),
          }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const keyId = request.params.keyId;
      return { key: keyId, removed: await unbindKey(request.scope.store, keyId) };
    },
  );

  app.post(
    '/bindings/:keyId/rebind',
    {
      schema: {
        tags,
        summary: 'Bind a key to these addresses or networks now (replaces its bindings)',
        params: KeyParams,
        body: Type.Object(
          {
            ips: Type.Array(Type.String({ maxLength: 100 }), {
              maxItems: 1000,
              description: 'addresses or CIDRs, at most what the key’s mode holds',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(Type.Ref('Binding')), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const records = await fieldNames({ ip: 'ips', binding: 'mode' }, () =>
        rebindKey(request.scope.store, request.params.keyId, request.body.ips, deps.clock.now()),
      );
      return records.map(bindingView);
    },
  );

  app.patch(
    '/bindings/:keyId',
    {
      schema: {
        tags,
        summary: "Change a key's binding mode, address count or bind prefixes",
        params: KeyParams,
        body: Type.Object(
          {
            mode: Type.Optional(Mode),
            maxIps: Type.Optional(Type.Integer({ description: 'addresses a "multiple" binding may hold' })),
            bindPrefixV4: Type.Optional(
              Type.Union([Type.Integer(), Type.Null()], {
                description: 'IPv4 network length a binding covers; null: the address',
              }),
            ),
            bindPrefixV6: Type.Optional(
              Type.Union([Type.Integer(), Type.Null()], {
                description: 'IPv6 network length a binding covers; null: the address',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('BindingSettings'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const keyId = request.params.keyId;
      const current = await keyOf(store, keyId);
      const { mode, maxIps, bindPrefixV4, bindPrefixV6 } = request.body;
      const patch = {
        ...(mode !== undefined ? { bindingMode: mode } : {}),
        ...(maxIps !== undefined ? { maxIps } : {}),
        ...(bindPrefixV4 !== undefined ? { bindPrefixV4 } : {}),
        ...(bindPrefixV6 !== undefined ? { bindPrefixV6 } : {}),
      };
      if (Object.keys(patch).length === 0)
        throw new SpecError([
          { path: 'body', message: 'nothing to change: give mode, maxIps, bindPrefixV4 or bindPrefixV6' },
        ]);
      await fieldNames(
        { max_ips: 'maxIps', bind_prefix_v4: 'bindPrefixV4', bind_prefix_v6: 'bindPrefixV6' },
        () => checkBinding(patch, current),
      );
      const record = await store.apiKeys.update(keyId, patch);
      return {
        key: keyId,
        mode: record.bindingMode,
        maxIps: record.maxIps,
        bindPrefixV4: record.bindPrefixV4,
        bindPrefixV6: record.bindPrefixV6,
      };
    },
  );

  app.post(
    '/bindings/:keyId/ban',
    {
      schema: {
        tags,
        summary:
          'Block a key everywhere (a blocklist entry of kind key): 201 when new, 200 when it replaced a ban',
        params: KeyParams,
        body: Type.Object(
          {
            reason: Type.String({ maxLength: 200, description: 'shown to admins, never to callers' }),
            expires: Type.Optional(
              Type.String({ description: 'a duration (24h), an ISO date or "never" (the default)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Ref('Block'),
          201: Type.Ref('Block'),
          ...problems(400, 401, 403, 404, 422),
        },
      },
    },
    async (request, reply) => {
      const { store } = request.scope;
      const keyId = request.params.keyId;
      await keyOf(store, keyId);
      const now = deps.clock.now();
      const expiresAt =
        request.body.expires === undefined ? null : expiry('expires', request.body.expires, now);
      const existed = await existingBlock(store, 'key', keyId);
      const block = await addBlock(
        store,
        { kind: 'key', value: keyId, reason: request.body.reason, expiresAt },
        now,
      );
      reply.code(existed ? 200 : 201);
      return blockView(block, now);
    },
  );

  app.post(
    '/bindings/:keyId/unban',
    {
      schema: {
        tags,
        summary: 'Lift a key ban',
        params: KeyParams,
        body: NoBody,
        response: {
          200: Type.Object({ key: Type.String(), unbanned: Type.Boolean() }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const keyId = request.params.keyId;
      if (!(await request.scope.store.blocks.removeFor('key', keyId)))
        throw new AdminProblem('not_found', `key ${keyId} is not banned`);
      return { key: keyId, unbanned: true };
    },
  );

  app.get(
    '/intercepts',
    {
      schema: {
        tags,
        summary: 'Binding violations, newest first',
        description: 'Paged by cursor in time order, newest first.',
        querystring: Type.Object({ ...PageQuery, ...InterceptFilter }),
        response: { 200: Page(Type.Ref('Intercept')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { query } = request;
      const page = await interceptPage(request.scope.store, interceptFilter(query, deps.clock.now()), query);
      return { items: page.items.map(interceptView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/intercepts/export',
    {
      schema: {
        tags,
        summary: 'Every matching intercept, oldest first, as NDJSON or CSV (streamed)',
        querystring: Type.Object({
          format: Type.Optional(OneOf(['ndjson', 'csv'], { description: 'default ndjson' })),
          ...InterceptFilter,
        }),
        response: {
          200: {
            description: `NDJSON (one record per line) or CSV with the columns ${EXPORT_COLUMNS.join(', ')}`,
            content: {
              'application/x-ndjson': { schema: { type: 'string' } },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...problems(400, 401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const { query } = request;
      const format = query.format ?? 'ndjson';
      const filter = interceptFilter(query, deps.clock.now());
      const rows = () => request.scope.store.intercepts.stream(filter);
      reply
        .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .header('content-disposition', `attachment; filename="intercepts.${format}"`);
      return reply.send(
        Readable.from(formatRows(rows(), format, EXPORT_COLUMNS, (r) => ({ ...r, at: iso(r.at) }))),
      );
    },
  );
};
