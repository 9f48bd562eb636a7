/**
 * Host header (or absolute-form authority) normalization, so route host matching sees one
 * spelling per host. Anything that is not plainly `name[:port]` or `[ipv6][:port]` is refused
 * rather than guessed at: proxies, caches and upstreams disagree on how to read the rest
 * (host-header attacks, cache poisoning with `Host: a.com,b.com` or `Host: a.com@b.com`).
 */
import { canonicalIpv6, isStrictIpv4 } from './ip.js';

export type HostResult =
  | { ok: true; hostname: string; port: number | undefined }
  | { ok: false; reason: string };

function fail(reason: string): { ok: false; reason: string } {
  return Object.freeze({ ok: false, reason });
}

const MISSING = fail('missing host');
const INVALID = fail('invalid host');
const INVALID_PORT = fail('invalid port');
const EMPTY_PORT = fail('empty port');
const INVALID_IPV6 = fail('invalid IPv6 address');
const INVALID_IPV4 = fail('invalid IPv4 address');
const EMPTY_LABEL = fail('empty label');
const LABEL_TOO_LONG = fail('label too long');
const TOO_LONG = fail('host too long');

const MAX_NAME = 253;
const MAX_LABEL = 63;

/** Port text over value[start, end): digits only, 1–65535; -1 when invalid. */
function parsePort(value: string, start: number, end: number): number {
  if (end - start > 5) return -1;
  let port = 0;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    port = port * 10 + (c - 0x30);
  }
  return port >= 1 && port <= 65535 ? port : -1;
}

function portResult(hostname: string, value: string, colon: number, secure: boolean): HostResult {
  if (colon === -1) return { ok: true, hostname, port: undefined };
  if (colon === value.length - 1) return EMPTY_PORT;
  const port = parsePort(value, colon + 1, value.length);
  // "user:pw@host" splits at the password's ':'; name the real problem.
  if (port === -1) return value.indexOf('@', colon) === -1 ? INVALID_PORT : INVALID;
  // The default port is the same origin with or without it (RFC 9110 §4.2.1, §4.2.2).
  return { ok: true, hostname, port: port === (secure ? 443 : 80) ? undefined : port };
}

function bracketed(value: string, secure: boolean): HostResult {
  const close = value.indexOf(']');
  if (close === -1) return INVALID_IPV6;
  // No zone id: RFC 6874 zones are meaningless to a server and "%" would be percent-encoding.
  const canonical = canonicalIpv6(value.slice(1, close));
  if (canonical === undefined) return INVALID_IPV6;
  let colon = -1;
  if (close !== value.length - 1) {
    if (value.charCodeAt(close + 1) !== 0x3a) return INVALID;
    colon = close + 1;
  }
  return portResult(`[${canonical}]`, value, colon, secure);
}

/**
 * Normalizes a Host value: lower-case, one trailing dot dropped, default port dropped,
 * IPv6 literals in RFC 5952 form inside brackets. `secure` picks the default port (443 or 80).
 */
export function normalizeHost(value: string | undefined, secure: boolean): HostResult {
  if (value === undefined || value.length === 0) return MISSING;
  if (value.charCodeAt(0) === 0x5b) return bracketed(value, secure);

  // One scan over the name: character class, label lengths, the port colon, and whether the
  // last label looks numeric. Common case ("api.example.com:8443") allocates only the result.
  const n = value.length;
  let colon = -1;
  let labelStart = 0;
  let upper = false;
  let numeric = true;
  let previousNumeric = false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2e) {
      if (i === labelStart) return EMPTY_LABEL;
      if (i - labelStart > MAX_LABEL) return LABEL_TOO_LONG;
      labelStart = i + 1;
      previousNumeric = numeric;
      numeric = true;
      continue;
    }
    if (c === 0x3a) {
      colon = i;
      break;
    }
    if (c >= 0x30 && c <= 0x39) continue;
    if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (!((c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f)) {
      // '@' userinfo, ',' from joined duplicate headers, '%', '/', '\\', spaces, controls and
      // non-ASCII (IDNs must arrive as punycode) all land here.
      return INVALID;
    }
    numeric = false;
  }
  // A second ':' outside brackets is an unbracketed IPv6 literal or junk; either way ambiguous.
  if (colon !== -1 && value.indexOf(':', colon + 1) !== -1) return INVALID;
  const nameEnd = colon === -1 ? n : colon;
  if (nameEnd === 0) return INVALID;
  // One trailing dot names the same host as none (an FQDN); it is dropped, never two.
  let end = nameEnd;
  if (labelStart === nameEnd) {
    end = nameEnd - 1;
    numeric = previousNumeric;
  } else if (nameEnd - labelStart > MAX_LABEL) {
    return LABEL_TOO_LONG;
  }
  if (end === 0) return EMPTY_LABEL;
  if (end > MAX_NAME) return TOO_LONG;
  let hostname = end === n ? value : value.slice(0, end);
  if (upper) hostname = hostname.toLowerCase();
  // WHATWG URL and inet_aton read a name whose last label is a number as IPv4 ("127.1",
  // "2130706433", "0x7f.1"), so such a name must be a strict dotted-quad or it could reach an
  // address that no route host pattern names.
  if ((numeric || isHexLabel(hostname)) && !isStrictIpv4(hostname)) return INVALID_IPV4;
  return portResult(hostname, value, colon, secure);
}

/** Last label "0x…" (hex digits) is read as a number by WHATWG URL's IPv4 parser. */
function isHexLabel(hostname: string): boolean {
  const dot = hostname.lastIndexOf('.');
  const start = dot + 1;
  if (hostname.length - start < 2) return false;
  if (hostname.charCodeAt(start) !== 0x30 || hostname.charCodeAt(start + 1) !== 0x78) return false;
  for (let i = start + 2; i < hostname.length; i++) {
    const c = hostname.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}
