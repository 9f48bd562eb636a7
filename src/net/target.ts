/**
 * Request-target splitting (RFC 9112 §3.2). Only origin-form and absolute-form address a
 * resource a gateway forwards; asterisk-form (OPTIONS *) and authority-form (CONNECT) are
 * refused, as is anything else. The path is returned raw for normalizePath, the query raw
 * (with its '?') because it is forwarded byte for byte.
 */

export type TargetResult =
  | {
      ok: true;
      /** Present for absolute-form only; compare it with Host (RFC 9112 §3.2.2). */
      authority: string | undefined;
      scheme: 'http' | 'https' | undefined;
      pathname: string;
      /** Raw query including the leading '?', or ''. */
      query: string;
    }
  | { ok: false; reason: string };

function fail(reason: string): { ok: false; reason: string } {
  return Object.freeze({ ok: false, reason });
}

const EMPTY = fail('empty request-target');
const FRAGMENT = fail('fragment');
const CONTROL = fail('control character');
const ASTERISK = fail('asterisk-form');
const AUTHORITY_FORM = fail('authority-form');
const INVALID = fail('invalid request-target');
const SCHEME = fail('unsupported scheme');
const NO_AUTHORITY = fail('missing authority');
const USERINFO = fail('userinfo');

const SLASH = 0x2f;
const QUESTION = 0x3f;
const HASH = 0x23;

/**
 * Index of the first '?', or -1; -2 when the target holds a '#' (a fragment is never sent by a
 * conforming client, and intermediaries disagree on whether it ends the path) and -3 for a
 * control character (CR/LF in a forwarded query is header injection on the next hop).
 */
function scan(raw: string): number {
  let question = -1;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === HASH) return -2;
    if (c < 0x20 || c === 0x7f) return -3;
    if (c === QUESTION && question === -1) question = i;
  }
  return question;
}

function schemeOf(raw: string): 'http' | 'https' | undefined | null {
  // null: no "scheme://" prefix at all; undefined: a scheme we do not serve.
  const colon = raw.indexOf('://');
  if (colon <= 0) return null;
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )   (RFC 3986 §3.1)
  for (let i = 0; i < colon; i++) {
    const c = raw.charCodeAt(i);
    const lower = c | 0x20;
    if (lower >= 0x61 && lower <= 0x7a) continue;
    if (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) continue;
    return null;
  }
  const scheme = raw.slice(0, colon).toLowerCase();
  if (scheme === 'http' || scheme === 'https') return scheme;
  return undefined;
}

export function splitTarget(raw: string): TargetResult {
  if (raw.length === 0) return EMPTY;
  const question = scan(raw);
  if (question === -2) return FRAGMENT;
  if (question === -3) return CONTROL;
  const pathEnd = question === -1 ? raw.length : question;
  const query = question === -1 ? '' : raw.slice(question);

  if (raw.charCodeAt(0) === SLASH) {
    const pathname = pathEnd === raw.length ? raw : raw.slice(0, pathEnd);
    return { ok: true, authority: undefined, scheme: undefined, pathname, query };
  }
  if (raw === '*') return ASTERISK;

  const scheme = schemeOf(raw);
  if (scheme === undefined) return SCHEME;
  if (scheme === null) {
    // "host:port" with no slash is CONNECT's authority-form; anything else is not a target.
    return raw.indexOf('/') === -1 && raw.indexOf(':') > 0 ? AUTHORITY_FORM : INVALID;
  }
  const authorityStart = scheme.length + 3;
  let authorityEnd = raw.indexOf('/', authorityStart);
  if (authorityEnd === -1 || authorityEnd > pathEnd) authorityEnd = pathEnd;
  if (authorityEnd === authorityStart) return NO_AUTHORITY;
  const authority = raw.slice(authorityStart, authorityEnd);
  // Userinfo in an http(s) target is deprecated and a phishing/host-confusion vector
  // ("http://good.com@evil.com/"): RFC 9110 §4.2.4 says to treat it as an error.
  if (authority.indexOf('@') !== -1) return USERINFO;
  const pathname = authorityEnd === pathEnd ? '/' : raw.slice(authorityEnd, pathEnd);
  return { ok: true, authority, scheme, pathname, query };
}
