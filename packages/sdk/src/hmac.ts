/**
 * HMAC request signing (PRODUCT §5, the API Gatekeeper scheme):
 *
 *   Authorization: HMAC client_id="<id>",timestamp="<unix s>",nonce="<nonce>",signature="<hex>"
 *   signature = hex HMAC-SHA256(secret, `METHOD\nTARGET\nTIMESTAMP\nNONCE\n` + raw body)
 *
 * This is the one signer: the gateway's verifier recomputes signatures with `canonicalString`
 * from here, and `portcullis sign` builds its curl command with it. Only `node:crypto` and
 * `Buffer` are used. Every input that ends up in the signed string is validated: a `\n` in the
 * method or target would let one signature cover a different split of the same bytes (target
 * `/a\n<ts>\n<nonce>` moving the real nonce into the body: a replay with a fresh nonce).
 */
import { createHmac, randomBytes } from 'node:crypto';

/**
 * Character sets of the header parameters. The gateway's parser (src/auth/hmac/header.ts) uses
 * the same expressions, checked by a test, so the signer never emits a header it refuses.
 */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const NONCE_PATTERN = /^[A-Za-z0-9._~-]{8,128}$/;
/**
 * Canonical decimal only: with leading zeros, `0017…` and `17…` would be two spellings of
 * one signed value, and a client signing the literal header text would fail to verify.
 */
export const TIMESTAMP_PATTERN = /^(?:0|[1-9][0-9]{0,11})$/;
/** RFC 9110 §9.1: a method is a token (tchar+). */
export const METHOD_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
/**
 * RFC 9112 §3.2: the request target is visible ASCII (non-ASCII must be percent-encoded). Anything
 * else is refused rather than encoded: the signature covers the bytes as sent, never a rewrite.
 */
export const TARGET_PATTERN = /^[\x21-\x7e]{1,8192}$/;

export type HmacBody = Uint8Array | string;

export interface HmacCredentials {
  clientId: string;
  secret: string;
}

function checkString(value: unknown, pattern: RegExp, field: string, rule: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new TypeError(`${field} must be ${rule}`);
  }
  return value;
}

function checkTimestamp(timestamp: unknown, field: string): number {
  if (
    typeof timestamp !== 'number' ||
    !Number.isSafeInteger(timestamp) ||
    !TIMESTAMP_PATTERN.test(String(timestamp))
  ) {
    throw new TypeError(`${field} must be a non-negative integer number of unix seconds (at most 12 digits)`);
  }
  return timestamp;
}

function checkSecret(secret: unknown, field: string): string {
  // An empty HMAC key is accepted by HMAC itself but makes every signature forgeable.
  if (typeof secret !== 'string' || secret.length === 0)
    throw new TypeError(`${field} must be a non-empty string`);
  return secret;
}

/** The body as the bytes that are signed (and must be sent): strings are UTF-8. */
export function bodyBytes(body: HmacBody | undefined, field = 'body'): Uint8Array {
  if (body === undefined) return new Uint8Array(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  throw new TypeError(`${field} must be a Uint8Array or a string`);
}

/** The exact bytes that are signed: `METHOD\nPATH\nTIMESTAMP\nNONCE\n` followed by the raw body. */
export function canonicalString(
  method: string,
  target: string,
  timestamp: number,
  nonce: string,
  body: Uint8Array,
): Buffer {
  checkString(method, METHOD_PATTERN, 'method', 'an HTTP method token (RFC 9110 tchar, 1-32 characters)');
  checkString(
    target,
    TARGET_PATTERN,
    'target',
    'the request target in visible ASCII (percent-encode the rest)',
  );
  checkTimestamp(timestamp, 'timestamp');
  checkString(nonce, NONCE_PATTERN, 'nonce', '8-128 characters of [A-Za-z0-9._~-]');
  if (!(body instanceof Uint8Array)) throw new TypeError('body must be a Uint8Array');
  const head = Buffer.from(`${method}\n${target}\n${timestamp}\n${nonce}\n`, 'latin1');
  return Buffer.concat([head, body]);
}

/** Lower-case hex HMAC-SHA256 of the canonical string under `secret` (UTF-8). */
export function computeSignature(
  secret: string,
  method: string,
  target: string,
  timestamp: number,
  nonce: string,
  body: HmacBody,
): string {
  const key = checkSecret(secret, 'secret');
  const message = canonicalString(method, target, timestamp, nonce, bodyBytes(body, 'body'));
  return createHmac('sha256', key).update(message).digest('hex');
}

/** 24 random bytes as base64url: 32 characters, all inside the nonce character set. */
export function randomNonce(): string {
  return randomBytes(24).toString('base64url');
}

export interface BuildHmacOptions extends HmacCredentials {
  method: string;
  /** The request target exactly as it will be sent: path and query, no fragment. */
  target: string;
  body?: HmacBody;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
  /** Defaults to 32 random base64url characters. */
  nonce?: string;
}

export interface HmacAuthorization {
  /** The value of the `Authorization` header. */
  header: string;
  timestamp: number;
  nonce: string;
}

export function buildHmacAuthorization(options: BuildHmacOptions): HmacAuthorization {
  const clientId = checkString(
    options.clientId,
    CLIENT_ID_PATTERN,
    'clientId',
    '1-64 characters of [A-Za-z0-9._-]',
  );
  const timestamp =
    options.timestamp === undefined
      ? Math.floor(Date.now() / 1000)
      : checkTimestamp(options.timestamp, 'timestamp');
  const nonce = options.nonce ?? randomNonce();
  const signature = computeSignature(
    options.secret,
    options.method,
    options.target,
    timestamp,
    nonce,
    bodyBytes(options.body, 'body'),
  );
  const header = `HMAC client_id="${clientId}",timestamp="${timestamp}",nonce="${nonce}",signature="${signature}"`;
  return { header, timestamp, nonce };
}

/**
 * The request target `fetch` sends for `url`: WHATWG URL parsing (percent-encoding,
 * dot-segment removal) happens first, then undici writes `pathname + search`. Signing that
 * string, not the text the caller typed, is what makes the signature match on the server.
 */
export function fetchTarget(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('url must be an absolute http:// or https:// URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TypeError('url must be an absolute http:// or https:// URL');
  return parsed.pathname + parsed.search;
}

export interface SignedFetchOptions extends HmacCredentials {
  /** Unix seconds; defaults to now. */
  timestamp?: number;
  /** Defaults to 32 random base64url characters. */
  nonce?: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/** Bodies whose bytes are known before sending; streams and forms would be encoded by fetch. */
function signableBody(body: RequestInit['body']): Uint8Array | string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('init.body must be a string, a Uint8Array, an ArrayBuffer or absent to be signed');
}

/** Fetch upper-cases these six methods and sends any other as given (WHATWG Fetch §2.2.1). */
const FETCH_NORMALIZED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

function normalizeMethod(method: string): string {
  const upper = method.toUpperCase();
  return FETCH_NORMALIZED.has(upper) ? upper : method;
}

/**
 * `fetch(url, init)` with an HMAC `Authorization` header over the method, the request target
 * and the body as sent. The body must be given as bytes or a string (it is signed whole).
 */
export function signedFetch(
  url: string | URL,
  init: RequestInit | undefined,
  options: SignedFetchOptions,
): Promise<Response> {
  const target = fetchTarget(url);
  const method = normalizeMethod(init?.method ?? 'GET');
  const body = signableBody(init?.body);
  const headers = new Headers(init?.headers);
  // Two Authorization headers would leave it to the server which one counts.
  if (headers.has('authorization')) throw new TypeError('init.headers must not carry Authorization');
  const { header } = buildHmacAuthorization({
    clientId: options.clientId,
    secret: options.secret,
    method,
    target,
    ...(body !== undefined ? { body } : {}),
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
    ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
  });
  headers.set('authorization', header);
  const send = options.fetch ?? globalThis.fetch;
  return send(url, { ...init, method, headers, ...(body !== undefined ? { body } : {}) });
}
