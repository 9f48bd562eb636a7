/**
 * The identity headers an upstream (gateway mode) or a proxy (forward-auth mode) receives
 * (PRODUCT.md §5). Inbound copies are always removed first (headers.ts), so an upstream can
 * trust them. Values come from our own records (client names are validated at creation) or
 * from JWT claims, which an identity provider could fill with anything: a value that is not
 * plain visible ASCII is percent-encoded, so no claim can inject a header line.
 */
import type { Principal } from '../pipeline/types.js';

const PLAIN = /^[\x20-\x7e]*$/;

export function headerSafe(value: string): string {
  return PLAIN.test(value) ? value : encodeURIComponent(value);
}

/**
 * Flat [name, value, …] list. With `aliases`, API Gatekeeper's names (X-Client-ID,
 * X-Client-Name, X-Route-ID) are sent too (setting `identity_header_aliases`: off by default,
 * since every header costs every upstream request).
 */
export function identityHeaders(principal: Principal, routeId: string, aliases: boolean): string[] {
  const out: string[] = [];
  pushIdentityHeaders(out, principal, routeId, aliases);
  return out;
}

const IDENTITY_NAMES = [
  'x-portcullis-client-id',
  'x-portcullis-client-name',
  'x-portcullis-key-id',
  'x-portcullis-user-id',
  'x-portcullis-scopes',
];
const ALIAS_NAMES = ['x-client-id', 'x-client-name'];

/**
 * For forward-auth answers: every identity header, empty when unknown. A proxy that copies
 * only the headers present in the answer (Envoy's allowed_upstream_headers) would otherwise
 * let a client's own forged copy through for anonymous or client-less callers.
 */
export function completeIdentityHeaders(principal: Principal, routeId: string, aliases: boolean): string[] {
  const out = identityHeaders(principal, routeId, aliases);
  const present = new Set<string>();
  for (let i = 0; i < out.length; i += 2) present.add(out[i] as string);
  for (const name of aliases ? [...IDENTITY_NAMES, ...ALIAS_NAMES] : IDENTITY_NAMES)
    if (!present.has(name)) out.push(name, '');
  return out;
}

/** Append the identity headers to a flat header list (no intermediate array on the hot path). */
export function pushIdentityHeaders(
  out: string[],
  principal: Principal,
  routeId: string,
  aliases: boolean,
): void {
  out.push('x-portcullis-route-id', routeId);
  if (aliases) out.push('x-route-id', routeId);
  if (principal.kind === 'anonymous') return;
  if (principal.clientId !== undefined) {
    const id = headerSafe(principal.clientId);
    out.push('x-portcullis-client-id', id);
    if (aliases) out.push('x-client-id', id);
  }
  if (principal.clientName !== undefined) {
    const name = headerSafe(principal.clientName);
    out.push('x-portcullis-client-name', name);
    if (aliases) out.push('x-client-name', name);
  }
  if (principal.keyId !== undefined) out.push('x-portcullis-key-id', principal.keyId);
  if (principal.userId !== undefined) out.push('x-portcullis-user-id', headerSafe(principal.userId));
  if (principal.scopes.length > 0) out.push('x-portcullis-scopes', headerSafe(principal.scopes.join(' ')));
}

/** The query string without the API-key parameter (when the key came from the URL). */
export function withoutQueryParam(query: string, name: string): string {
  if (query.length < 2) return query;
  const kept = query
    .slice(1)
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      return (eq === -1 ? pair : pair.slice(0, eq)) !== name;
    });
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}
