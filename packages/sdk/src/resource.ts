/**
 * Building blocks of the admin client's resource groups (`admin.clients.list()`, `.get(id)`,
 * …). Each block is typed from the generated `paths` and constrained to templates that really
 * have the operation, so a group that names an endpoint the API no longer has fails to compile.
 */

import type { Transport } from './transport.js';
import type {
  CallExtras,
  ItemOf,
  OperationOf,
  PaginatedPaths,
  PathsWith,
  QueryParams,
  SuccessBody,
  TypedApi,
} from './typed-api.js';

type IsNever<T> = [T] extends [never] ? true : false;

/** The JSON body an operation takes. */
export type BodyOf<Op> = Op extends { requestBody?: infer RB }
  ? Exclude<RB, undefined> extends { content: { 'application/json': infer B } }
    ? B
    : undefined
  : undefined;

/** `/admin/api/clients/{id}` → `id`; never for a template with no or several parameters. */
export type SingleParam<T extends string> = T extends `${string}{${infer N}}${infer Rest}`
  ? Rest extends `${string}{${string}`
    ? never
    : N
  : never;

/** Templates of `P` with exactly one path parameter and an operation for `M`. */
export type ItemPaths<P, M extends 'get' | 'post' | 'put' | 'patch' | 'delete'> = {
  [K in PathsWith<P, M>]: IsNever<SingleParam<K>> extends true ? never : K;
}[PathsWith<P, M>];

type ListQuery<P, C> = QueryParams<OperationOf<P, C, 'get'>>;

function single(template: string): string {
  const names = [...template.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1] as string);
  if (names.length !== 1 || names[0] === undefined)
    throw new TypeError(`${template} must have exactly one path parameter`);
  return names[0];
}

export function listable<P, C extends PaginatedPaths<P>>(api: TypedApi<P>, collection: C) {
  return {
    /** One page: `{ items, nextCursor }`. Pass `nextCursor` back as `query.cursor`. */
    list(query?: ListQuery<P, C>, extras?: CallExtras): Promise<SuccessBody<OperationOf<P, C, 'get'>>> {
      return api.call('get', collection, { ...extras, query });
    },
    /** Every item, page after page (`for await (const item of group.paginate())`). */
    paginate(query?: ListQuery<P, C>, extras?: CallExtras): AsyncGenerator<ItemOf<OperationOf<P, C, 'get'>>> {
      return (
        api.paginate as (path: string, options: object) => AsyncGenerator<ItemOf<OperationOf<P, C, 'get'>>>
      )(collection, { ...extras, query });
    },
  };
}

export function readable<P, I extends ItemPaths<P, 'get'>>(api: TypedApi<P>, item: I) {
  const param = single(item);
  return {
    get(id: string, extras?: CallExtras): Promise<SuccessBody<OperationOf<P, I, 'get'>>> {
      return api.call('get', item, { ...extras, params: { [param]: id } });
    },
  };
}

export function creatable<P, C extends PathsWith<P, 'post'>>(api: TypedApi<P>, collection: C) {
  return {
    create(
      body: BodyOf<OperationOf<P, C, 'post'>>,
      extras?: CallExtras,
    ): Promise<SuccessBody<OperationOf<P, C, 'post'>>> {
      return api.call('post', collection, { ...extras, body });
    },
  };
}

export function updatable<P, M extends 'patch' | 'put', I extends ItemPaths<P, M>>(
  api: TypedApi<P>,
  method: M,
  item: I,
) {
  const param = single(item);
  return {
    update(
      id: string,
      body: BodyOf<OperationOf<P, I, M>>,
      extras?: CallExtras,
    ): Promise<SuccessBody<OperationOf<P, I, M>>> {
      return api.call(method, item, { ...extras, params: { [param]: id }, body });
    },
  };
}

export function removable<P, I extends ItemPaths<P, 'delete'>>(api: TypedApi<P>, item: I) {
  const param = single(item);
  return {
    remove(id: string, extras?: CallExtras): Promise<SuccessBody<OperationOf<P, I, 'delete'>>> {
      return api.call('delete', item, { ...extras, params: { [param]: id } });
    },
  };
}

/** A POST on one item (`/clients/{id}/suspend`), optionally with a body. */
export function itemAction<P, I extends ItemPaths<P, 'post'>>(api: TypedApi<P>, item: I) {
  const param = single(item);
  return (
    id: string,
    ...[body, extras]: IsNever<BodyOf<OperationOf<P, I, 'post'>>> extends true
      ? [body?: undefined, extras?: CallExtras]
      : [body?: BodyOf<OperationOf<P, I, 'post'>>, extras?: CallExtras]
  ): Promise<SuccessBody<OperationOf<P, I, 'post'>>> =>
    api.call('post', item, { ...extras, params: { [param]: id }, ...(body !== undefined ? { body } : {}) });
}

/** A GET on one item with a query (`/keys/{id}/usage?since=…`). */
export function itemQuery<P, I extends ItemPaths<P, 'get'>>(api: TypedApi<P>, item: I) {
  const param = single(item);
  return (
    id: string,
    query?: QueryParams<OperationOf<P, I, 'get'>>,
    extras?: CallExtras,
  ): Promise<SuccessBody<OperationOf<P, I, 'get'>>> =>
    api.call('get', item, { ...extras, params: { [param]: id }, query });
}

/** A GET without path parameters, with a query (`/usage?client=…`). */
export function query<P, K extends PathsWith<P, 'get'>>(api: TypedApi<P>, path: K) {
  return (
    query?: QueryParams<OperationOf<P, K, 'get'>>,
    extras?: CallExtras,
  ): Promise<SuccessBody<OperationOf<P, K, 'get'>>> => api.call('get', path, { ...extras, query });
}

/** A POST without path parameters (`/declarative/apply`). */
export function action<P, K extends PathsWith<P, 'post'>>(api: TypedApi<P>, path: K) {
  return (
    body?: BodyOf<OperationOf<P, K, 'post'>>,
    extras?: CallExtras,
  ): Promise<SuccessBody<OperationOf<P, K, 'post'>>> =>
    api.call('post', path, { ...extras, ...(body !== undefined ? { body } : {}) });
}

/**
 * A streamed export (`/logs/export?format=ndjson`): the Response of a 2xx answer, body unread,
 * so a large export never sits in memory. Not retried; the timeout covers the headers only.
 */
export function exportable<P, K extends PathsWith<P, 'get'>>(transport: Transport, path: K) {
  return (
    query?: QueryParams<OperationOf<P, K, 'get'>>,
    extras?: Omit<CallExtras, 'idempotent'>,
  ): Promise<Response> =>
    transport.requestRaw({
      method: 'GET',
      path,
      ...(query !== undefined ? { query: query as object } : {}),
      ...extras,
      headers: { accept: '*/*', ...extras?.headers },
    });
}
