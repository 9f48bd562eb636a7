/**
 * The blocklist: IP addresses and networks, keys, clients and users refused everywhere
 * (PRODUCT.md §8). Adding an entry for a kind and value that is already listed replaces it
 * (reason, source, expiry), as the store's upsert does: 201 when new, 200 when replaced.
 */
import { Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import { addBlock, blockValue } from '../../../ip-controls/operations.js';
import type { BlockKind, BlockRecord, Store } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { AdminProblem } from '../errors.js';
import { expiry } from '../input.js';
import { creationCursors, pageOfRows } from '../pagination.js';
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

/**
 * A string from a fixed set. Declared as `enum` rather than a union of literals: the OpenAPI
 * document and SDK types are the same, and a wrong value is reported in one short sentence.
 */
export function OneOf<const T extends string>(values: readonly T[], options: { description?: string } = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

const StoredKind = OneOf(['ip', 'key', 'client', 'user']);
/** `cidr` is accepted as another name for `ip` (an entry of kind ip holds an address or a network). */
const KindInput = OneOf(['ip', 'cidr', 'key', 'client', 'user'], {
  description: 'ip (an address or a CIDR; `cidr` is accepted as the same kind), key, client or user',
});
const Source = OneOf(['manual', 'anomaly', 'threshold']);

export const Block = Type.Object(
  {
    id: Type.String(),
    kind: StoredKind,
    value: Type.String({ description: 'a normalized CIDR for kind ip; the id otherwise' }),
    reason: Type.String({ description: 'for admins only, never shown to callers' }),
    source: Source,
    createdAt: Timestamp,
    expiresAt: NullableTimestamp,
    active: Type.Boolean({ description: 'not expired' }),
  },
  { $id: 'Block' },
);

export function blockView(b: BlockRecord, now: number) {
  return {
    id: b.id,
    kind: b.kind,
    value: b.value,
    reason: b.reason,
    source: b.source,
    createdAt: iso(b.createdAt),
    expiresAt: isoOrNull(b.expiresAt),
    active: b.expiresAt === null || b.expiresAt > now,
  };
}

export const storedKind = (kind: BlockKind | 'cidr'): BlockKind => (kind === 'cidr' ? 'ip' : kind);

/** The entry for this kind and (canonical) value, if any (only an active one with `activeAt`). */
export async function existingBlock(
  store: Store,
  kind: BlockKind,
  value: string,
  activeAt?: number,
): Promise<BlockRecord | undefined> {
  const found = await store.blocks.find(kind, value);
  // In force at `activeAt` as `list({ activeAt })` means it: no expiry, or a later one.
  if (found && activeAt !== undefined && found.expiresAt !== null && found.expiresAt <= activeAt)
    return undefined;
  return found;
}

/** The canonical value, with a bad one reported as the body's `value` field. */
function canonicalValue(kind: BlockKind, value: string): string {
  try {
    return blockValue(kind, value);
  } catch (error) {
    if (error instanceof SpecError)
      throw new SpecError(error.issues.map((i) => ({ path: 'value', message: i.message })));
    throw error;
  }
}

/** Oldest first, ties broken by id (16 digits: the width cursors had). */
const blockCursors = creationCursors(16);

export const blockRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['blocks'];
  app.addSchema(Block);

  app.get(
    '/blocks',
    {
      schema: {
        tags,
        summary: 'List blocklist entries (oldest first)',
        querystring: Type.Object({
          ...PageQuery,
          kind: Type.Optional(KindInput),
          source: Type.Optional(Source),
          active: Type.Optional(
            Type.Boolean({
              description: 'true: only entries in force; false: only expired ones; absent: all',
            }),
          ),
        }),
        response: { 200: Page(Type.Ref('Block')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { kind, source, active, cursor } = request.query;
      const limit = request.query.limit ?? 100;
      const after = cursor === undefined ? undefined : blockCursors.decode(cursor);
      const now = deps.clock.now();
      const rows = await request.scope.store.blocks.page({
        ...(kind !== undefined ? { kind: storedKind(kind) } : {}),
        ...(source !== undefined ? { source } : {}),
        ...(active === true ? { activeAt: now } : active === false ? { expiredAt: now } : {}),
        ...(after !== undefined ? { after } : {}),
        // One more than the page: whether there is a next page without another query.
        limit: limit + 1,
      });
      const page = pageOfRows(rows, limit, blockCursors.encode);
      return { items: page.items.map((b) => blockView(b, now)), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/blocks',
    {
      schema: {
        tags,
        summary:
          'Block an IP or network, a key, a client or a user: 201 when new, 200 when it replaced the entry for the same kind and value',
        body: Type.Object(
          {
            kind: KindInput,
            value: Type.String({
              maxLength: 200,
              description: 'an IP or CIDR, a key id, a client id or a user id',
            }),
            reason: Type.String({ maxLength: 200, description: 'shown to admins, never to callers' }),
            expires: Type.Optional(
              Type.String({ description: 'a duration (1h), an ISO date or "never" (the default)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Block'), 201: Type.Ref('Block'), ...problems(400, 401, 403, 422) },
      },
    },
    async (request, reply) => {
      const { store } = request.scope;
      const now = deps.clock.now();
      const kind = storedKind(request.body.kind);
      const value = canonicalValue(kind, request.body.value);
      const expiresAt =
        request.body.expires === undefined ? null : expiry('expires', request.body.expires, now);
      const existed = await existingBlock(store, kind, value);
      const block = await addBlock(store, { kind, value, reason: request.body.reason, expiresAt }, now);
      reply.code(existed ? 200 : 201);
      return blockView(block, now);
    },
  );

  app.get(
    '/blocks/:id',
    {
      schema: {
        tags,
        summary: 'Show a blocklist entry',
        params: IdParams,
        response: { 200: Type.Ref('Block'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const block = await request.scope.store.blocks.get(request.params.id);
      if (!block) throw new AdminProblem('not_found', `no block ${request.params.id}`);
      return blockView(block, deps.clock.now());
    },
  );

  app.delete(
    '/blocks/:id',
    {
      schema: {
        tags,
        summary: 'Lift a block by its id (answers the entry removed)',
        params: IdParams,
        response: { 200: Type.Ref('Block'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      const block = await store.blocks.get(id);
      if (!block || !(await store.blocks.remove(id))) throw new AdminProblem('not_found', `no block ${id}`);
      return blockView(block, deps.clock.now());
    },
  );

  app.delete(
    '/blocks',
    {
      schema: {
        tags,
        summary: 'Lift a block by what it blocks: kind and value (answers the entry removed)',
        description:
          'The value is normalized as when adding, so `kind=ip&value=203.0.113.77/24` lifts the entry for 203.0.113.0/24.',
        querystring: Type.Object({
          kind: KindInput,
          value: Type.String({ minLength: 1, maxLength: 200 }),
        }),
        response: { 200: Type.Ref('Block'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const kind = storedKind(request.query.kind);
      const value = canonicalValue(kind, request.query.value);
      const block = await existingBlock(store, kind, value);
      if (!block || !(await store.blocks.removeFor(kind, value)))
        throw new AdminProblem('not_found', `no block ${kind} ${value}`);
      return blockView(block, deps.clock.now());
    },
  );
};
