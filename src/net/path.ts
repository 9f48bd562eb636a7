/**
 * Path normalization. The gateway normalizes once and uses the result both to match routes and
 * as the path forwarded upstream (PRODUCT.md §6), so every spelling trick that could make an
 * upstream see a path other than the one matched is either canonicalized here or refused:
 * dot segments (raw or percent-encoded), repeated slashes, encoded '/' and '\', NUL and other
 * controls, Tomcat/Jetty-style ';' parameters, and letter case for case-insensitive upstreams.
 *
 * A clean path (the common case) is recognized by one scan and returned as-is; only other
 * paths take the slower rebuilding pass. Both are linear in the input and never throw.
 */

export interface PathOptions {
  /** Lower-case ASCII letters: the upstream treats paths case-insensitively. */
  caseInsensitive?: boolean;
  /** Keep ';' matrix parameters (default false: any ';' is refused). */
  allowSemicolons?: boolean;
}

export type PathResult = { ok: true; path: string } | { ok: false; reason: string };

function fail(reason: string): { ok: false; reason: string } {
  return Object.freeze({ ok: false, reason });
}

const NOT_ABSOLUTE = fail('not absolute');
const BACKSLASH = fail('backslash');
const INVALID_PERCENT = fail('invalid percent-encoding');
const ENCODED_SLASH = fail('encoded slash');
const ENCODED_BACKSLASH = fail('encoded backslash');
const ENCODED_CONTROL = fail('encoded control character');
const CONTROL = fail('control character');
const INVALID_CHARACTER = fail('invalid character');
const SEMICOLON = fail('semicolon');
const DOT_PARAMETERS = fail('dot segment with parameters');
const ESCAPES_ROOT = fail('escapes the root');

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const SEMI = 0x3b;

// Character classes for ASCII code units.
const UNRESERVED = 1; // ALPHA DIGIT - . _ ~  (decoded when percent-encoded, RFC 3986 §2.3)
const SUB_DELIM = 2; // ! $ & ' ( ) * + , = : @  — allowed raw in a segment (pchar), minus ';'
const UPPER = 4; // A-Z

const CLASS = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = UNRESERVED;
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = UNRESERVED | UPPER;
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = UNRESERVED;
for (const ch of '-._~') CLASS[ch.charCodeAt(0)] = UNRESERVED;
for (const ch of "!$&'()*+,=:@") CLASS[ch.charCodeAt(0)] = SUB_DELIM;

/** '%XX' with upper-case hex for every byte value. */
const ESCAPE: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
);

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function upperHexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Encoded bytes that are refused outright: '/', '\' and controls change what a server sees. */
function refusedByte(b: number): PathResult | undefined {
  if (b === 0x2f) return ENCODED_SLASH;
  if (b === 0x5c) return ENCODED_BACKSLASH;
  if (b < 0x20 || b === 0x7f) return ENCODED_CONTROL;
  return undefined;
}

/**
 * Segment p[start, end) in a clean path: not '.', not '..', and not starting ".%" or "..%"
 * (those may decode to a dot segment or a dot segment with `%3B` parameters).
 */
function dotSafe(p: string, start: number, end: number): boolean {
  if (end === start || p.charCodeAt(start) !== DOT) return true;
  if (end - start === 1) return false;
  const second = p.charCodeAt(start + 1);
  if (second === PERCENT) return false;
  if (second !== DOT) return true;
  return end - start > 2 && p.charCodeAt(start + 2) !== PERCENT;
}

/**
 * The fast-path predicate: true when normalizePath(p, options) would return p unchanged, and
 * cheaply decidable. Conservative: a false answer only means "take the slow path".
 * Clean: starts with '/', no empty segment except a trailing one, no dot-like segment, only
 * unreserved/sub-delim/':'/'@' characters (no ';'), percent-escapes only in upper-case hex for
 * bytes that stay encoded, and no A–Z when caseInsensitive.
 */
export function isCleanPath(p: string, options?: PathOptions): boolean {
  const n = p.length;
  if (n === 0 || p.charCodeAt(0) !== SLASH) return false;
  // An encoded '%' needs the slow path's double-encoding check.
  if (p.includes('%25')) return false;
  const letterMask = options?.caseInsensitive === true ? UPPER : 0;
  let segmentStart = 1;
  for (let i = 1; i < n; i++) {
    const c = p.charCodeAt(i);
    if (c === SLASH) {
      if (i === segmentStart || !dotSafe(p, segmentStart, i)) return false;
      segmentStart = i + 1;
      continue;
    }
    if (c < 128) {
      const k = CLASS[c]!;
      if (k !== 0) {
        if ((k & letterMask) !== 0) return false;
        continue;
      }
    }
    if (c !== PERCENT || i + 2 >= n) return false;
    const hi = upperHexValue(p.charCodeAt(i + 1));
    const lo = upperHexValue(p.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return false;
    const b = hi * 16 + lo;
    if ((b < 128 && (CLASS[b]! & UNRESERVED) !== 0) || refusedByte(b) !== undefined) return false;
    i += 2;
  }
  return dotSafe(p, segmentStart, n);
}

/** Appends code point cp (a non-ASCII scalar value) as percent-encoded UTF-8. */
function utf8Escape(cp: number): string {
  if (cp < 0x800) return ESCAPE[0xc0 | (cp >> 6)]! + ESCAPE[0x80 | (cp & 0x3f)]!;
  if (cp < 0x10000) {
    return ESCAPE[0xe0 | (cp >> 12)]! + ESCAPE[0x80 | ((cp >> 6) & 0x3f)]! + ESCAPE[0x80 | (cp & 0x3f)]!;
  }
  return (
    ESCAPE[0xf0 | (cp >> 18)]! +
    ESCAPE[0x80 | ((cp >> 12) & 0x3f)]! +
    ESCAPE[0x80 | ((cp >> 6) & 0x3f)]! +
    ESCAPE[0x80 | (cp & 0x3f)]!
  );
}

function isDotName(s: string): boolean {
  return s === '.' || s === '..';
}

/**
 * The careful path: rebuilds the path segment by segment. Exported for tests that check it
 * agrees with the fast path; callers use normalizePath.
 * @internal
 */
export function normalizePathSlow(p: string, options?: PathOptions): PathResult {
  const n = p.length;
  if (n === 0 || p.charCodeAt(0) !== SLASH) return NOT_ABSOLUTE;
  // Some servers (IIS, Windows file APIs, WHATWG URL for http) read '\' as '/'.
  if (p.indexOf('\\') !== -1) return BACKSLASH;
  const lower = options?.caseInsensitive === true;
  const allowSemicolons = options?.allowSemicolons === true;

  const segments: string[] = [];
  let trailingSlash = false;
  let segment = '';
  // Index in `segment` of the first ';' or '%3B'. Tomcat/Jetty strip ";…" before resolving dot
  // segments, so "..;x" is ".." to them (`/public/..;/admin` reaches /admin). '%3B' counts too:
  // an upstream that decodes before stripping would see the same traversal.
  let parametersAt = -1;
  let runStart = 1;
  const flushRun = (end: number): void => {
    if (end > runStart) {
      const run = p.slice(runStart, end);
      segment += lower ? run.toLowerCase() : run;
    }
  };

  for (let i = 1; i <= n; ) {
    const c = i < n ? p.charCodeAt(i) : SLASH;
    if (c < 128 && CLASS[c] !== 0) {
      i++;
      continue;
    }
    if (c === SEMI) {
      if (!allowSemicolons) return SEMICOLON;
      if (parametersAt === -1) parametersAt = segment.length + (i - runStart);
      i++;
      continue;
    }
    flushRun(i);
    if (c === SLASH) {
      if (segment === '') {
        // Repeated slashes are merged; a final empty segment is the trailing slash.
        trailingSlash = true;
      } else if (parametersAt !== -1 && isDotName(segment.slice(0, parametersAt))) {
        return DOT_PARAMETERS;
      } else if (segment === '.') {
        trailingSlash = true;
      } else if (segment === '..') {
        // Clamping at the root (RFC 3986 §5.2.4) would hide an attack; refuse it instead.
        if (segments.length === 0) return ESCAPES_ROOT;
        segments.pop();
        trailingSlash = true;
      } else {
        segments.push(segment);
        trailingSlash = false;
      }
      segment = '';
      parametersAt = -1;
      i++;
    } else if (c === PERCENT) {
      const hi = i + 2 < n ? hexValue(p.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < n ? hexValue(p.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0) return INVALID_PERCENT;
      const b = hi * 16 + lo;
      const refused = refusedByte(b);
      if (refused !== undefined) return refused;
      if (b < 128 && (CLASS[b]! & UNRESERVED) !== 0) {
        // Decoded exactly once: "%252e" yields "%25" + "2e", never '.'.
        segment += String.fromCharCode(lower && (CLASS[b]! & UPPER) !== 0 ? b | 0x20 : b);
      } else {
        if (b === SEMI && parametersAt === -1) parametersAt = segment.length;
        segment += ESCAPE[b]!;
      }
      i += 3;
    } else if (c < 0x20 || c === 0x7f) {
      return CONTROL;
    } else if (c < 128) {
      // Space, '"', '<', '>', '[', ']', '^', '`', '{', '|', '}', '?', '#': not pchar.
      segment += ESCAPE[c]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = p.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return INVALID_CHARACTER;
      segment += utf8Escape(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
      i += 2;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      // A lone surrogate has no UTF-8 encoding.
      return INVALID_CHARACTER;
    } else {
      segment += utf8Escape(c);
      i++;
    }
    runStart = i;
  }

  if (segments.length === 0) return { ok: true, path: '/' };
  const path = '/' + segments.join('/') + (trailingSlash ? '/' : '');
  // "%252f" decodes once to "%2f" and twice to "/": an upstream (or a framework layer) that
  // decodes twice would see a separator or dot segment the gateway never matched.
  if (path.includes('%25') && DOUBLE_ENCODED_SEPARATOR.test(path)) return DOUBLE_ENCODED;
  return { ok: true, path };
}

const DOUBLE_ENCODED_SEPARATOR = /%25(?:25)*(?:2[fFeE]|5[cC]|00)/;
const DOUBLE_ENCODED: PathResult = Object.freeze({ ok: false, reason: 'double-encoded separator' });

/**
 * Normalizes an origin-form path (without query). Rules, in order: absolute; no raw '\';
 * percent-escapes decoded once for unreserved characters, upper-cased otherwise, refused for
 * '/', '\' and controls; characters outside pchar encoded as UTF-8; ';' refused unless allowed,
 * and never hiding a dot segment; repeated slashes merged; dot segments removed after decoding,
 * refused when they climb above the root; optional ASCII lower-casing; trailing slash kept.
 */
export function normalizePath(pathname: string, options?: PathOptions): PathResult {
  if (isCleanPath(pathname, options)) return { ok: true, path: pathname };
  return normalizePathSlow(pathname, options);
}
