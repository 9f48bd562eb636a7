/**
 * Client side of HMAC request signing. The signer lives in the SDK (packages/sdk/src/hmac.ts)
 * so that the gateway's verifier, `portcullis sign` and SDK users sign with the very same
 * code; it is re-exported here for the gateway's own modules and tests.
 */
export {
  type BuildHmacOptions,
  buildHmacAuthorization,
  canonicalString,
  computeSignature,
  type HmacAuthorization,
  type HmacBody,
  METHOD_PATTERN,
  randomNonce,
  TARGET_PATTERN,
} from '@portcullis/sdk/hmac';
export { curlTarget, type SignedCurlOptions, shellQuote, signedCurl } from '@portcullis/sdk/signed-curl';
