/**
 * Server side of HMAC request signing. The checks run cheapest-and-public first and the one
 * with a side effect last: (a) timestamp window, (b) signature, (c) nonce. The nonce is only
 * recorded once the signature is proven, so an unauthenticated attacker who sees (or guesses)
 * a client's nonce cannot burn it ahead of the real request. A refusal is a verdict; a fault of
 * the hot state rejects, so the caller answers 503 and never mistakes an outage for a 401.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { HotState } from '../../state/types.js';
import { CLIENT_ID_PATTERN, NONCE_PATTERN, type ParsedHmac, SIGNATURE_PATTERN } from './header.js';
import { canonicalString, METHOD_PATTERN, TARGET_PATTERN } from './sign.js';

export type HmacRefusalCode = 'invalid_credentials' | 'signature_expired' | 'replayed_request';

export type HmacVerdict = { ok: true } | { ok: false; code: HmacRefusalCode; reason: string };

export interface HmacVerifierOptions {
  /** Accepted clock skew either way, in whole seconds (PRODUCT §5: 300). Nonces live twice as long. */
  windowS: number;
  /** Where nonces are remembered; must be shared (Redis) when several gateways serve one client. */
  state: HotState;
  clock: Clock;
}

export interface HmacRequest {
  header: ParsedHmac;
  /** As received (`req.method`), not normalised: the client signed what it sent. */
  method: string;
  /** The request target exactly as received (`req.url`): path and query, undecoded. */
  target: string;
  /** The raw body bytes (empty when there is none). */
  body: Uint8Array;
  /**
   * The client's current secret and any still inside their rotation overlap. Pass `[]` for an
   * unknown client: the answer (invalid_credentials) and the work done match a wrong signature.
   */
  secrets: readonly string[];
}

export type HmacVerifier = (request: HmacRequest) => Promise<HmacVerdict>;

/** Upper bound on the window: a day of skew is already a day of replay exposure for a stolen header. */
export const MAX_WINDOW_S = 86_400;
export const NONCE_KEY_PREFIX = 'hmac-nonce:';

/** Key for unknown clients, so their requests cost one HMAC like everyone else's (no timing oracle). */
const DECOY_SECRET = randomBytes(32);

function refuse(code: HmacRefusalCode, reason: string): HmacVerdict {
  return { ok: false, code, reason };
}

function checkWindow(windowS: unknown): number {
  // 0 is not "unchecked": it would accept nothing, and a negative window would invert the test.
  if (
    typeof windowS !== 'number' ||
    !Number.isSafeInteger(windowS) ||
    windowS < 1 ||
    windowS > MAX_WINDOW_S
  ) {
    throw new TypeError(
      `windowS must be an integer number of seconds from 1 to ${MAX_WINDOW_S} (got ${String(windowS)})`,
    );
  }
  return windowS;
}

function checkRequest(request: HmacRequest): void {
  if (!(request.body instanceof Uint8Array)) throw new TypeError('body must be a Uint8Array');
  if (!Array.isArray(request.secrets)) throw new TypeError('secrets must be an array of strings');
  for (const secret of request.secrets) {
    // An empty key would make HMAC forgeable by anyone; that is a configuration fault, not a refusal.
    if (typeof secret !== 'string' || secret.length === 0)
      throw new TypeError('secrets must be non-empty strings');
  }
}

/** Fields re-checked here as well as in the parser: a ParsedHmac may be built by other code. */
function malformed(header: ParsedHmac): string | undefined {
  if (typeof header !== 'object' || header === null) return 'credentials are missing';
  if (typeof header.clientId !== 'string' || !CLIENT_ID_PATTERN.test(header.clientId))
    return 'client_id is malformed';
  if (!Number.isSafeInteger(header.timestamp) || header.timestamp < 0) return 'timestamp is malformed';
  if (typeof header.nonce !== 'string' || !NONCE_PATTERN.test(header.nonce)) return 'nonce is malformed';
  if (typeof header.signature !== 'string' || !SIGNATURE_PATTERN.test(header.signature)) {
    return 'signature is not 64 hex characters';
  }
  return undefined;
}

/**
 * Validate the options once and return the per-request check. Throws a TypeError on a bad
 * window; the returned function rejects only on a caller bug or a hot-state fault.
 */
export function createHmacVerifier(options: HmacVerifierOptions): HmacVerifier {
  const windowS = checkWindow(options.windowS);
  const { state, clock } = options;
  const windowMs = windowS * 1000;
  // A nonce must outlive every moment its timestamp is acceptable: first seen at most
  // windowS before its timestamp, accepted until windowS after it.
  const nonceTtlMs = 2 * windowMs;

  return async (request) => {
    checkRequest(request);
    const { header } = request;
    const bad = malformed(header);
    if (bad !== undefined) return refuse('invalid_credentials', bad);

    // (a) Freshness first: cheap, public, and bounds how long a nonce must be remembered.
    const skewMs = header.timestamp * 1000 - clock.now();
    if (Math.abs(skewMs) > windowMs) {
      return refuse(
        'signature_expired',
        `timestamp is ${Math.round(skewMs / 1000)} s from the server clock (window ±${windowS} s)`,
      );
    }

    // (b) Signature. A method or target outside the signable alphabet could carry a `\n` and
    // re-split the signed string (field shifting), so it fails closed instead of being signed.
    if (typeof request.method !== 'string' || !METHOD_PATTERN.test(request.method)) {
      return refuse('invalid_credentials', 'request method cannot be signed');
    }
    if (typeof request.target !== 'string' || !TARGET_PATTERN.test(request.target)) {
      return refuse('invalid_credentials', 'request target is not visible ASCII');
    }
    const message = canonicalString(
      request.method,
      request.target,
      header.timestamp,
      header.nonce,
      request.body,
    );
    const provided = Buffer.from(header.signature, 'hex');
    const candidates: readonly (string | Buffer)[] =
      request.secrets.length > 0 ? request.secrets : [DECOY_SECRET];
    let matched = false;
    for (const secret of candidates) {
      const expected = createHmac('sha256', secret).update(message).digest();
      // Every candidate is compared in constant time and none short-circuits, so the time
      // taken depends on how many secrets the client has, not on which one (if any) matched.
      const equal = expected.length === provided.length && timingSafeEqual(expected, provided);
      matched = equal || matched;
    }
    if (!matched || request.secrets.length === 0)
      return refuse('invalid_credentials', 'signature does not match');

    // (c) Nonce, only now that the request is authentic. A state fault rejects (503 upstream).
    const fresh = await state.setIfAbsent(
      `${NONCE_KEY_PREFIX}${header.clientId}:${header.nonce}`,
      '1',
      nonceTtlMs,
    );
    if (!fresh) return refuse('replayed_request', 'nonce was already used within the window');
    return { ok: true };
  };
}

/** One-shot form of `createHmacVerifier`; throws synchronously on a bad window. */
export function verifyHmacRequest(input: HmacRequest & HmacVerifierOptions): Promise<HmacVerdict> {
  return createHmacVerifier(input)(input);
}
