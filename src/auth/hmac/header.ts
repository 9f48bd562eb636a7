/**
 * Parser for `Authorization: HMAC client_id="…",timestamp="…",nonce="…",signature="…"` (the
 * API Gatekeeper scheme). The grammar is deliberately narrower than RFC 9110 auth-params: no
 * token68, no quoted-pair escapes, no unknown or repeated parameters, and each value has a
 * character set that excludes `\n`, `"`, `,`, `:` and whitespace, so a value can neither shift
 * a field of the signed string (`METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY`) nor collide in the
 * nonce key (`hmac-nonce:<client_id>:<nonce>`).
 */

export interface ParsedHmac {
  clientId: string;
  /** Unix seconds. */
  timestamp: number;
  nonce: string;
  /** 64 lower-case hex characters. */
  signature: string;
}

export type HmacHeaderResult = ({ ok: true } & ParsedHmac) | { ok: false; reason: string };

/** Longest header accepted: a well-formed one is under 400 bytes, so more is abuse or a bug. */
export const MAX_HMAC_HEADER_LENGTH = 1024;

/** Character sets shared with sign.ts, so the signer can never emit a header the parser refuses. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const NONCE_PATTERN = /^[A-Za-z0-9._~-]{8,128}$/;
/**
 * Canonical decimal only: with leading zeros, `0017…` and `17…` would be two spellings of
 * one signed value, and a client signing the literal header text would fail to verify.
 */
export const TIMESTAMP_PATTERN = /^(?:0|[1-9][0-9]{0,11})$/;
export const SIGNATURE_PATTERN = /^[0-9a-fA-F]{64}$/;

type ParamName = 'client_id' | 'timestamp' | 'nonce' | 'signature';

const VALUE_PATTERNS: Readonly<Record<ParamName, RegExp>> = {
  client_id: CLIENT_ID_PATTERN,
  timestamp: TIMESTAMP_PATTERN,
  nonce: NONCE_PATTERN,
  signature: SIGNATURE_PATTERN,
};

const SCHEME = /^HMAC /i;
/** `name="value"`: the value stops at the first `"`, so an escaped quote leaves garbage behind and fails. */
const PARAM = /([A-Za-z0-9_-]+)="([^"]*)"/y;
const SEPARATOR = /[ \t]*,[ \t]*/y;

function isParamName(name: string): name is ParamName {
  return Object.hasOwn(VALUE_PATTERNS, name);
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Parse an Authorization header value. Never throws: every malformed input is `{ ok: false }`. */
export function parseHmacAuthorization(value: string): HmacHeaderResult {
  if (typeof value !== 'string') return refuse('authorization header is not a string');
  if (value.length > MAX_HMAC_HEADER_LENGTH) {
    return refuse(`authorization header is longer than ${MAX_HMAC_HEADER_LENGTH} characters`);
  }
  if (!SCHEME.test(value)) return refuse('authorization scheme is not "HMAC " followed by parameters');

  const params = new Map<ParamName, string>();
  let pos = 'HMAC '.length;
  for (;;) {
    PARAM.lastIndex = pos;
    const match = PARAM.exec(value);
    if (match === null) return refuse(`expected name="value" at offset ${pos}`);
    const [, name = '', raw = ''] = match;
    // Unknown names are not echoed: the reason may be logged and the name is attacker text.
    if (!isParamName(name)) return refuse('unknown parameter');
    if (params.has(name)) return refuse(`parameter ${name} appears more than once`);
    if (!VALUE_PATTERNS[name].test(raw)) return refuse(`parameter ${name} has an invalid value`);
    params.set(name, raw);
    pos = PARAM.lastIndex;
    if (pos === value.length) break;
    SEPARATOR.lastIndex = pos;
    if (SEPARATOR.exec(value) === null) return refuse(`unexpected character at offset ${pos}`);
    pos = SEPARATOR.lastIndex;
  }

  const clientId = params.get('client_id');
  const timestamp = params.get('timestamp');
  const nonce = params.get('nonce');
  const signature = params.get('signature');
  if (clientId === undefined) return refuse('parameter client_id is missing');
  if (timestamp === undefined) return refuse('parameter timestamp is missing');
  if (nonce === undefined) return refuse('parameter nonce is missing');
  if (signature === undefined) return refuse('parameter signature is missing');
  return {
    ok: true,
    clientId,
    timestamp: Number(timestamp),
    nonce,
    signature: signature.toLowerCase(),
  };
}
