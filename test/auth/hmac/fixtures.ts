/** Shared set-up for the HMAC suites: a fixed clock, a signer and the parse-then-verify path. */
import { parseHmacAuthorization } from '../../../src/auth/hmac/header.js';
import { type BuildHmacOptions, buildHmacAuthorization, type HmacBody } from '../../../src/auth/hmac/sign.js';
import { type HmacVerdict, verifyHmacRequest } from '../../../src/auth/hmac/verify.js';
import { type Clock, ManualClock } from '../../../src/core/clock.js';
import type { HotState } from '../../../src/state/types.js';

export const START_MS = Date.UTC(2026, 0, 1);
export const NOW_S = START_MS / 1000;
export const WINDOW_S = 300;
export const CLIENT_ID = 'client-1';
export const SECRET = 'top-secret-0123456789';

export interface SignedRequest {
  method: string;
  target: string;
  body: Uint8Array;
  authorization: string;
  nonce: string;
  timestamp: number;
}

export const clockAtStart = () => new ManualClock(START_MS);

const toBytes = (body: HmacBody | undefined): Uint8Array =>
  body === undefined ? new Uint8Array(0) : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;

/** A request signed the way a client would, with a fresh nonce and the fixed clock's time. */
export function signRequest(options: Partial<BuildHmacOptions> = {}): SignedRequest {
  const method = options.method ?? 'POST';
  const target = options.target ?? '/v1/orders?x=1';
  const body = toBytes(options.body ?? '{"qty":2}');
  const { header, nonce, timestamp } = buildHmacAuthorization({
    clientId: CLIENT_ID,
    secret: SECRET,
    timestamp: NOW_S,
    ...options,
    method,
    target,
    body,
  });
  return { method, target, body, authorization: header, nonce, timestamp };
}

export interface CheckOptions {
  state: HotState;
  clock?: Clock;
  secrets?: readonly string[];
  windowS?: number;
}

/**
 * What the gateway does with a request: parse the header, then verify. A header the parser
 * refuses is answered like a wrong signature (invalid_credentials), without touching state.
 */
export async function check(
  request: Pick<SignedRequest, 'method' | 'target' | 'body' | 'authorization'>,
  options: CheckOptions,
): Promise<HmacVerdict> {
  const parsed = parseHmacAuthorization(request.authorization);
  if (!parsed.ok) return { ok: false, code: 'invalid_credentials', reason: parsed.reason };
  return verifyHmacRequest({
    header: parsed,
    method: request.method,
    target: request.target,
    body: request.body,
    secrets: options.secrets ?? [SECRET],
    windowS: options.windowS ?? WINDOW_S,
    state: options.state,
    clock: options.clock ?? clockAtStart(),
  });
}

/** The refusal code, or 'ok': keeps assertions to one readable line. */
export function outcome(verdict: HmacVerdict): string {
  return verdict.ok ? 'ok' : verdict.code;
}
