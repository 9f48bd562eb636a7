/**
 * The browser-safe part of the SDK (no node:crypto): the typed admin API over `fetch`. The web
 * console builds on it, so the console's calls are checked against the same OpenAPI types.
 */
export { type BreakerOptions, type BreakerState, CircuitBreaker } from './breaker.js';
export { isPortcullisError, PortcullisError, type Problem } from './errors.js';
export type { components, operations, paths } from './generated/admin-api.js';
export { createTransport, type Transport, type TransportOptions } from './transport.js';
export {
  type CallArgs,
  type CallExtras,
  type CallOptions,
  type HttpMethod,
  type ItemOf,
  type OperationOf,
  type Page,
  type PaginatedPaths,
  type PathsWith,
  type SuccessBody,
  TypedApi,
} from './typed-api.js';
