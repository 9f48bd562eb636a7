/**
 * IP address text normalization. One address must have exactly one spelling before it reaches
 * allow/deny lists, key-IP bindings or rate-limit keys: otherwise `::FFFF:1.2.3.4`,
 * `::ffff:102:304` and `1.2.3.4` would be three different clients (PRODUCT.md §8).
 */

const COLON = 0x3a;
const DOT = 0x2e;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Strict dotted-quad over text[start, end): four decimal octets 0–255, no leading zeros.
 * Leading zeros are refused because inet_aton-style parsers read `010` as octal 8, so the
 * same text would name two different hosts depending on who parses it.
 * Returns the 32-bit value, or -1.
 */
function parseIpv4Range(text: string, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (octets < 4) {
    const first = i;
    let octet = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      octet = octet * 10 + (c - 0x30);
      i++;
      if (i - first > 3) return -1;
    }
    const digits = i - first;
    if (digits === 0 || octet > 255 || (digits > 1 && text.charCodeAt(first) === 0x30)) return -1;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (i >= end || text.charCodeAt(i) !== DOT) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

/** True for a strict dotted-quad IPv4 literal (no leading zeros, no octal/hex/short forms). */
export function isStrictIpv4(text: string): boolean {
  return text.length <= 15 && parseIpv4Range(text, 0, text.length) >= 0;
}

/**
 * Parses an IPv6 address (RFC 4291 §2.2, including an embedded dotted-quad tail) over
 * text[start, end) into eight 16-bit groups. No zone id, no brackets. Linear, never throws.
 */
function parseIpv6Range(text: string, start: number, end: number): number[] | undefined {
  if (end - start < 2 || end - start > 45) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  let groups = head;
  let compressed = false;
  let i = start;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return undefined;
    compressed = true;
    groups = tail;
    i += 2;
  }
  while (i < end) {
    const first = i;
    let value = 0;
    while (i < end && i - first < 4) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      i++;
    }
    if (i < end && text.charCodeAt(i) === DOT) {
      // An embedded IPv4 tail (`::ffff:1.2.3.4`) must be the last two groups.
      const v4 = parseIpv4Range(text, first, end);
      if (v4 < 0) return undefined;
      groups.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
      i = end;
      break;
    }
    if (i === first) return undefined;
    groups.push(value);
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return undefined;
    i++;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (compressed) return undefined;
      compressed = true;
      groups = tail;
      i++;
    } else if (i === end) {
      return undefined;
    }
  }
  const count = head.length + tail.length;
  // "::" stands for one or more zero groups (RFC 4291 §2.2), so with it at most 7 are written.
  if (compressed ? count > 7 : count !== 8) return undefined;
  const out = head;
  for (let k = count; k < 8; k++) out.push(0);
  for (let k = 0; k < tail.length; k++) out[8 - tail.length + k] = tail[k]!;
  return out;
}

function isV4Mapped(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

function v4Text(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * RFC 5952 text: lower-case hex, no leading zeros, the longest run (first on a tie) of two or
 * more zero groups compressed to "::" (§4.2), and mixed notation for IPv4-mapped (§5).
 */
function formatIpv6(g: readonly number[]): string {
  if (isV4Mapped(g)) return `::ffff:${v4Text(g[6]!, g[7]!)}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? '::' : ':';
      i += bestLength - 1;
      continue;
    }
    out += g[i]!.toString(16);
    if (i < 7) out += ':';
  }
  return out;
}

/**
 * Canonical RFC 5952 text of an IPv6 literal without brackets or zone id, or undefined when
 * the text is not one.
 */
export function canonicalIpv6(text: string): string | undefined {
  const groups = parseIpv6Range(text, 0, text.length);
  return groups === undefined ? undefined : formatIpv6(groups);
}

/**
 * Socket remote address to canonical text: IPv4 as strict dotted-quad, IPv4-mapped IPv6 as
 * plain IPv4 (a dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`, and a deny rule
 * for `a.b.c.d` must still apply), other IPv6 in RFC 5952 form with the zone id dropped (zones
 * are interface-local and never part of an allow/deny decision). Anything else: undefined.
 */
export function normalizeIp(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const n = address.length;
  if (n === 0) return undefined;
  if (address.indexOf(':') === -1) return isStrictIpv4(address) ? address : undefined;
  let end = address.indexOf('%');
  if (end === -1) end = n;
  else if (end === n - 1) return undefined;
  const groups = parseIpv6Range(address, 0, end);
  if (groups === undefined) return undefined;
  if (isV4Mapped(groups)) return v4Text(groups[6]!, groups[7]!);
  return formatIpv6(groups);
}

/** The eight 16-bit groups of an IPv6 literal (no brackets, no zone), or undefined. */
export function ipv6Groups(text: string): number[] | undefined {
  return parseIpv6Range(text, 0, text.length);
}

/** Canonical text of eight IPv6 groups (RFC 5952). */
export function ipv6Text(groups: readonly number[]): string {
  return formatIpv6(groups);
}
