/**
 * Hop-by-hop headers describe one connection, not the message, and must not be forwarded
 * (RFC 9110 §7.6.1; `keep-alive`, `proxy-connection` and `transfer-encoding` added because
 * forwarding them enables request smuggling against the next hop).
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Header names listed in Connection (comma-separated, any number of header lines), trimmed and
 * lower-cased; empty list elements are skipped (RFC 9110 §5.6.1).
 *
 * Strip these from the incoming message BEFORE the gateway adds its own headers: a client
 * sending `Connection: x-forwarded-for` must not be able to remove what the gateway sets.
 */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  if (typeof value === 'string') addTokens(value, tokens);
  else for (const line of value) addTokens(line, tokens);
  return tokens;
}

/**
 * Headers named in Connection beyond the hop-by-hop set, or undefined when there are none —
 * the common `Connection: keep-alive` / `close` costs no Set on the hot path.
 */
export function extraConnectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    const lower = value.length <= 10 ? value.toLowerCase() : '';
    if (lower === 'keep-alive' || lower === 'close' || lower === 'upgrade') return undefined;
  }
  const tokens = connectionTokens(value);
  for (const token of tokens) if (HOP_BY_HOP.has(token)) tokens.delete(token);
  return tokens.size === 0 ? undefined : tokens;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function addTokens(line: string, into: Set<string>): void {
  const n = line.length;
  let start = 0;
  while (start <= n) {
    let end = line.indexOf(',', start);
    if (end === -1) end = n;
    let a = start;
    let b = end;
    while (a < b && isOws(line.charCodeAt(a))) a++;
    while (b > a && isOws(line.charCodeAt(b - 1))) b--;
    if (b > a) into.add(line.slice(a, b).toLowerCase());
    start = end + 1;
  }
}
