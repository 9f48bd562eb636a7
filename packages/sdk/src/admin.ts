/**
 * Client of the admin REST API (`/admin/api/…`, PRODUCT §11). Every call is typed from the
 * OpenAPI document the API serves (src/generated/admin-api.ts, `npm run sdk:generate`):
 * `admin.api.get('/admin/api/clients/{id}', { params: { id } })` for any endpoint, and
 * resource groups (`admin.clients.list()`, `.get(id)`, `.create(body)`, …) for the common ones.
 */
import type { paths } from './generated/admin-api.js';
import {
  creatable,
  exportable,
  itemAction,
  itemQuery,
  listable,
  query,
  readable,
  removable,
  updatable,
} from './resource.js';
import {
  createTransport,
  type Transport,
  type TransportOptions,
  type TransportRequest,
} from './transport.js';
import {
  type CallArgs,
  type CallExtras,
  type ItemOf,
  type OperationOf,
  type PaginatedPaths,
  TypedApi,
} from './typed-api.js';

export type AdminPaths = paths;

export interface AdminOptions extends Omit<TransportOptions, 'baseUrl' | 'token'> {
  /** The admin listener, e.g. `http://127.0.0.1:8081` (paths start with /admin/api). */
  url: string | URL;
  /** An API token (`pclsvc_…`, role admin or viewer) or a session token. */
  token: string;
}

type Api = TypedApi<paths>;

function clientsGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/clients'),
    ...readable(api, '/admin/api/clients/{id}'),
    ...creatable(api, '/admin/api/clients'),
    ...updatable(api, 'patch', '/admin/api/clients/{id}'),
    ...removable(api, '/admin/api/clients/{id}'),
    suspend: itemAction(api, '/admin/api/clients/{id}/suspend'),
    revoke: itemAction(api, '/admin/api/clients/{id}/revoke'),
    activate: itemAction(api, '/admin/api/clients/{id}/activate'),
    /** Issue a new HMAC signing secret; the answer shows it once. */
    createHmacSecret: itemAction(api, '/admin/api/clients/{id}/hmac-secrets'),
  };
}

function keysGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/keys'),
    ...readable(api, '/admin/api/keys/{id}'),
    /** Create a key; the answer carries the plaintext key once. */
    ...creatable(api, '/admin/api/keys'),
    ...updatable(api, 'patch', '/admin/api/keys/{id}'),
    revoke: itemAction(api, '/admin/api/keys/{id}/revoke'),
    /** New secret, same lineage (limits, quota and budget are shared); the old one stays valid for a grace period. */
    rotate: itemAction(api, '/admin/api/keys/{id}/rotate'),
    usage: itemQuery(api, '/admin/api/keys/{id}/usage'),
  };
}

function routesGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/routes'),
    ...readable(api, '/admin/api/routes/{id}'),
    ...creatable(api, '/admin/api/routes'),
    ...updatable(api, 'patch', '/admin/api/routes/{id}'),
    /** Replace the whole route (PUT). */
    replace: updatable(api, 'put', '/admin/api/routes/{id}').update,
    ...removable(api, '/admin/api/routes/{id}'),
  };
}

function grantsGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/grants'),
    ...creatable(api, '/admin/api/grants'),
    get: (client: string, route: string, extras?: CallExtras) =>
      api.get('/admin/api/grants/{client}/{route}', { ...extras, params: { client, route } }),
    remove: (client: string, route: string, extras?: CallExtras) =>
      api.delete('/admin/api/grants/{client}/{route}', { ...extras, params: { client, route } }),
  };
}

function policiesGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/policies'),
    ...readable(api, '/admin/api/policies/{id}'),
    ...creatable(api, '/admin/api/policies'),
    ...updatable(api, 'patch', '/admin/api/policies/{id}'),
    replace: updatable(api, 'put', '/admin/api/policies/{id}').update,
    ...removable(api, '/admin/api/policies/{id}'),
  };
}

function jwtProvidersGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/jwt-providers'),
    ...readable(api, '/admin/api/jwt-providers/{id}'),
    ...creatable(api, '/admin/api/jwt-providers'),
    ...updatable(api, 'patch', '/admin/api/jwt-providers/{id}'),
    ...removable(api, '/admin/api/jwt-providers/{id}'),
  };
}

/** Live settings: read, override (on every instance, no restart), reset to the configured value. */
function settingsGroup(api: Api) {
  return {
    list: () => api.get('/admin/api/settings', {}),
    set: (body: paths['/admin/api/settings']['patch']['requestBody']['content']['application/json']) =>
      api.patch('/admin/api/settings', { body }),
    unset: (key: string) => api.delete('/admin/api/settings/{key}', { params: { key } }),
  };
}

function bindingsGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/bindings'),
    ...readable(api, '/admin/api/bindings/{keyId}'),
    ...updatable(api, 'patch', '/admin/api/bindings/{keyId}'),
    unbind: itemAction(api, '/admin/api/bindings/{keyId}/unbind'),
    rebind: itemAction(api, '/admin/api/bindings/{keyId}/rebind'),
    ban: itemAction(api, '/admin/api/bindings/{keyId}/ban'),
    unban: itemAction(api, '/admin/api/bindings/{keyId}/unban'),
  };
}

function blocksGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/blocks'),
    ...readable(api, '/admin/api/blocks/{id}'),
    ...creatable(api, '/admin/api/blocks'),
    ...removable(api, '/admin/api/blocks/{id}'),
  };
}

function tokensGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/tokens'),
    ...readable(api, '/admin/api/tokens/{id}'),
    /** Create an API token (roles admin, viewer, verifier); the answer shows it once. */
    ...creatable(api, '/admin/api/tokens'),
    revoke: itemAction(api, '/admin/api/tokens/{id}/revoke'),
  };
}

function usersGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/users'),
    ...readable(api, '/admin/api/users/{id}'),
    ...creatable(api, '/admin/api/users'),
    ...updatable(api, 'patch', '/admin/api/users/{id}'),
    ...removable(api, '/admin/api/users/{id}'),
  };
}

/**
 * What the anomaly detector found: `list`/`paginate` with filters (status, signal,
 * identityKind, identity, since, until), `get` with the alert's deliveries and the block in
 * force, `resolve` (lifts the detector's own block unless `keepBlock`), and `run` (the
 * detector of the gateway called, on the interval in progress; 409 `conflict` when off).
 */
function anomaliesGroup(api: Api) {
  return {
    ...listable(api, '/admin/api/anomalies'),
    ...readable(api, '/admin/api/anomalies/{id}'),
    resolve: itemAction(api, '/admin/api/anomalies/{id}/resolve'),
    run: (extras?: CallExtras) => api.post('/admin/api/anomalies/run', { ...extras, body: {} }),
  };
}

/**
 * Live gateway instances, from their heartbeats in the shared state: `list()` gives id,
 * version, host, pid, worker slot, listener addresses, state backend, degraded rate-limit mode
 * and last beat of each (with state in memory, only the instance called).
 */
function instancesGroup(api: Api) {
  return {
    list: (extras?: CallExtras) => api.call('get', '/admin/api/instances', { ...extras }),
  };
}

function telemetryGroups(api: Api, transport: Transport) {
  return {
    logs: {
      ...listable(api, '/admin/api/logs'),
      export: exportable<paths, '/admin/api/logs/export'>(transport, '/admin/api/logs/export'),
    },
    intercepts: {
      ...listable(api, '/admin/api/intercepts'),
      export: exportable<paths, '/admin/api/intercepts/export'>(transport, '/admin/api/intercepts/export'),
    },
    audit: listable(api, '/admin/api/audit'),
    usage: query(api, '/admin/api/usage'),
  };
}

export class PortcullisAdmin {
  readonly transport: Transport;
  /** Every endpoint of the document, typed: `api.get`, `api.post`, …, `api.paginate`. */
  readonly api: TypedApi<paths>;
  readonly clients: ReturnType<typeof clientsGroup>;
  readonly keys: ReturnType<typeof keysGroup>;
  readonly routes: ReturnType<typeof routesGroup>;
  readonly grants: ReturnType<typeof grantsGroup>;
  readonly policies: ReturnType<typeof policiesGroup>;
  readonly jwtProviders: ReturnType<typeof jwtProvidersGroup>;
  readonly settings: ReturnType<typeof settingsGroup>;
  readonly bindings: ReturnType<typeof bindingsGroup>;
  readonly blocks: ReturnType<typeof blocksGroup>;
  readonly tokens: ReturnType<typeof tokensGroup>;
  readonly users: ReturnType<typeof usersGroup>;
  /** Request records: `list`/`paginate` with filters, `export` streamed as NDJSON or CSV. */
  readonly logs: ReturnType<typeof telemetryGroups>['logs'];
  readonly intercepts: ReturnType<typeof telemetryGroups>['intercepts'];
  readonly audit: ReturnType<typeof telemetryGroups>['audit'];
  /** Usage roll-ups by key or client and time bucket. */
  readonly usage: ReturnType<typeof telemetryGroups>['usage'];
  /** Anomalies: list, get (deliveries, block), resolve, run the detector now. */
  readonly anomalies: ReturnType<typeof anomaliesGroup>;
  /** Live gateway instances and their state. */
  readonly instances: ReturnType<typeof instancesGroup>;

  constructor(options: AdminOptions) {
    const { url, token, ...rest } = options;
    if (typeof token !== 'string' || token === '') throw new TypeError('token must be a non-empty string');
    this.transport = createTransport({ ...rest, baseUrl: url, token });
    this.api = new TypedApi<paths>(this.transport);
    this.clients = clientsGroup(this.api);
    this.keys = keysGroup(this.api);
    this.routes = routesGroup(this.api);
    this.grants = grantsGroup(this.api);
    this.policies = policiesGroup(this.api);
    this.jwtProviders = jwtProvidersGroup(this.api);
    this.settings = settingsGroup(this.api);
    this.bindings = bindingsGroup(this.api);
    this.blocks = blocksGroup(this.api);
    this.tokens = tokensGroup(this.api);
    this.users = usersGroup(this.api);
    const telemetry = telemetryGroups(this.api, this.transport);
    this.logs = telemetry.logs;
    this.intercepts = telemetry.intercepts;
    this.audit = telemetry.audit;
    this.usage = telemetry.usage;
    this.anomalies = anomaliesGroup(this.api);
    this.instances = instancesGroup(this.api);
  }

  /** Any call, untyped (the answer's JSON as `T`). */
  request<T = unknown>(request: TransportRequest): Promise<T> {
    return this.transport.request<T>(request);
  }

  /** The raw Response of a 2xx answer, for streamed exports (NDJSON, CSV). */
  requestRaw(request: TransportRequest): Promise<Response> {
    return this.transport.requestRaw(request);
  }

  /** Every item of a list endpoint, following `nextCursor`: `for await (const c of admin.paginate(path))`. */
  paginate<K extends PaginatedPaths<paths>>(
    path: K,
    ...args: CallArgs<OperationOf<paths, K, 'get'>>
  ): AsyncGenerator<ItemOf<OperationOf<paths, K, 'get'>>, void, undefined> {
    return this.api.paginate(path, ...args);
  }
}
