/**
 * Calls typed from an openapi-typescript `paths` type: the path template, its parameters,
 * the query, the JSON body and the success answer all come from the OpenAPI document, so a
 * change of the admin API shows up as a type error in code using the SDK.
 *
 *   api.get('/admin/api/clients/{id}', { params: { id: 'mobile-app' } })
 *   api.paginate('/admin/api/clients', { query: { limit: 100 } })
 */
import { PortcullisError } from './errors.js';
import type { Transport, TransportRequest } from './transport.js';

export type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'patch';

type Defined<T> = Exclude<T, undefined>;
type IsNever<T> = [T] extends [never] ? true : false;

/** Templates of `P` that have an operation for `M` (openapi-typescript marks absent ones `?: never`). */
export type PathsWith<P, M extends HttpMethod> = {
  [K in keyof P]-?: P[K] extends { [X in M]: infer Op } ? (IsNever<Op> extends true ? never : K) : never;
}[keyof P] &
  string;

export type OperationOf<P, K, M extends HttpMethod> = K extends keyof P
  ? P[K] extends { [X in M]: infer Op }
    ? Op
    : never
  : never;

export type PathParams<Op> = Op extends { parameters: { path: infer PP } } ? PP : never;
export type QueryParams<Op> = Op extends { parameters: { query?: infer Q } } ? Defined<Q> : never;

type JsonOf<C> = C extends { content: { 'application/json': infer B } } ? B : undefined;
type BodyPart<Op> = Op extends { requestBody: infer RB }
  ? IsNever<RB> extends true
    ? { body?: undefined }
    : { body: JsonOf<RB> }
  : Op extends { requestBody?: infer RB }
    ? IsNever<Defined<RB>> extends true
      ? { body?: undefined }
      : { body?: JsonOf<Defined<RB>> }
    : { body?: undefined };

type SuccessStatus = 200 | 201 | 202 | 203 | 204;
/** The JSON of the operation's 2xx answers (`undefined` for 204). */
export type SuccessBody<Op> = Op extends { responses: infer R }
  ? { [S in keyof R & SuccessStatus]: JsonOf<R[S]> }[keyof R & SuccessStatus]
  : never;

export interface CallExtras {
  signal?: AbortSignal;
  timeoutMs?: number;
  headers?: Readonly<Record<string, string>>;
  /** Retry this call even if its method is not idempotent (only when the server dedupes it). */
  idempotent?: boolean;
}

export type CallOptions<Op> = (IsNever<PathParams<Op>> extends true
  ? { params?: undefined }
  : { params: PathParams<Op> }) &
  (IsNever<QueryParams<Op>> extends true ? { query?: undefined } : { query?: QueryParams<Op> }) &
  BodyPart<Op> &
  CallExtras;

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
/** The options argument may be left out when nothing in it is required. */
export type CallArgs<Op> =
  IsNever<RequiredKeys<CallOptions<Op>>> extends true
    ? [options?: CallOptions<Op>]
    : [options: CallOptions<Op>];

/** A list answer of the admin API: one page and the cursor of the next (null on the last). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export type ItemOf<Op> = SuccessBody<Op> extends { items: (infer T)[]; nextCursor?: unknown } ? T : never;

/** GET templates whose answer is a page (`{ items, nextCursor }`): what `paginate` accepts. */
export type PaginatedPaths<P> = {
  [K in PathsWith<P, 'get'>]: IsNever<ItemOf<OperationOf<P, K, 'get'>>> extends true ? never : K;
}[PathsWith<P, 'get'>];

const PARAM = /\{([^{}]+)\}/g;

/** `/a/{id}/b` with `{ id: 'x y' }` → `/a/x%20y/b`; every placeholder must be given. */
export function fillPath(template: string, params: object | undefined): string {
  const values = (params ?? {}) as Record<string, unknown>;
  return template.replace(PARAM, (_, name: string) => {
    const value = values[name];
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new TypeError(`params.${name} must be a string or a number`);
    const text = String(value);
    // '.' and '..' would be removed by URL parsing and reach another endpoint.
    if (text === '' || text === '.' || text === '..')
      throw new TypeError(`params.${name} must not be empty, "." or ".."`);
    return encodeURIComponent(text);
  });
}

export class TypedApi<P> {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  get<K extends PathsWith<P, 'get'>>(
    path: K,
    ...[options]: CallArgs<OperationOf<P, K, 'get'>>
  ): Promise<SuccessBody<OperationOf<P, K, 'get'>>> {
    return this.call('get', path, options);
  }

  post<K extends PathsWith<P, 'post'>>(
    path: K,
    ...[options]: CallArgs<OperationOf<P, K, 'post'>>
  ): Promise<SuccessBody<OperationOf<P, K, 'post'>>> {
    return this.call('post', path, options);
  }

  put<K extends PathsWith<P, 'put'>>(
    path: K,
    ...[options]: CallArgs<OperationOf<P, K, 'put'>>
  ): Promise<SuccessBody<OperationOf<P, K, 'put'>>> {
    return this.call('put', path, options);
  }

  patch<K extends PathsWith<P, 'patch'>>(
    path: K,
    ...[options]: CallArgs<OperationOf<P, K, 'patch'>>
  ): Promise<SuccessBody<OperationOf<P, K, 'patch'>>> {
    return this.call('patch', path, options);
  }

  delete<K extends PathsWith<P, 'delete'>>(
    path: K,
    ...[options]: CallArgs<OperationOf<P, K, 'delete'>>
  ): Promise<SuccessBody<OperationOf<P, K, 'delete'>>> {
    return this.call('delete', path, options);
  }

  /** Every item of a list endpoint, page after page, following `nextCursor` until it is null. */
  async *paginate<K extends PaginatedPaths<P>>(
    path: K,
    ...[options]: CallArgs<OperationOf<P, K, 'get'>>
  ): AsyncGenerator<ItemOf<OperationOf<P, K, 'get'>>, void, undefined> {
    const base = (options ?? {}) as { query?: object };
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (;;) {
      const query = { ...base.query, ...(cursor !== undefined ? { cursor } : {}) };
      const page = (await this.call('get', path, { ...base, query })) as unknown;
      if (!isPage(page)) {
        throw new PortcullisError(`GET ${path}: the answer is not a page ({ items, nextCursor })`, {
          code: 'invalid_response',
          method: 'GET',
          path,
        });
      }
      for (const item of page.items) yield item as ItemOf<OperationOf<P, K, 'get'>>;
      if (page.nextCursor === null || page.nextCursor === undefined) return;
      // A server that hands out a cursor twice would otherwise keep us looping forever.
      if (seen.has(page.nextCursor)) {
        throw new PortcullisError(`GET ${path}: the server repeated a cursor`, {
          code: 'invalid_response',
          method: 'GET',
          path,
        });
      }
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  /** The untyped core of the methods above. */
  call<T>(method: HttpMethod, template: string, options: object | undefined): Promise<T> {
    const { params, query, body, signal, timeoutMs, headers, idempotent } = (options ?? {}) as {
      params?: object;
      query?: object;
      body?: unknown;
    } & CallExtras;
    const request: TransportRequest = { method: method.toUpperCase(), path: fillPath(template, params) };
    if (query !== undefined) request.query = query;
    if (body !== undefined) request.body = body;
    if (signal !== undefined) request.signal = signal;
    if (timeoutMs !== undefined) request.timeoutMs = timeoutMs;
    if (headers !== undefined) request.headers = headers;
    if (idempotent !== undefined) request.idempotent = idempotent;
    return this.#transport.request<T>(request);
  }
}

function isPage(value: unknown): value is { items: unknown[]; nextCursor?: string | null } {
  if (typeof value !== 'object' || value === null) return false;
  const { items, nextCursor } = value as { items?: unknown; nextCursor?: unknown };
  return (
    Array.isArray(items) &&
    (nextCursor === null || nextCursor === undefined || typeof nextCursor === 'string')
  );
}
