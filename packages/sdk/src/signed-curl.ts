/**
 * `signedCurl`: a copy-pasteable curl command carrying a valid HMAC signature (what
 * `portcullis sign` prints). Kept apart from the signer: it is about shells and curl's habits.
 */
import { type BuildHmacOptions, bodyBytes, buildHmacAuthorization } from './hmac.js';

export interface SignedCurlOptions extends Omit<BuildHmacOptions, 'target'> {
  /** `http(s)://host[:port]/path?query`; the path and query are signed and sent as given. */
  url: string;
  headers?: Readonly<Record<string, string>>;
}

/** POSIX shell single-quoting: the only character that needs care inside '…' is ' itself. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const URL_PATTERN = /^(https?:\/\/)([^/?#]+)([^#]*)(?:#.*)?$/i;
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5 field value: no CR, LF or NUL (header injection). */
const HEADER_VALUE_PATTERN = /^[^\r\n\0]*$/;
/** Headers curl must not receive from the caller: ours, and one that would cut or pad the body. */
const RESERVED_HEADERS = new Set(['authorization', 'content-length']);
/** Linux caps one argv string at 128 KiB (MAX_ARG_STRLEN); larger bodies go through stdin. */
const MAX_INLINE_BODY = 64 * 1024;

/**
 * The request target curl sends for `url`: path and query as given, fragment dropped,
 * `/` when the path is empty (RFC 9112 §3.2.1). Only visible ASCII is accepted, since curl
 * percent-encodes anything else and the signature would no longer match.
 */
export function curlTarget(url: string): string {
  if (typeof url !== 'string' || !/^[\x21-\x7e]+$/.test(url)) {
    throw new TypeError('url must be visible ASCII without spaces (percent-encode the rest)');
  }
  const match = URL_PATTERN.exec(url);
  if (match === null) throw new TypeError('url must be an absolute http:// or https:// URL');
  const [, , authority = '', rest = ''] = match;
  // curl would turn user:pass@ into its own Authorization header, clashing with ours.
  if (authority.includes('@')) throw new TypeError('url must not carry credentials (user:password@)');
  if (rest === '') return '/';
  return rest.startsWith('?') ? `/${rest}` : rest;
}

function printfLiteral(bytes: Uint8Array): string {
  // printf's format string: % and \ are special, so escape them; everything outside
  // printable ASCII (and the quote) becomes a 3-digit octal escape, which bash, dash and
  // zsh all decode to that exact byte, NUL included. A leading '-' is escaped too, or printf
  // would read the body as an option.
  let out = '';
  for (const [i, byte] of bytes.entries()) {
    if (byte === 0x25) out += '%%';
    else if (byte === 0x2d && i === 0) out += '\\055';
    else if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f && byte !== 0x27) out += String.fromCharCode(byte);
    else out += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return `'${out}'`;
}

function inlineText(bytes: Uint8Array): string | undefined {
  // An argv string cannot hold NUL, `--data-binary @x` would read file x, and invalid UTF-8
  // cannot be pasted into a terminal faithfully: those bodies go through stdin instead.
  if (bytes.length > MAX_INLINE_BODY || bytes.includes(0) || bytes[0] === 0x40) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A copy-pasteable curl command that sends exactly what it signs: `-g` stops curl globbing
 * `[]{}` in the URL and `--path-as-is` stops it removing `/./` and `/../`, either of which
 * would change the target after signing.
 */
export function signedCurl(options: SignedCurlOptions): string {
  const target = curlTarget(options.url);
  const body = options.body === undefined ? undefined : bodyBytes(options.body, 'body');
  const { header } = buildHmacAuthorization({ ...options, target, body: body ?? new Uint8Array(0) });
  const method = options.method;

  const args = ['curl', '-sS', '-g', '--path-as-is'];
  // curl -X HEAD would wait for a body that never comes; --head sends HEAD and stops at headers.
  args.push(...(method === 'HEAD' ? ['--head'] : ['-X', shellQuote(method)]));
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (!HEADER_NAME_PATTERN.test(name)) throw new TypeError(`headers: "${name}" is not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase()))
      throw new TypeError(`headers: ${name} is set by signedCurl`);
    if (typeof value !== 'string' || !HEADER_VALUE_PATTERN.test(value)) {
      throw new TypeError(`headers.${name} must be a string without CR, LF or NUL`);
    }
    args.push('-H', shellQuote(`${name}: ${value}`));
  }
  args.push('-H', shellQuote(`Authorization: ${header}`));

  let stdin = '';
  if (body !== undefined) {
    const text = inlineText(body);
    if (text === undefined) {
      stdin = `printf ${printfLiteral(body)} | `;
      args.push('--data-binary', '@-');
    } else {
      args.push('--data-binary', shellQuote(text));
    }
  }
  args.push('--url', shellQuote(options.url));
  return stdin + args.join(' ');
}
