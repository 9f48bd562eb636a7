/**
 * @portcullis/sdk: the admin API client, the verification API client and the HMAC request
 * signer of Portcullis. Zero runtime dependencies (global fetch, node:crypto).
 */
export { type AdminOptions, type AdminPaths, PortcullisAdmin } from './admin.js';
export { type BreakerOptions, type BreakerState, CircuitBreaker } from './breaker.js';
export {
  type ClientErrorCode,
  isPortcullisError,
  PortcullisError,
  type PortcullisErrorInit,
  type Problem,
} from './errors.js';
export type { components, operations, paths } from './generated/admin-api.js';
export {
  type BuildHmacOptions,
  buildHmacAuthorization,
  canonicalString,
  computeSignature,
  fetchTarget,
  type HmacAuthorization,
  type HmacBody,
  type HmacCredentials,
  randomNonce,
  type SignedFetchOptions,
  signedFetch,
} from './hmac.js';
export { type SignedCurlOptions, signedCurl } from './signed-curl.js';
export {
  type BackoffOptions,
  createTransport,
  type QueryValue,
  type Transport,
  type TransportOptions,
  type TransportRequest,
} from './transport.js';
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
export {
  PortcullisVerifier,
  type VerifierOptions,
  type VerifyAuthorizationInput,
  type VerifyContext,
  type VerifyKeyInput,
  type VerifyResult,
} from './verify.js';
export { SDK_VERSION } from './version.js';
